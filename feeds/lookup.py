"""Read-only questions other parts of the service ask the feeds: posts by title, and what
each feed document weighs. Answered from the current edition in memory (no disk, no Redis).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from feeds.catalog import FORMATS
from feeds.model import Post
from feeds.publish import Pager
from feeds.routes import PUBLISHER
from finews.core.appkeys import SETTINGS


@dataclass(frozen=True, slots=True)
class FeedDocument:
    path: str  # /feeds/all.atom
    name: str  # the feed's display name ("" when this process has no catalogue: a follower)
    items: int | None  # entries in the document; None when unknown (a follower)
    modified: int  # Unix seconds the bytes last changed (Last-Modified)
    size: int  # bytes, plain
    gzip_size: int  # bytes, gzip


def _pager(app: web.Application) -> Pager | None:
    edition = app[PUBLISHER].edition
    archive = edition.archive if edition else None
    return archive if isinstance(archive, Pager) else None


def find_posts(app: web.Application, words: str, limit: int) -> list[Post]:
    """Published posts whose title contains `words` (case-folded), newest first."""
    pager = _pager(app)
    needle = words.casefold().strip()
    if pager is None or not needle:
        return []
    found = [post for post in pager.source.posts() if needle in post.title.casefold()]
    return found[:limit]


def feed_documents(app: web.Application) -> list[FeedDocument]:
    """Every subscription document (page 1 of each feed, each format) of the current edition."""
    edition = app[PUBLISHER].edition
    if edition is None:
        return []
    pager = _pager(app)
    per_page = app[SETTINGS].feeds.items_per_feed
    known = {}
    if pager is not None:
        for feed in pager.catalog:
            for fmt in FORMATS:
                known[feed.page_path(1, fmt)] = (feed.name, len(feed.page_posts(1, per_page)))
    out = []
    for path, doc in sorted(edition.docs.items()):
        if not path.startswith("/feeds/") or not path.endswith(tuple(f".{f}" for f in FORMATS)):
            continue
        name, items = known.get(path, ("", None))
        out.append(FeedDocument(path, name, items, doc.modified, len(doc.body), len(doc.gzip)))
    return out
