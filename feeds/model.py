"""The post model shared by reading (posts, sanitize, summary, post_index) and publishing
(documents, routes).

A Post holds what every feed item needs except the sanitized body: bodies are large
(hundreds of MB for 100,000 Chinese articles), so they are fetched on demand from a
PostSource, which may keep them on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Post:
    key: str  # source file path relative to posts.dir, unique
    id: str  # stable item id: front matter `id`, else the canonical URL
    url: str  # canonical absolute article URL
    title: str  # plain text, XML-safe
    published: datetime  # timezone-aware, offset kept (+08:00)
    updated: datetime  # timezone-aware; last_modified_at, else published
    categories: tuple[str, ...]  # category slugs, in front-matter order
    tags: tuple[str, ...]  # tags as written (Chinese words)
    author: str | None
    summary: str  # plain text: excerpt/description or cut first paragraph
    image: str | None  # absolute URL of the lead image
    info_code: str | None  # legacy share code from front matter (`infoCode`)


class PostSource(Protocol):
    """What publishing needs from reading."""

    def posts(self) -> Sequence[Post]:
        """Every published post, newest first (published desc, then key)."""
        ...

    def post(self, key: str) -> Post | None:
        """The published post read from file `key`; None when that file gives none."""
        ...

    def content_html(self, post: Post) -> str:
        """The sanitized body HTML, URLs absolute, XML-safe."""
        ...
