"""Build every subscription document from loaded posts and swap the whole set in at once.

A request sees either the previous edition or the new one, never a mix and never a
half-built feed; while a build runs the previous bytes keep being served (no 503: some
readers back off the whole domain after one). A live update (a few posts added, changed or
removed) makes the next edition from the previous one: only the feeds that held those posts
are recomputed and re-rendered, so its cost follows the change, not the size of the site
(100,000 posts: a full build takes about 2 s; a new post about 0.1 s, most of it
rendering the four or so feeds it is in). Rendering runs in one dedicated thread:
feedgen's date formatting switches the process locale and is not thread-safe, and one
thread also keeps a PostSource's own resources (files, SQLite) on the thread that made them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web
from cachetools import LRUCache

from feeds import html
from feeds.catalog import FORMATS, VIEWS, Catalog, Feed, FeedKey, Site
from feeds.documents import Page, content_type, feed_documents, make_page, opml
from feeds.metrics import FEED_BUILD_SECONDS, FEED_CACHE_HITS, FEED_CACHE_MISSES
from feeds.model import Post, PostSource
from feeds.posts import LoadResult, load_posts
from feeds.store import Document, DocumentStore, Fenced
from feeds.watch import PostsWatcher
from finews.core.appkeys import CLOCK, REDIS_BYTES, SETTINGS
from finews.core.settings import Settings

log = logging.getLogger("finews.feeds")

T = TypeVar("T")
Dating = Callable[[Mapping[str, Document]], Awaitable[Mapping[str, Document]]]
ShareLinks = Callable[[web.Application, Sequence[Post]], Awaitable[Mapping[str, str]]]
OnChange = Callable[[web.Application, str, bytes, str], Awaitable[None]]


def page_documents(page: Page) -> dict[str, Document]:
    """One page in every format plus its HTML view, keyed by URL path."""
    now = page.site.clock.time()
    docs = {
        page.feed.page_path(page.number, fmt): Document.build(
            body, content_type(fmt), page.links_header(fmt), modified=now
        )
        for fmt, body in feed_documents(page).items()
    }
    docs[page.feed.page_path(page.number, "html")] = Document.build(
        html.feed_view(page), content_type("html"), modified=now
    )
    return docs


def render_feeds(
    site: Site, source: PostSource, shares: Mapping[str, str], feeds: Iterable[Feed]
) -> dict[str, Document]:
    """The subscription documents (page 1, every format and the HTML view) of `feeds`."""
    docs: dict[str, Document] = {}
    for feed in feeds:
        page = make_page(site, source, shares, feed, 1)
        assert page is not None  # page 1 always exists
        docs.update(page_documents(page))
    return docs


def site_documents(site: Site, catalog: Catalog) -> dict[str, Document]:
    """The OPML list and the home page."""
    now = site.clock.time()
    return {
        "/feeds.opml": Document.build(opml(site, catalog), content_type("opml"), modified=now),
        "/": Document.build(html.home(site, catalog), content_type("html"), modified=now),
    }


def render_edition(
    site: Site, source: PostSource, shares: Mapping[str, str]
) -> tuple[Catalog, dict[str, Document]]:
    """The catalog and every subscription document, the OPML list and the home page."""
    catalog = Catalog(site, source.posts())
    docs = render_feeds(site, source, shares, catalog)
    docs.update(site_documents(site, catalog))
    return catalog, docs


def _first_page_may_differ(
    before: Feed | None, after: Feed, replaced: Collection[str], per_page: int
) -> bool:
    """False when page 1 of `after` shows the same posts, unchanged, as `before` did, with
    the same page count (its paging links): then its bytes cannot have changed."""
    if before is None or before.page_count(per_page) != after.page_count(per_page):
        return True
    shown, showing = before.page_posts(1, per_page), after.page_posts(1, per_page)
    return len(shown) != len(showing) or any(
        old is not new or new.key in replaced for old, new in zip(shown, showing, strict=False)
    )


def render_revision(
    site: Site,
    source: PostSource,
    shares: Mapping[str, str],
    previous: Catalog,
    docs: Mapping[str, Document],
    changes: Mapping[str, Post | None],
) -> tuple[Catalog, dict[str, Document], set[FeedKey]]:
    """Like render_edition after the posts of `changes` (file key -> its post now, None
    for none) changed, re-rendering only the feeds that held one of them (and OPML and the
    home page when any did); the other documents are taken from `docs`. Returns the keys of
    the feeds touched too."""
    catalog, touched = previous.revised(site, source.posts(), changes)
    revised = dict(docs)
    for key in touched:
        before, after = previous.feeds.get(key), catalog.feeds.get(key)
        if after is None:
            assert before is not None  # a touched feed existed before or after
            for view in VIEWS:
                revised.pop(before.page_path(1, view), None)
        elif _first_page_may_differ(before, after, changes.keys(), site.items_per_feed):
            revised.update(render_feeds(site, source, shares, [after]))
    if touched:
        revised.update(site_documents(site, catalog))
    return catalog, revised, touched


class Pager:
    """Pages 2 and later of one edition: rendered on first request, kept in a bounded LRU."""

    def __init__(
        self,
        site: Site,
        catalog: Catalog,
        source: PostSource,
        shares: Mapping[str, str],
        render: Callable[..., Awaitable[Any]],
        capacity: int,
        *,
        dating: Dating,
        keep_from: Pager | None = None,
        touched: Collection[FeedKey] = (),
    ) -> None:
        """`dating`: gives a rendered page's documents the dates of the same bytes
        rendered before (Last-Modified). `keep_from`: the previous edition's pager, whose
        pages of feeds not `touched` are still right and are kept."""
        self.site, self.catalog, self.source, self.shares = site, catalog, source, shares
        self._render = render
        self._dating = dating
        # LRUCache needs room for one page: with no room (capacity 0) nothing is kept.
        self._pages: LRUCache[tuple[str, str, int], dict[str, Document]] | None = (
            LRUCache(maxsize=capacity) if capacity else None
        )
        self._pending: dict[tuple[str, str, int], asyncio.Task[dict[str, Document]]] = {}
        if keep_from is not None and keep_from._pages and self._pages is not None:
            self._pages.update(
                (key, docs) for key, docs in keep_from._pages.items() if key[:2] not in touched
            )

    async def documents(self, kind: str, term: str, number: int) -> Mapping[str, Document] | None:
        """The page's documents by URL path; None past the end or for no such feed."""
        feed = self.catalog.get(kind, term)
        if feed is None or not 2 <= number <= feed.page_count(self.site.items_per_feed):
            return None
        key = (feed.kind, feed.term, number)
        kept = self._pages.get(key) if self._pages is not None else None
        if kept is not None:
            FEED_CACHE_HITS.inc()
            return kept
        FEED_CACHE_MISSES.inc()
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._build(feed, number))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(task)

    async def _build(self, feed: Feed, number: int) -> dict[str, Document]:
        def render() -> dict[str, Document]:
            page = make_page(self.site, self.source, self.shares, feed, number)
            assert page is not None  # the range was checked by documents()
            return page_documents(page)

        docs = dict(await self._dating(await self._render(render)))
        if self._pages is not None:
            self._pages[(feed.kind, feed.term, number)] = docs
        return docs

    def close(self) -> None:
        for task in self._pending.values():
            task.cancel()


class PageUnavailable(Exception):
    """An archive page cannot be had now (a follower whose builder did not answer)."""


class Archive(Protocol):
    """Pages 2 and later: rendered here (Pager) or asked of the builder (a follower)."""

    async def documents(self, kind: str, term: str, number: int) -> Mapping[str, Document] | None:
        """The page's documents by URL path; None past the end or for no such feed."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Edition:
    """One consistent set of documents; replaced whole, never changed in place."""

    docs: Mapping[str, Document]  # URL path -> subscription documents, views, OPML, home page
    archive: Archive | None  # None while restored from Redis before the first build


class Publisher:
    """Owns the current edition of one process: builds, swaps, stores and announces it."""

    def __init__(
        self,
        app: web.Application,
        *,
        share_links: ShareLinks | None = None,
        on_change: OnChange | None = None,
    ) -> None:
        self.app = app
        self.edition: Edition | None = None
        self._share_links = share_links
        self._on_change = on_change
        self._lock = asyncio.Lock()
        self._served = asyncio.Event()  # some documents can be served
        self._built = asyncio.Event()  # archive pages can be served too
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feeds-render")
        self._tasks: set[asyncio.Task[None]] = set()
        self._redis_stale = False  # a write failed: the next build writes everything
        self.version: int | None = None  # of the last build stored in Redis
        # The builder lease's fencing token while this process holds it (feeds/lease.py);
        # None: unfenced writes (`feeds.role = "builder"`).
        self.epoch: int | None = None
        self.deposed = asyncio.Event()  # a store was refused: a newer builder took over

    @property
    def settings(self) -> Settings:
        return self.app[SETTINGS]

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the render thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def current(self, *, built: bool = False) -> Edition | None:
        """The current edition, waiting (bounded) for the first one; None if none came."""
        event = self._built if built else self._served
        if not event.is_set():
            try:
                await asyncio.wait_for(event.wait(), self.settings.feeds.first_build_wait)
            except TimeoutError:
                return None
        return self.edition

    def adopt(self, docs: Mapping[str, Document], archive: Archive | None = None) -> None:
        """Serve documents built elsewhere (read from Redis): swapped in whole."""
        self.edition = Edition(docs, archive)
        self._served.set()
        if archive is not None:
            self._built.set()

    async def restore(self) -> None:
        """Serve the previous build from Redis while the first build of this process runs."""
        store = DocumentStore(self.app[REDIS_BYTES])
        try:
            version, etags = await store.snapshot()
            docs = await store.documents(etags)
        except Exception as exc:  # Redis down: the first build will serve from memory
            log.warning("event=feeds_restore_failed error=%r", exc)
            return
        if docs and self.edition is None:
            self.adopt(docs)
            self.version = version  # a first build that changes nothing keeps it
            log.info("event=feeds_restored version=%d documents=%d", version, len(docs))

    async def build_from_disk(self) -> LoadResult:
        """Load the posts on the render thread, then publish them."""
        started = time.monotonic()
        result = await self.run(load_posts, self.settings)
        log.info(
            "event=posts_loaded posts=%d problems=%d seconds=%.2f",
            len(result.posts()),
            len(result.problems),
            time.monotonic() - started,
        )
        await self.publish(result)
        return result

    async def publish(
        self, source: PostSource, touched: Collection[str] | None = None
    ) -> list[str]:
        """Build from `source`, swap it in, store it; returns the changed subscription URLs.

        `touched`: the keys of the posts added, changed or removed since the previous
        publish of the same source (LoadResult.update's answer). Then only the feeds that
        held one of them are rebuilt; None (or no earlier build here) rebuilds everything.
        """
        async with self._lock:
            started = time.monotonic()
            site = Site.from_settings(self.settings, self.app[CLOCK])
            previous = self.edition
            pager = previous.archive if previous else None
            pager = pager if isinstance(pager, Pager) else None
            if touched is None or pager is None or previous is None:
                shares = await self._shares(source.posts())
                catalog, docs = await self.run(render_edition, site, source, shares)
                feeds = set(catalog.feeds)
            else:
                changes = {key: source.post(key) for key in touched}
                new = [post for post in changes.values() if post is not None]
                shares = {**pager.shares, **await self._shares(new)} if new else pager.shares
                catalog, docs, feeds = await self.run(
                    render_revision, site, source, shares, pager.catalog, previous.docs, changes
                )
            before = previous.docs if previous else {}
            # A document whose bytes did not change stays as it was, validators included;
            # new bytes are dated after the bytes they replace.
            docs = {path: doc.after(before.get(path)) for path, doc in docs.items()}
            changed = [path for path, doc in docs.items() if before.get(path) is not doc]
            removed = [path for path in before if path not in docs]
            subscriptions = frozenset(feed.page_path(1, fmt) for feed in catalog for fmt in FORMATS)
            self.edition = Edition(
                docs,
                Pager(  # the swap
                    site,
                    catalog,
                    source,
                    shares,
                    self.run,
                    self.settings.feeds.archive_cache,
                    dating=self._date_pages,
                    keep_from=pager if touched is not None else None,
                    touched=feeds,
                ),
            )
            self._served.set()
            self._built.set()
            seconds = time.monotonic() - started
            FEED_BUILD_SECONDS.observe(seconds)
            log.info(
                "event=feeds_built feeds=%d touched=%d documents=%d changed=%d removed=%d"
                " seconds=%.2f",
                len(catalog.feeds),
                len(feeds),
                len(docs),
                len(changed),
                len(removed),
                seconds,
            )
            stored = await self._store(docs, changed, removed)
            updates = [path for path in changed if path in subscriptions]
            if self._on_change and updates and stored:
                self.spawn(self._announce(site, docs, updates))
            return [site.absolute(path) for path in updates]

    async def _shares(self, posts: Sequence[Post]) -> Mapping[str, str]:
        if self._share_links is None:
            return {}
        try:
            return dict(await self._share_links(self.app, posts))
        except Exception as exc:  # feeds without share links beat no feeds
            log.error("event=share_links_failed posts=%d error=%r", len(posts), exc)
            return {}

    async def _date_pages(self, docs: Mapping[str, Document]) -> Mapping[str, Document]:
        """Archive page documents dated through Redis; dated now when Redis fails (a
        later date costs readers a download, never an update)."""
        try:
            return await DocumentStore(self.app[REDIS_BYTES]).dated(docs)
        except Exception as exc:
            log.warning("event=page_dates_failed page=%s error=%r", next(iter(docs), ""), exc)
            return docs

    async def _store(
        self, docs: Mapping[str, Document], changed: Sequence[str], removed: Sequence[str]
    ) -> bool:
        """Write the edition to Redis; False when it was refused (fenced) or failed."""
        if self._redis_stale:
            changed = list(docs)
        if not changed and not removed:
            return True
        try:
            version = await DocumentStore(self.app[REDIS_BYTES]).save(
                docs, changed, removed, epoch=self.epoch
            )
        except Fenced as exc:  # a newer builder stored its edition: never overwrite it
            self.deposed.set()
            log.warning("event=feeds_store_fenced epoch=%s reason=%s", self.epoch, exc)
            return False
        except Exception as exc:  # memory still serves; the next build writes everything
            self._redis_stale = True
            self.version = None
            log.error("event=feeds_store_failed documents=%d error=%r", len(changed), exc)
            return False
        self._redis_stale = False
        self.version = version
        log.info(
            "event=feeds_stored version=%d written=%d deleted=%d epoch=%s",
            version,
            len(changed),
            len(removed),
            self.epoch,
        )
        return True

    async def _announce(
        self, site: Site, docs: Mapping[str, Document], paths: Sequence[str]
    ) -> None:
        assert self._on_change is not None
        for path in paths:
            doc = docs[path]
            try:
                await self._on_change(self.app, site.absolute(path), doc.body, doc.content_type)
            except Exception as exc:  # one failing hook call must not stop the others
                log.error("event=feed_change_hook_failed url=%s error=%r", site.absolute(path), exc)

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run `coro` in the background until close()."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self, *, watch: bool) -> None:
        """Build in the background until close(): see building()."""
        self.spawn(self.building(watch=watch))

    async def building(self, *, watch: bool) -> None:
        """Be the builder until cancelled: restore from Redis, build from the posts directory
        and, with `watch`, publish each change to posts.dir as it happens. Cancelled when
        the builder lease is lost (feeds/lease.py).

        The watcher starts first, so that a change made while the posts load is applied
        once they are (an update of a file the load already saw changes nothing).
        """
        loaded: asyncio.Future[LoadResult] = asyncio.get_running_loop().create_future()

        async def apply(paths: Collection[Path]) -> None:
            result = await loaded
            started = time.monotonic()
            touched = await self.run(result.update, paths, ())
            if touched:
                await self.publish(result, touched)
                log.info(
                    "event=live_update files=%d posts=%d seconds=%.3f",
                    len(paths),
                    len(touched),
                    time.monotonic() - started,
                )

        async def first_build() -> None:
            await self.restore()
            try:
                loaded.set_result(await self.build_from_disk())
            except Exception:  # logged with its trace; the previous edition keeps serving
                log.exception("event=feeds_build_failed")

        async with asyncio.TaskGroup() as group:
            if watch:
                posts_dir = Path(self.settings.posts.dir)
                debounce = self.settings.feeds.watch_debounce
                group.create_task(PostsWatcher(posts_dir, debounce, apply).run())
            group.create_task(first_build())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.edition and self.edition.archive:
            self.edition.archive.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
