"""`finews build --out DIR`: every feed, archive page, the OPML list and the home page as files.

Files mirror the URLs with percent-decoded names (`/feeds/tag/%E6%B0%91%E7%94%9F.rss` is
`DIR/feeds/tag/民生.rss`), which is what nginx, Apache and S3-style hosts look up, and each
file has a `.gz` twin (gzip -9 without a timestamp) for `gzip_static`. The output is a pure
function of the posts and settings: two runs on the same posts give identical bytes. A
decoded name that cannot be one file name (it holds "/", or is "." or "..") keeps its
percent-encoding. Files under DIR/feeds that this build did not write are removed, so a
feed that disappeared stops being served.
"""

from __future__ import annotations

import gzip
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from tqdm import tqdm

from feeds import html
from feeds.catalog import Catalog, Site
from feeds.documents import feed_documents, make_page, opml
from feeds.posts import load_posts
from feeds.store import GZIP_LEVEL
from finews.core.settings import Settings

log = logging.getLogger("finews.feeds")


@dataclass
class BuildReport:
    """What a build wrote and what went wrong (posts skipped, files not written)."""

    feeds: int = 0
    pages: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)


def disk_path(out: Path, url_path: str) -> Path:
    """The file for a URL path: each segment percent-decoded unless that would escape it."""
    parts = []
    for segment in url_path.strip("/").split("/"):
        name = unquote(segment)
        parts.append(segment if "/" in name or "\0" in name or name in ("", ".", "..") else name)
    return out.joinpath(*parts)


class _Writer:
    def __init__(self, out: Path, report: BuildReport) -> None:
        self.out, self.report = out, report
        self.written: set[Path] = set()

    def write(self, url_path: str, body: bytes) -> None:
        path = disk_path(self.out, url_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for target, data in (
                (path, body),
                (path.with_name(path.name + ".gz"), gzip.compress(body, GZIP_LEVEL, mtime=0)),
            ):
                target.write_bytes(data)
                self.written.add(target)
                self.report.files += 1
                self.report.bytes += len(data)
        except OSError as exc:
            log.error("event=build_write_failed path=%s error=%s", path, exc.strerror)
            self.report.problems.append(f"{path}: not written: {exc.strerror}")

    def prune(self) -> None:
        """Remove files under DIR/feeds that this build did not write."""
        feeds_dir = self.out / "feeds"
        if not feeds_dir.is_dir():
            return
        for path in sorted(feeds_dir.rglob("*"), reverse=True):
            if path.is_file() and path not in self.written:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def build_static(
    settings: Settings,
    out: Path,
    *,
    archives: bool = True,
    shares: Mapping[str, str] | None = None,
    progress: bool = True,
) -> BuildReport:
    """Write the whole site's feeds into `out`; archive pages unless `archives` is False."""
    report = BuildReport()
    source = load_posts(settings)
    report.problems.extend(source.problems)
    site = Site.from_settings(settings)
    catalog = Catalog(site, source.posts())
    report.feeds = len(catalog.feeds)
    jobs = [
        (feed, number)
        for feed in catalog
        for number in range(1, (feed.page_count(site.items_per_feed) if archives else 1) + 1)
    ]
    writer = _Writer(out, report)
    for feed, number in tqdm(
        jobs, desc="feeds", unit="page", file=sys.stderr, disable=not progress
    ):
        page = make_page(site, source, shares or {}, feed, number)
        assert page is not None  # numbers come from page_count()
        for fmt, body in feed_documents(page).items():
            writer.write(feed.page_path(number, fmt), body)
        report.pages += 1
    writer.write("/feeds.opml", opml(site, catalog))
    writer.write("/index.html", html.home(site, catalog))
    writer.prune()
    return report
