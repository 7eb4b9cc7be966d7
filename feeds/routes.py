"""HTTP routes of the feeds package: feeds, archive pages, OPML and the home page.

URLs (page 1 is the subscription document; `{ext}` is rss, atom or json):
    /feeds/all.{ext}                      /feeds/all/page/{n}.{ext}
    /feeds/category/{slug}.{ext}          /feeds/category/{slug}/page/{n}.{ext}
    /feeds/tag/{tag}.{ext}                /feeds/tag/{tag}/page/{n}.{ext}
    /feeds.opml                           /
Terms are matched on the percent-decoded path, so /feeds/tag/%E6%B0%91%E7%94%9F.rss and
/feeds/tag/民生.rss name the same feed. A browser (Accept prefers text/html, names no feed
type) gets the feed's HTML view at the same URL; hence `Vary: Accept, Accept-Encoding`.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass

from aiohttp import hdrs, web

from feeds import html, polling
from feeds.catalog import FORMATS, Site, page_path
from feeds.follow import Follower, PageResponder
from feeds.lease import Election, announce
from feeds.metrics import FEED_CACHE_HITS
from feeds.model import PostSource
from feeds.polling import POLLS
from feeds.publish import Edition, OnChange, PageUnavailable, Publisher, ShareLinks
from feeds.serve import Prepared, prepare, respond, wants_html
from feeds.store import Document
from finews.core import hot
from finews.core.appkeys import SETTINGS
from finews.core.canned import Canned
from finews.core.errors import problem

PUBLISHER = web.AppKey("feeds_publisher", Publisher)
RETRY_AFTER = 5
MEMO_SIZE = 1024  # distinct repeat requests remembered per edition; then it starts over


class Memo:
    """Answers of the current edition by request, so that a reader polling the same feed
    with the same headers and validator gets its 304 (or 200) without routing, parsing the
    URL, choosing a coding or comparing validators again (a hot route: finews/core/hot.py).
    A new edition empties it. Each answer is kept with the name of the route it came from,
    which the request metrics count it under."""

    def __init__(self) -> None:
        self.edition: Edition | None = None
        self.answers: dict[tuple[str | None, ...], tuple[Canned, str]] = {}

    @staticmethod
    def key(request: web.Request) -> tuple[str | None, ...]:
        """The method, the path and the request headers an answer depends on."""
        get = request.headers.get  # spelled out, with aiohttp's istr names: a hot path
        return (
            request.method,
            request.path,
            get(hdrs.ACCEPT),
            get(hdrs.ACCEPT_ENCODING),
            get(hdrs.IF_NONE_MATCH),
            get(hdrs.IF_MODIFIED_SINCE),
        )

    def get(
        self, edition: Edition | None, key: tuple[str | None, ...]
    ) -> tuple[Canned, str] | None:
        if edition is not self.edition:
            self.edition, self.answers = edition, {}
            return None
        return self.answers.get(key)

    def put(self, edition: Edition, request: web.Request, answer: Prepared, route: str) -> None:
        """Remember the answer to `request`, serialised (finews/core/canned.py)."""
        if edition is self.edition:
            if len(self.answers) >= MEMO_SIZE:
                self.answers = {}
            canned = Canned(answer.status, answer.headers, answer.body, request.method)
            self.answers[self.key(request)] = (canned, route)

    def hot(
        self, publisher: Publisher, polls: polling.PollCounter
    ) -> Callable[[web.Request], tuple[web.StreamResponse, str] | None]:
        """The hot route of /feeds/: a remembered answer, counted as its route would."""

        def answer(request: web.Request) -> tuple[web.StreamResponse, str] | None:
            got = self.get(publisher.edition, self.key(request))
            if got is None:
                return None
            FEED_CACHE_HITS.inc()
            canned, route = got
            _count(polls, request, canned.status)
            return canned.response(request), route

        return answer


MEMO = web.AppKey("feeds_memo", Memo)


@dataclass(frozen=True, slots=True)
class Target:
    """What a feed URL asks for."""

    kind: str
    term: str
    fmt: str
    number: int

    def path(self, view: str) -> str:
        return page_path(self.kind, self.term, self.number, view)


def _site(request: web.Request) -> Site:
    return Site.from_settings(request.app[SETTINGS])


def _not_found(request: web.Request, message: str) -> web.Response:
    """404 saying what is missing and where the list of feeds is, as HTML or problem details."""
    site = _site(request)
    if wants_html(request.headers.get("Accept")):
        return web.Response(
            status=404,
            body=html.not_found(site, message),
            content_type="text/html",
            charset="utf-8",
        )
    return problem(
        404, "not_found", message, feeds=site.url + "/", opml=site.absolute("/feeds.opml")
    )


def _unavailable(
    message: str = "the feeds are being built for the first time; retry",
) -> web.Response:
    return problem(503, "unavailable", message, retry_after=RETRY_AFTER)


def _split_format(name: str) -> tuple[str, str] | None:
    base, dot, fmt = name.rpartition(".")
    return (base, fmt) if dot and base and fmt in FORMATS else None


def _target(request: web.Request) -> Target | str:
    """The Target of a feed URL, or a message saying why there is none."""
    info = request.match_info
    return _parse_target(
        info.get("kind", "all"), info.get("name"), info.get("term", ""), info.get("page")
    )


@functools.lru_cache(maxsize=4096)  # aggregators poll the same few hundred URLs all day
def _parse_target(kind: str, name: str | None, term: str, page: str | None) -> Target | str:
    number_ext = page if page is not None else name or ""
    parts = _split_format(number_ext)
    if parts is None:
        return f"feeds come as {', '.join('.' + fmt for fmt in FORMATS)}"
    head, fmt = parts
    if page is not None:
        if not (head.isascii() and head.isdigit() and len(head) < 10 and head[0] != "0"):
            return f"no page {head!r}: pages are numbered 2, 3, ..."
        return Target(kind, term, fmt, int(head))
    if kind == "all" and head != "all":
        return f"no feed {head!r}"
    return Target(kind, "" if kind == "all" else head, fmt, 1)


async def feed(request: web.Request) -> web.StreamResponse:
    """A feed or archive page; a repeat request is answered by Memo.hot before routing."""
    target = _target(request)
    if isinstance(target, str):
        return _not_found(request, target)
    settings = request.app[SETTINGS]
    if target.number == 1 and "page" in request.match_info:
        raise web.HTTPMovedPermanently(location=target.path(target.fmt))
    publisher = request.app[PUBLISHER]
    edition = await publisher.current(built=target.number > 1)
    if edition is None:
        return _unavailable()
    view = "html" if wants_html(request.headers.get("Accept")) else target.fmt
    doc = edition.docs.get(target.path(view))
    if doc is not None:
        FEED_CACHE_HITS.inc()
        answer = prepare(
            request, doc, max_age=settings.feeds.max_age, vary="Accept, Accept-Encoding"
        )
        resource = request.match_info.route.resource
        assert resource is not None  # `feed` is only ever a resource's route
        request.app[MEMO].put(edition, request, answer, resource.canonical)
        _count(request.app[POLLS], request, answer.status)
        return answer.response()
    if target.number > 1:
        try:
            doc = await _archive_document(edition, target, view)
        except PageUnavailable as exc:
            return _unavailable(f"{exc}; retry")
    if doc is None:
        return _not_found(request, _missing(edition, target))
    answer = prepare(request, doc, max_age=settings.feeds.max_age, vary="Accept, Accept-Encoding")
    _count(request.app[POLLS], request, answer.status)
    return answer.response()


def _count(polls: polling.PollCounter, request: web.Request, status: int) -> None:
    """Count the answer to a feed request in the feed's polling statistics."""
    polls.count(request.path, status, request.headers.get(hdrs.USER_AGENT))


async def _archive_document(edition: Edition, target: Target, view: str) -> Document | None:
    if edition.archive is None:
        return None
    docs = await edition.archive.documents(target.kind, target.term, target.number)
    return docs.get(target.path(view)) if docs else None


def _missing(edition: Edition, target: Target) -> str:
    label = "all posts" if target.kind == "all" else f"{target.kind} {target.term!r}"
    if Target(target.kind, target.term, target.fmt, 1).path(target.fmt) not in edition.docs:
        return f"no feed for {label}"
    return f"the feed of {label} has no page {target.number}"


async def _site_document(request: web.Request, path: str) -> web.StreamResponse:
    edition = await request.app[PUBLISHER].current()
    doc = edition.docs.get(path) if edition else None
    if doc is None:
        return _unavailable()
    return respond(request, doc, max_age=request.app[SETTINGS].feeds.max_age)


async def home(request: web.Request) -> web.StreamResponse:
    return await _site_document(request, "/")


async def opml(request: web.Request) -> web.StreamResponse:
    return await _site_document(request, "/feeds.opml")


def setup(
    app: web.Application,
    *,
    share_links: ShareLinks | None = None,
    on_change: OnChange | None = None,
) -> None:
    """Register the routes; a builder (`feeds.role`, or elected: feeds/lease.py) builds
    the feeds and watches posts.dir (`feeds.watch`), a follower serves what the builder
    stores in Redis.

    share_links(app, posts) -> {post.url: public share URL} is awaited before each build
    (for the posts that changed, on a live update).
    on_change(app, feed URL, new bytes, content type) is awaited in a background task for
    each subscription document whose bytes changed since the previous build (WebSub); only
    the builder calls it.
    """
    app[PUBLISHER] = Publisher(app, share_links=share_links, on_change=on_change)
    app[MEMO] = Memo()
    polling.setup(app)
    hot.routes(app).add("/feeds/", app[MEMO].hot(app[PUBLISHER], app[POLLS]))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        publisher, settings = app[PUBLISHER], app[SETTINGS].feeds
        if settings.role == "auto":
            publisher.spawn(Election(publisher, watch=settings.watch).run())
        elif settings.role == "follower":
            announce("follower", None, "setting")
            publisher.spawn(Follower(publisher).run())
        else:
            announce("builder", None, "setting")
            publisher.start(watch=settings.watch)
            publisher.spawn(PageResponder(publisher).run())
        yield
        await publisher.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", home)
    app.router.add_get("/feeds.opml", opml)
    app.router.add_get("/feeds/{name}", feed)
    app.router.add_get("/feeds/all/page/{page}", feed)
    app.router.add_get("/feeds/{kind:category|tag}/{name}", feed)
    app.router.add_get("/feeds/{kind:category|tag}/{term}/page/{page}", feed)


async def publish(
    app: web.Application, source: PostSource, touched: Collection[str] | None = None
) -> list[str]:
    """Rebuild the feeds from a new LoadResult (only those holding the `touched` post keys,
    when given); returns the URLs of the changed feeds."""
    return await app[PUBLISHER].publish(source, touched)
