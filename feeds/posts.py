"""Read Jekyll-style posts from the posts directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter

log = logging.getLogger("finews.posts")

POST_SUFFIXES = {".md", ".markdown", ".html", ".txt"}


@dataclass(frozen=True)
class Post:
    path: Path
    title: str


@dataclass
class LoadResult:
    posts: list[Post] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_posts(posts_dir: Path) -> LoadResult:
    """Every readable post; each unreadable one becomes a problem naming the file."""
    result = LoadResult()
    if not posts_dir.is_dir():
        result.problems.append(f"{posts_dir}: posts directory not found")
        return result
    for path in sorted(p for p in posts_dir.rglob("*") if p.suffix in POST_SUFFIXES):
        try:
            meta = frontmatter.loads(path.read_text(encoding="utf-8")).metadata
            title = str(meta["title"])
        except Exception as exc:  # any unreadable file is skipped, never fatal
            problem = f"{path}: skipped: {type(exc).__name__}: {exc}"
            log.warning("event=post_skipped file=%s reason=%s", path, exc)
            result.problems.append(problem)
            continue
        result.posts.append(Post(path=path, title=title))
    return result
