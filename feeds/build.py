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
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from tqdm import tqdm

from feeds import html
from feeds.catalog import Catalog, Feed, Site
from feeds.documents import feed_documents, make_page, opml
from feeds.model import Post
from feeds.posts import LoadResult, load_posts, process_context
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


class _Bar(tqdm):  # type: ignore[type-arg]  # tqdm[T] iterates; this bar only counts
    """Progress without tqdm's monitor thread: worker processes are forked meanwhile."""

    monitor_interval = 0


RENDER_MIN_PAGES = 8  # fewer pages: render them in this process
_work: _Render | None = None  # what forked workers render: set before the fork


@dataclass(frozen=True)
class _Render:
    """Everything a page needs, shared with forked workers (copy-on-write, never pickled)."""

    site: Site
    source: LoadResult
    shares: Mapping[str, str]
    jobs: list[tuple[Feed, int]]
    out: Path
    bodies: dict[str, str]  # post key -> sanitized body, made before rendering

    def content_html(self, post: Post) -> str:
        html = self.bodies.get(post.key)
        return self.source.content_html(post) if html is None else html

    def posts(self) -> Sequence[Post]:
        return self.source.posts()

    def post(self, key: str) -> Post | None:
        return self.source.post(key)

    def render(self, job: int, writer: _Writer) -> None:
        feed, number = self.jobs[job]
        page = make_page(self.site, self, self.shares, feed, number)
        assert page is not None  # numbers come from page_count()
        for fmt, body in feed_documents(page).items():
            writer.write(feed.page_path(number, fmt), body)
        writer.report.pages += 1


def _sanitize_in_worker(post: Post) -> tuple[str, tuple[bytes, str] | None]:
    assert _work is not None
    return post.key, _work.source.sanitized(post)


def _render_in_worker(job: int) -> tuple[BuildReport, set[Path]]:
    assert _work is not None
    writer = _Writer(_work.out, BuildReport())
    _work.render(job, writer)
    return writer.report, writer.written


def _bodies(work: _Render, workers: int) -> None:
    """Sanitize, in worker processes, every body the pages show that the index lacks;
    each is cached in the index and in `work.bodies` once."""
    needed = {
        post.key: post
        for feed, number in work.jobs
        for post in feed.page_posts(number, work.site.items_per_feed)
    }
    missing = []
    for post in needed.values():
        cached = work.source.cached_html(post)
        if cached is None:
            missing.append(post)
        else:
            work.bodies[post.key] = cached
    with ProcessPoolExecutor(workers, mp_context=process_context()) as pool:
        for (key, made), post in zip(
            pool.map(_sanitize_in_worker, missing, chunksize=8), missing, strict=True
        ):
            if made is not None:
                work.source.store_html(post, made)
                work.bodies[key] = made[1]


def build_static(
    settings: Settings,
    out: Path,
    *,
    archives: bool = True,
    shares: Mapping[str, str] | None = None,
    progress: bool = True,
) -> BuildReport:
    """Write the whole site's feeds into `out`; archive pages unless `archives` is False.

    With many pages and more than one worker (feeds.parse_workers), bodies are sanitized
    and pages rendered in forked worker processes; the files are the same bytes."""
    global _work
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
    work = _Render(site, source, shares or {}, jobs, out, {})
    workers = settings.feeds.parse_workers or len(os.sched_getaffinity(0))
    parallel = (
        workers > 1
        and len(jobs) >= RENDER_MIN_PAGES
        and process_context().get_start_method() == "fork"
    )
    bar = _Bar(total=len(jobs), desc="feeds", unit="page", file=sys.stderr, disable=not progress)
    _work = work
    try:
        if not parallel:
            for job in range(len(jobs)):
                work.render(job, writer)
                bar.update()
        else:
            _bodies(work, workers)
            with ProcessPoolExecutor(workers, mp_context=process_context()) as pool:
                for done, written in pool.map(_render_in_worker, range(len(jobs))):
                    report.pages += done.pages
                    report.files += done.files
                    report.bytes += done.bytes
                    report.problems.extend(done.problems)
                    writer.written |= written
                    bar.update()
    finally:
        _work = None
        bar.close()
    writer.write("/feeds.opml", opml(site, catalog))
    writer.write("/index.html", html.home(site, catalog))
    writer.prune()
    return report
