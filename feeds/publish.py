"""Build every subscription document from loaded posts and swap the whole set in at once.

A request sees either the previous edition or the new one, never a mix and never a
half-built feed; while a build runs the previous bytes keep being served (no 503: some
readers back off the whole domain after one). Rendering runs in one dedicated thread:
feedgen's date formatting switches the process locale and is not thread-safe, and one
thread also keeps a PostSource's own resources (files, SQLite) on the thread that made them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from feeds import html
from feeds.cache import Document, DocumentStore
from feeds.catalog import FORMATS, Catalog, Feed, Site
from feeds.documents import EMPTY_FEED_DATE, Page, content_type, feed_documents, make_page, opml
from feeds.model import Post, PostSource
from feeds.posts import load_posts
from finews.appkeys import REDIS_BYTES, SETTINGS
from finews.settings import Settings

log = logging.getLogger("finews.feeds")

T = TypeVar("T")
ShareLinks = Callable[[web.Application, Sequence[Post]], Awaitable[Mapping[str, str]]]
OnChange = Callable[[web.Application, str, bytes, str], Awaitable[None]]


def page_documents(page: Page) -> dict[str, Document]:
    """One page in every format plus its HTML view, keyed by URL path."""
    docs = {page.feed.page_path(page.number, fmt): Document.build(
                body, content_type(fmt), page.updated, page.links_header(fmt))
            for fmt, body in feed_documents(page).items()}
    docs[page.feed.page_path(page.number, "html")] = Document.build(
        html.feed_view(page), content_type("html"), page.updated)
    return docs


def render_edition(site: Site, source: PostSource,
                   shares: Mapping[str, str]) -> tuple[Catalog, dict[str, Document]]:
    """The catalog and every subscription document, the OPML list and the index page."""
    catalog = Catalog(site, source.posts())
    docs: dict[str, Document] = {}
    newest = EMPTY_FEED_DATE
    for feed in catalog:
        page = make_page(site, source, shares, feed, 1)
        assert page is not None  # page 1 always exists
        newest = max(newest, page.updated)
        docs.update(page_documents(page))
    docs["/feeds.opml"] = Document.build(opml(site, catalog), content_type("opml"), newest)
    docs["/"] = Document.build(html.index(site, catalog), content_type("html"), newest)
    return catalog, docs


class Pager:
    """Pages 2 and later of one edition: rendered on first request, kept in a bounded LRU."""

    def __init__(self, site: Site, catalog: Catalog, source: PostSource,
                 shares: Mapping[str, str], render: Callable[..., Awaitable[Any]],
                 capacity: int) -> None:
        self.site, self.catalog, self.source, self.shares = site, catalog, source, shares
        self._render = render
        self._capacity = capacity
        self._pages: OrderedDict[tuple[str, str, int], dict[str, Document]] = OrderedDict()
        self._pending: dict[tuple[str, str, int], asyncio.Task[dict[str, Document]]] = {}

    async def documents(self, feed: Feed, number: int) -> Mapping[str, Document] | None:
        """The page's documents by URL path; None past the end."""
        if not 2 <= number <= feed.page_count(self.site.items_per_feed):
            return None
        key = (feed.kind, feed.term, number)
        if key in self._pages:
            self._pages.move_to_end(key)
            return self._pages[key]
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

        docs = await self._render(render)
        if self._capacity:
            self._pages[(feed.kind, feed.term, number)] = docs
            while len(self._pages) > self._capacity:
                self._pages.popitem(last=False)
        return docs

    def close(self) -> None:
        for task in self._pending.values():
            task.cancel()


@dataclass(frozen=True, slots=True)
class Edition:
    """One consistent set of documents; replaced whole, never changed in place."""

    docs: Mapping[str, Document]     # URL path -> subscription documents, views, OPML, index
    pager: Pager | None              # None while the documents come from Redis, posts unloaded


class Publisher:
    """Owns the current edition of one process: builds, swaps, stores and announces it."""

    def __init__(self, app: web.Application, *, share_links: ShareLinks | None = None,
                 on_change: OnChange | None = None) -> None:
        self.app = app
        self.edition: Edition | None = None
        self._share_links = share_links
        self._on_change = on_change
        self._lock = asyncio.Lock()
        self._served = asyncio.Event()       # some documents can be served
        self._built = asyncio.Event()        # documents built from posts in this process
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feeds-render")
        self._tasks: set[asyncio.Task[None]] = set()
        self._redis_stale = False            # a write failed: the next build writes everything

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

    async def restore(self) -> None:
        """Serve the previous build from Redis while the first build of this process runs."""
        try:
            docs = await DocumentStore(self.app[REDIS_BYTES]).load()
        except Exception as exc:  # Redis down: the first build will serve from memory
            log.warning("event=feeds_restore_failed error=%r", exc)
            return
        if docs and self.edition is None:
            self.edition = Edition(docs, None)
            self._served.set()
            log.info("event=feeds_restored documents=%d", len(docs))

    async def build_from_disk(self) -> None:
        """Load the posts on the render thread, then publish them."""
        started = time.monotonic()
        result = await self.run(load_posts, self.settings)
        log.info("event=posts_loaded posts=%d problems=%d seconds=%.2f",
                 len(result.posts()), len(result.problems), time.monotonic() - started)
        await self.publish(result)

    async def publish(self, source: PostSource) -> list[str]:
        """Build from `source`, swap it in, store it; returns the changed subscription URLs."""
        async with self._lock:
            started = time.monotonic()
            site = Site.from_settings(self.settings)
            shares = await self._shares(source.posts())
            catalog, docs = await self.run(render_edition, site, source, shares)
            previous = self.edition.docs if self.edition else {}
            changed = [path for path, doc in docs.items()
                       if path not in previous or previous[path].etag != doc.etag]
            removed = [path for path in previous if path not in docs]
            subscriptions = frozenset(feed.page_path(1, fmt) for feed in catalog
                                      for fmt in FORMATS)
            pager = Pager(site, catalog, source, shares, self.run,
                          self.settings.feeds.archive_cache)
            self.edition = Edition(docs, pager)    # the swap
            self._served.set()
            self._built.set()
            log.info("event=feeds_built feeds=%d documents=%d changed=%d removed=%d seconds=%.2f",
                     len(catalog.feeds), len(docs), len(changed), len(removed),
                     time.monotonic() - started)
            await self._store(docs, changed, removed)
            updates = [path for path in changed if path in subscriptions]
            if self._on_change and updates:
                self._background(self._announce(site, docs, updates))
            return [site.absolute(path) for path in updates]

    async def _shares(self, posts: Sequence[Post]) -> Mapping[str, str]:
        if self._share_links is None:
            return {}
        try:
            return dict(await self._share_links(self.app, posts))
        except Exception as exc:  # feeds without share links beat no feeds
            log.error("event=share_links_failed posts=%d error=%r", len(posts), exc)
            return {}

    async def _store(self, docs: Mapping[str, Document], changed: Sequence[str],
                     removed: Sequence[str]) -> None:
        if self._redis_stale:
            changed = list(docs)
        if not changed and not removed:
            return
        try:
            version = await DocumentStore(self.app[REDIS_BYTES]).save(docs, changed, removed)
        except Exception as exc:  # memory still serves; the next build writes everything
            self._redis_stale = True
            log.error("event=feeds_store_failed documents=%d error=%r", len(changed), exc)
            return
        self._redis_stale = False
        log.info("event=feeds_stored version=%d written=%d deleted=%d",
                 version, len(changed), len(removed))

    async def _announce(self, site: Site, docs: Mapping[str, Document],
                        paths: Sequence[str]) -> None:
        assert self._on_change is not None
        for path in paths:
            doc = docs[path]
            try:
                await self._on_change(self.app, site.absolute(path), doc.body, doc.content_type)
            except Exception as exc:  # one failing hook call must not stop the others
                log.error("event=feed_change_hook_failed url=%s error=%r",
                          site.absolute(path), exc)

    def _background(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        """Restore from Redis, then build from the posts directory, in the background."""
        async def first_build() -> None:
            await self.restore()
            try:
                await self.build_from_disk()
            except Exception:  # logged with its trace; the previous edition keeps serving
                log.exception("event=feeds_build_failed")

        self._background(first_build())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.edition and self.edition.pager:
            self.edition.pager.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
