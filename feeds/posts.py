"""Read Jekyll-style posts from the posts directory.

Placeholder reader with the final API (`load_posts(settings) -> LoadResult`); the full
Jekyll semantics, rendering and persistent index replace its internals.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import frontmatter

from feeds.model import Post
from finews.settings import Settings

log = logging.getLogger("finews.posts")

POST_SUFFIXES = {".md", ".markdown", ".html", ".txt"}


@dataclass
class LoadResult:
    """The loaded posts (a PostSource) and one problem line per skipped file."""

    items: list[Post] = field(default_factory=list)
    bodies: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def posts(self) -> Sequence[Post]:
        return self.items

    def content_html(self, post: Post) -> str:
        return self.bodies[post.key]


def _as_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(str(v) for v in value or ())


def load_posts(settings: Settings) -> LoadResult:
    """Every readable post, newest first; each unreadable one becomes a problem."""
    result = LoadResult()
    posts_dir = Path(settings.posts.dir)
    if not posts_dir.is_dir():
        result.problems.append(f"{posts_dir}: posts directory not found")
        return result
    for path in sorted(p for p in posts_dir.rglob("*") if p.suffix in POST_SUFFIXES):
        key = str(path.relative_to(posts_dir))
        try:
            doc = frontmatter.loads(path.read_text(encoding="utf-8"))
            title = str(doc.metadata["title"])
            published = datetime.strptime(str(doc.metadata["date"]), "%Y-%m-%d %H:%M:%S %z")
        except Exception as exc:  # any unreadable file is skipped, never fatal
            log.warning("event=post_skipped file=%s reason=%s", path, exc)
            result.problems.append(f"{path}: skipped: {exc}")
            continue
        url = f"{settings.site.url.rstrip('/')}/{path.stem}.html"
        result.items.append(Post(
            key=key, id=url, url=url, title=title, published=published, updated=published,
            categories=_as_list(doc.metadata.get("categories")),
            tags=_as_list(doc.metadata.get("tags")), author=None, summary=title, image=None,
            info_code=doc.metadata.get("infoCode")))
        result.bodies[key] = html.escape(doc.content)
    result.items.sort(key=lambda p: (p.published, p.key), reverse=True)
    return result
