"""Read Jekyll-style posts from posts.dir into Posts, through the persistent index.

`load_posts(settings)` scans the directory, takes unchanged files from the index and parses
the others (in worker processes when there are many), and returns a `LoadResult`: the
PostSource publishing reads, the list of problems, and `update()` for a file watcher.

Item ids: front matter `id` wins, else the canonical URL. Renaming a file (or changing the
permalink pattern) changes the URL and so the id, and readers show the post again as new:
give such posts an `id` in their front matter to keep it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

from feeds.dates import from_epoch
from feeds.model import Post
from feeds.parse import (
    LIST_SEPARATOR,
    POST,
    PROBLEM,
    PostProblem,
    ReadConfig,
    Record,
    digest,
    problem_record,
    read_body,
    read_file,
    read_post,
)
from feeds.post_index import PostIndex
from feeds.sanitize import sanitize_body
from feeds.text import log_quote, one_line
from finews.core.settings import Settings

log = logging.getLogger("finews.feeds")

POST_SUFFIXES = (".md", ".markdown", ".html", ".txt")
POOL_MIN_FILES = 1000  # fewer files to parse: parse them in this process
POOL_CHUNK = 256  # files per task sent to a worker process
WRITE_BATCH = 2000  # records written to the index per transaction
PROGRESS_MIN_FILES = 2000  # parses this long show progress lines
PROGRESS_SECONDS = 5.0
_BY_KEY = attrgetter("key")
_BY_PUBLISHED = attrgetter("published")


OUTSIDE = "symlink leads outside posts.dir"


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


class Scan(NamedTuple):
    """What a scan found: post files (key -> (mtime_ns, size)) and refused entries (key ->
    reason: symlinks leading outside posts.dir)."""

    found: dict[str, tuple[int, int]]
    refused: dict[str, str]


def scan(folder: Path, root: Path | None = None, *, follow_external: bool = False) -> Scan:
    """Post files under `folder` (dot files and dot folders skipped), keys relative to it.

    `root`: posts.dir (default `folder`): symlinks whose target is outside it are refused
    unless `follow_external`. A symlinked folder that leads back to one of its own
    ancestors (a loop) is not entered again, broken symlinks are passed over, a folder that
    cannot be listed is logged and skipped, a file that vanishes meanwhile is left out:
    a scan never fails.
    """
    root_real = os.path.realpath(root or folder)
    found: dict[str, tuple[int, int]] = {}
    refused: dict[str, str] = {}
    folders = [(str(folder), "", os.path.realpath(folder))]
    while folders:
        path, prefix, real = folders.pop()
        try:
            entries = list(os.scandir(path))
        except OSError as exc:
            log.warning(
                "event=posts_folder_unreadable dir=%s reason=%s",
                log_quote(path),
                log_quote(exc.strerror or str(exc)),
            )
            continue
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            is_post = name.lower().endswith(POST_SUFFIXES)
            try:
                target = os.path.join(real, name)
                if entry.is_symlink():
                    target = os.path.realpath(entry.path, strict=True)
                    if not follow_external and not _inside(target, root_real):
                        if is_post or entry.is_dir():
                            refused[prefix + name] = OUTSIDE
                        continue
                if is_post and entry.is_file():
                    stat = entry.stat()
                    found[prefix + name] = (stat.st_mtime_ns, stat.st_size)
                elif entry.is_dir() and not _inside(real, target):  # not back up: a loop
                    folders.append((entry.path, f"{prefix}{name}/", target))
            except OSError:  # gone since the listing, a broken symlink or a symlink loop
                continue
    return Scan(found, refused)


def process_context() -> multiprocessing.context.BaseContext:
    """fork is cheapest, but forking a process that runs threads (the service supervises
    Redis) can copy a held lock into the child; forkserver is safe then."""
    return multiprocessing.get_context("fork" if threading.active_count() == 1 else "forkserver")


_worker_config: ReadConfig | None = None


def _start_worker(config: ReadConfig) -> None:
    global _worker_config
    _worker_config = config


def _read_in_worker(item: tuple[str, str]) -> Record:
    assert _worker_config is not None
    return read_post(item[0], item[1], _worker_config)


class LoadResult:
    """The loaded posts (a feeds.model.PostSource), the problems, and incremental updates."""

    def __init__(self, config: ReadConfig, index: PostIndex, workers: int) -> None:
        self._config = config
        self._dir = Path(config.posts_dir)
        self._index = index
        self._workers = workers
        self._posts: dict[str, Post] = {}
        self._file_problems: dict[str, str] = {}
        self._duplicates: dict[str, str] = {}
        self._dir_problem: str | None = None
        self._lists: dict[str, tuple[str, ...]] = {"": ()}
        self._sorted: list[Post] = []

    # -- PostSource

    def posts(self) -> Sequence[Post]:
        """Every published post, newest first by (published, key)."""
        return self._sorted

    def post(self, key: str) -> Post | None:
        """The published post of file `key`: not one skipped as a duplicate."""
        return None if key in self._duplicates else self._posts.get(key)

    def content_html(self, post: Post) -> str:
        """The sanitized body HTML, made on first use and cached in the index."""
        cached = self._index.html(post.key)
        if cached is not None:
            return cached
        made = self.sanitized(post)
        if made is None:
            return ""
        self._index.set_html(post.key, *made)
        return made[1]

    def cached_html(self, post: Post) -> str | None:
        """The body HTML cached in the index, None when not made yet."""
        return self._index.html(post.key)

    def store_html(self, post: Post, made: tuple[bytes, str]) -> None:
        """Cache a body `sanitized()` made elsewhere (in a worker process)."""
        self._index.set_html(post.key, *made)

    def sanitized(self, post: Post) -> tuple[bytes, str] | None:
        """The file's digest and sanitized body HTML, read now; None (logged) when the file
        cannot be read. Touches no index, so a forked worker process may call it."""
        try:
            data = read_file(str(self._dir / post.key), self._config.max_bytes)[1]
            html = sanitize_body(read_body(data), post.url)
        except Exception as exc:
            reason = (
                getattr(exc, "strerror", None) or str(exc)
                if isinstance(exc, (OSError, PostProblem))
                else f"unexpected {type(exc).__name__}: {exc}"
            )
            log.warning(
                "event=post_body_unreadable file=%s reason=%s",
                log_quote(str(self._dir / post.key)),
                log_quote(one_line(reason)),
            )
            return None
        return digest(data), html

    # -- problems

    @property
    def problems(self) -> list[str]:
        """One line per skipped file: the file and the reason."""
        lines = [f"{self._dir}: {self._dir_problem}"] if self._dir_problem else []
        reasons = {**self._file_problems, **self._duplicates}
        lines += [f"{self._dir / key}: {reasons[key]}" for key in sorted(reasons)]
        return lines

    # -- loading

    def _post(self, record: tuple[Any, ...]) -> Post:
        """The Post of a POST record (or index row: the same tuple), built as cheaply as
        possible: a restart builds 100,000 of them."""
        (
            key,
            _,
            _,
            _,
            _,
            _,
            item_id,
            url,
            title,
            published,
            published_offset,
            updated,
            updated_offset,
            categories,
            tags,
            author,
            summary,
            image,
            info_code,
        ) = record
        when = from_epoch(published, published_offset)
        edited = (
            when
            if updated == published and updated_offset == published_offset
            else from_epoch(updated, updated_offset)
        )
        return Post(
            key,
            item_id or url,
            url,
            title,
            when,
            edited,
            self._names(categories),
            self._names(tags),
            author,
            summary,
            image,
            info_code,
        )

    def _names(self, joined: str) -> tuple[str, ...]:
        """Category or tag tuples, shared between posts with the same ones."""
        names = self._lists.get(joined)
        if names is None:
            names = self._lists[joined] = tuple(joined.split(LIST_SEPARATOR))
        return names

    def _take(self, record: Record | tuple[Any, ...]) -> None:
        """Make `record` (or an index row) the current state of its file. A record that
        does not make a Post (whatever the reason: an index written by other code, say)
        becomes a problem of that file alone."""
        record = Record._make(record)
        self._posts.pop(record.key, None)
        self._file_problems.pop(record.key, None)
        if record.state == POST:
            try:
                self._posts[record.key] = self._post(record)
                return
            except Exception as exc:
                record = problem_record(record, f"unexpected {type(exc).__name__}: {exc}")
        if record.state == PROBLEM:
            problem = record.problem or "no reason recorded"  # problem_record always gives one
            self._file_problems[record.key] = problem
            log.warning(
                "event=post_skipped file=%s reason=%s",
                log_quote(str(self._dir / record.key)),
                log_quote(problem),
            )

    def _drop(self, key: str) -> None:
        self._posts.pop(key, None)
        self._file_problems.pop(key, None)

    def _parse(self, keys: Sequence[str]) -> Iterator[Record]:
        """Records of `keys`, in order; worker processes when there are many."""
        items = [(str(self._dir / key), key) for key in keys]
        if self._workers <= 1 or len(items) < POOL_MIN_FILES:
            yield from (read_post(path, key, self._config) for path, key in items)
            return
        with ProcessPoolExecutor(
            self._workers,
            mp_context=process_context(),
            initializer=_start_worker,
            initargs=(self._config,),
        ) as pool:
            yield from pool.map(_read_in_worker, items, chunksize=POOL_CHUNK)

    def _parse_and_store(self, keys: Sequence[str]) -> None:
        """Parse `keys`, write their records to the index and take them, showing progress."""
        started = last = time.monotonic()
        batch: list[Record] = []
        for done, record in enumerate(self._parse(keys), 1):
            batch.append(record)
            self._take(record)
            if len(batch) >= WRITE_BATCH:
                self._index.put(batch)
                batch = []
            if len(keys) >= PROGRESS_MIN_FILES and time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                log.info(
                    "event=posts_parse_progress done=%d total=%d seconds=%.1f",
                    done,
                    len(keys),
                    last - started,
                )
        self._index.put(batch)

    def load(self) -> None:
        """Full load: unchanged files from the index, the rest parsed."""
        started = time.monotonic()
        if not self._dir.is_dir():
            self._dir_problem = "posts directory not found"
            log.warning("event=posts_dir_missing dir=%s", log_quote(str(self._dir)))
            return
        found, refused = scan(self._dir, follow_external=self._config.follow_external_symlinks)
        records = self._index.records()
        gone = []
        for record in records:
            key = record[0]
            signature = found.get(key)
            if signature is None:
                gone.append(key)
            elif signature[0] == record[1] and signature[1] == record[2]:
                del found[key]
                if record[4] == POST:
                    try:  # the cheap path: a restart builds 100,000 of them
                        self._posts[key] = self._post(record)
                    except Exception:
                        self._take(record)
                elif record[4] == PROBLEM:
                    self._take(record)
        del records
        self._index.delete(gone)
        for key, reason in refused.items():
            self._take(problem_record(key, reason))
        changed = sorted(found)
        self._parse_and_store(changed)
        self._rebuild()
        log.info(
            "event=posts_loaded posts=%d problems=%d parsed=%d removed=%d seconds=%.2f",
            len(self._sorted),
            len(self._file_problems) + len(self._duplicates),
            len(changed),
            len(gone),
            time.monotonic() - started,
        )

    def _rebuild(self) -> set[str]:
        """Sort newest first; of posts sharing an id the first published keeps it.

        Returns the keys whose duplicate status changed.
        """
        ordered = sorted(self._posts.values(), key=_BY_KEY)
        ordered.sort(key=_BY_PUBLISHED)  # stable: (published, key), two cheap C-level sorts
        duplicates: dict[str, str] = {}
        if len({post.id for post in ordered}) != len(ordered):
            owners: dict[str, str] = {}
            for post in ordered:
                owner = owners.setdefault(post.id, post.key)
                if owner != post.key:
                    duplicates[post.key] = f"same id as {self._dir / owner}: {post.id}"
            ordered = [post for post in ordered if post.key not in duplicates]
        ordered.reverse()
        changed = set(duplicates).symmetric_difference(self._duplicates)
        for key in set(duplicates) - set(self._duplicates):
            log.warning(
                "event=post_skipped file=%s reason=%s",
                log_quote(str(self._dir / key)),
                log_quote(duplicates[key]),
            )
        self._duplicates = duplicates
        self._sorted = ordered
        return changed

    # -- incremental updates

    def _key(self, path: Path) -> str | None:
        """The key of a path under posts.dir ("" for posts.dir itself), None for anything
        outside it or hidden."""
        absolute = Path(os.path.abspath(self._dir / path))
        for root in (self._dir, self._dir.resolve()):
            if absolute.is_relative_to(root):
                relative = absolute.relative_to(root)
                hidden = any(part.startswith(".") for part in relative.parts)
                return None if hidden else relative.as_posix().removeprefix(".")
        return None

    def _refusal(self, full: Path) -> str | None:
        """Why the changed path `full` is not read (as scan() refuses it), None if it is."""
        if self._config.follow_external_symlinks or _inside(
            os.path.realpath(full), os.path.realpath(self._dir)
        ):
            return None
        return OUTSIDE

    def update(self, changed: Iterable[Path], deleted: Iterable[Path]) -> set[str]:
        """Apply a file watcher's batch; returns the keys of posts added, changed or removed.

        The file system is the truth: each path, reported as changed or deleted, is looked
        at now. Paths may be absolute or relative to posts.dir. A reported file is read
        again; a folder (posts.dir itself too) is scanned and only its files whose mtime
        or size differ from the index are read. Paths outside posts.dir and files that
        are not posts are ignored.
        """
        to_parse: set[str] = set()
        removed: set[str] = set()
        refused: dict[str, str] = {}
        follow = self._config.follow_external_symlinks
        for path in chain(changed, deleted):
            key = self._key(Path(path))
            if key is None:
                continue
            full = self._dir / key
            reason = self._refusal(full)
            if reason is not None:
                refused[key] = reason
                removed.update([key, *self._index.signatures_under(key)])
            elif full.is_dir():
                prefix = f"{key}/" if key else ""
                inner = scan(full, self._dir, follow_external=follow)
                found = {prefix + k: signature for k, signature in inner.found.items()}
                refused.update({prefix + k: why for k, why in inner.refused.items()})
                indexed = self._index.signatures_under(key)
                to_parse.update(k for k, signature in found.items() if indexed.get(k) != signature)
                removed.update(indexed.keys() - found.keys())
            elif full.is_file():
                if full.name.lower().endswith(POST_SUFFIXES):
                    to_parse.add(key)
            else:
                removed.update([key, *self._index.signatures_under(key)])
        touched = {key for key in removed if key in self._posts}
        for key in removed:
            self._drop(key)
        self._index.delete(removed)
        for key, reason in refused.items():
            self._take(problem_record(key, reason))
        before = {}
        for key in to_parse:
            record = self._index.record(key)
            before[key] = (self._posts.get(key), record.digest if record else None)
        self._parse_and_store(sorted(to_parse))
        for key, (post, old_digest) in before.items():
            after = self._posts.get(key)
            record = self._index.record(key)
            unchanged = post == after and record is not None and record.digest == old_digest
            if (post or after) and not unchanged:
                touched.add(key)
        touched |= self._rebuild()
        if touched:
            log.info("event=posts_updated changed=%d posts=%d", len(touched), len(self._sorted))
        return touched

    def close(self) -> None:
        """Close the index (content_html needs it: call this when done with the posts)."""
        self._index.close()


def load_posts(settings: Settings) -> LoadResult:
    """Every readable post, newest first; each unreadable file becomes a problem line."""
    config = ReadConfig.from_settings(settings)
    workers = settings.feeds.parse_workers or len(os.sched_getaffinity(0))
    result = LoadResult(config, PostIndex(settings.data.dir, config.fingerprint()), workers)
    result.load()
    return result
