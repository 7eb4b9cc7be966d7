"""Answer a request from a built Document: content coding, conditional GET, headers.

RFC 9110 §13.2.2: If-None-Match, when present, decides alone (weak comparison, lists, `*`);
only without it does If-Modified-Since count, and it matches when the document is not newer
than the date sent, not only on an exact match; that is safe because a document's date is
when its bytes changed, later than any date sent with older bytes (feeds/store.py). A 304
carries the same validators and cache headers as a 200, but not the Link header (WebSub
and self discovery): RFC 9110 §15.4.5 asks a 304 to carry only what guides a cache
update, and an aggregator polling all day gets about 150 bytes less per poll.
Each content coding has its own strong ETag (`"h"`, `"h-gzip"`, `"h-br"`), and any of them
(weak or not) matches every coding of the same bytes, so a client that got the gzip twin
still gets its 304.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict

from feeds.store import Document

CODINGS = ("br", "gzip")  # preferred first when the client rates them equally
FEED_TYPES = {
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/rdf+xml",
}
HTML_TYPES = ("text/html", "application/xhtml+xml")


def qvalues(header: str) -> dict[str, float]:
    """An Accept or Accept-Encoding header as {lower-case name: q}."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, *params = part.split(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        out[name] = max(q, out.get(name, 0.0))
    return out


# Readers repeat the same few header strings: parse each once, not on every request.
@functools.lru_cache(maxsize=512)
def choose_coding(accept_encoding: str | None) -> str:
    """br, gzip or identity: the best coding the client accepts at all."""
    if not accept_encoding:
        return "identity"
    q = qvalues(accept_encoding)
    star = q.get("*", 0.0)
    best = max(CODINGS, key=lambda coding: q.get(coding, star))
    return best if q.get(best, star) > 0 else "identity"


@functools.lru_cache(maxsize=512)
def wants_html(accept: str | None) -> bool:
    """A browser: prefers HTML and names no feed type (readers name one, or send */*)."""
    if not accept:
        return False
    q = qvalues(accept)
    if FEED_TYPES & q.keys():
        return False
    html_q = max(q.get(name, 0.0) for name in HTML_TYPES)
    return html_q > 0 and html_q >= max(q.values())


def _base(tag: str) -> str:
    """An entity-tag's value without a content-coding suffix."""
    for coding in CODINGS:
        if tag.endswith(f"-{coding}"):
            return tag[: -len(coding) - 1]
    return tag


def not_modified(request: web.Request, doc: Document, sent_etag: str) -> bool:
    raw = request.headers.get("If-None-Match")
    if raw is not None:
        if raw == sent_etag:  # the usual case: a reader sends back the tag it was given
            return True
        own = doc.etag.strip('"')
        return any(
            tag.value == "*" or _base(tag.value) == own for tag in request.if_none_match or ()
        )
    since = request.if_modified_since
    return since is not None and doc.modified <= since.timestamp()


@dataclass(frozen=True, slots=True)
class Prepared:
    """The parts of an answer: sent as an aiohttp Response, or canned to answer the same
    request again (feeds/routes.py, finews/core/canned.py).

    The headers are kept as a CIMultiDict: aiohttp copies them into each Response, and a
    copy of a CIMultiDict is cheaper than building one from a dict (about 0.4 µs of 1.7)."""

    status: int
    body: bytes | None
    headers: CIMultiDict[str]

    def response(self) -> web.Response:
        return web.Response(status=self.status, body=self.body, headers=self.headers)


def prepare(
    request: web.Request, doc: Document, *, max_age: int, vary: str = "Accept-Encoding"
) -> Prepared:
    """200 with the best coding, or 304; the same validators and cache headers on both."""
    coding = choose_coding(request.headers.get("Accept-Encoding"))
    body, etag = doc.coded(coding)
    headers = {
        "ETag": etag,
        "Last-Modified": doc.last_modified,
        "Vary": vary,
        "Cache-Control": f"public, max-age={max_age}",
    }
    if request.method in ("GET", "HEAD") and not_modified(request, doc, etag):
        return Prepared(304, None, CIMultiDict(headers))
    if doc.links:  # not on a 304: RFC 9110 §15.4.5, only what guides a cache update
        headers["Link"] = doc.links
    headers["Content-Type"] = doc.content_type
    if coding != "identity":
        headers["Content-Encoding"] = coding
    return Prepared(200, body, CIMultiDict(headers))


def respond(
    request: web.Request, doc: Document, *, max_age: int, vary: str = "Accept-Encoding"
) -> web.Response:
    return prepare(request, doc, max_age=max_age, vary=vary).response()
