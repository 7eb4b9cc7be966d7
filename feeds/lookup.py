"""Posts by title, for the console's new-link page: answered from the current edition in
memory (no disk, no Redis)."""

from __future__ import annotations

from aiohttp import web

from feeds.model import Post
from feeds.publish import Pager
from feeds.routes import PUBLISHER


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
