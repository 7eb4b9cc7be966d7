"""Watch posts.dir and hand the changed paths over in batches, one batch at a time.

watchfiles (Rust `notify`: inotify on Linux) gathers changes: a batch comes out once no
new change arrived for STEP_MS, or after `feeds.watch_debounce` ms of changes coming
without pause. Batches that arrive while the previous one is being applied are merged and
applied together afterwards, so there is never more than one publish in flight and a burst
of 1,000 new files costs a few publishes, not 1,000. Only paths: the applier looks at each
one again (the file system is the truth), so a file created then deleted, or renamed
twice, within a batch needs no special case.

A file is handed over only once it has held still for the debounce window: its mtime is
that old, or its size and mtime have not changed since a look that long ago (an mtime in
the future). One still being written (an editor or a copy between two writes) stays
pending and is looked at again when its window ends, so a half-written post is never
published, and a file that keeps changing is published once it settles.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

from watchfiles import Change, awatch

from feeds.posts import POST_SUFFIXES
from feeds.text import log_quote

log = logging.getLogger("finews.feeds")

STEP_MS = 50
# Editors' backup, swap and temporary files that can end in a post suffix or none.
TEMP_SUFFIXES = ("~", "#", ".swp", ".swo", ".swx", ".tmp", ".bak", "___jb_tmp___", "___jb_old___")

Apply = Callable[[Collection[Path]], Awaitable[None]]


class PostFilter:
    """Which reported changes can touch a post: post files, and folders (a folder moved or
    deleted takes its posts with it). Dot-files and dot-folders (`.post.md.swp`, `.#x`,
    `.git`), editors' temp files (`post.md~`, `#post.md#`) and other files are left out.
    A deleted path cannot be told file from folder, so one without a post suffix passes."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.abspath(root)

    def __call__(self, change: Change, path: str) -> bool:
        relative = os.path.relpath(path, self.root)
        parts = relative.split(os.sep)
        if relative.startswith("..") or any(part.startswith(".") for part in parts):
            return False
        name = parts[-1].lower()
        if name.endswith(TEMP_SUFFIXES):
            return False
        if name.endswith(POST_SUFFIXES):
            return True
        return change == Change.deleted or os.path.isdir(path)


class PostsWatcher:
    """Runs until cancelled: collects changed paths and applies them, a batch at a time."""

    def __init__(self, posts_dir: Path, debounce_ms: int, apply: Apply) -> None:
        self.posts_dir = posts_dir
        self.debounce_ms = debounce_ms
        self._apply = apply
        self._pending: set[str] = set()
        self._arrived = asyncio.Event()
        self._seen: dict[str, tuple[tuple[int, int], float]] = {}  # unsettled: signature, since
        self._wake: asyncio.TimerHandle | None = None

    def _settled(self, paths: set[str]) -> tuple[list[str], set[str], float]:
        """Split `paths` into those to apply now (settled files, folders, paths gone) and
        files still changing; returns also the seconds until the first of those may settle."""
        window, now, wall = self.debounce_ms / 1000, time.monotonic(), time.time()
        ready: list[str] = []
        waiting: set[str] = set()
        wait = window
        for path in sorted(paths):
            try:
                info = os.stat(path)
            except OSError:  # gone (or unreadable): the applier sees that for itself
                info = None
            if info is None or not stat.S_ISREG(info.st_mode):
                self._seen.pop(path, None)
                ready.append(path)
                continue
            signature = (info.st_mtime_ns, info.st_size)
            age = wall - info.st_mtime_ns / 1e9
            seen = self._seen.get(path)
            if seen is None or seen[0] != signature:
                seen = self._seen[path] = (signature, now)
            if age >= window or now - seen[1] >= window:
                del self._seen[path]
                ready.append(path)
            else:
                waiting.add(path)
                wait = min(wait, window - max(age, now - seen[1]))
        return ready, waiting, max(wait, STEP_MS / 1000)

    def _wake_in(self, seconds: float) -> None:
        """Look at the pending paths again in `seconds` (or sooner if already due)."""
        due = asyncio.get_running_loop().time() + seconds
        if self._wake is not None and self._wake.when() <= due:
            return
        if self._wake is not None:
            self._wake.cancel()
        self._wake = asyncio.get_running_loop().call_at(due, self._woken)

    def _woken(self) -> None:
        self._wake = None
        self._arrived.set()

    async def run(self) -> None:
        applier = asyncio.create_task(self._apply_batches())
        stop = asyncio.Event()
        root = self.posts_dir.resolve()  # notify reports resolved paths
        try:
            async for changes in awatch(
                root,
                watch_filter=PostFilter(root),
                debounce=self.debounce_ms,
                step=STEP_MS,
                stop_event=stop,
                recursive=True,
                ignore_permission_denied=True,
            ):
                self._pending.update(path for _, path in changes)
                self._arrived.set()
        except OSError as exc:  # no such folder, or the system's watch limit reached
            log.error(
                "event=posts_watch_failed dir=%s error=%s hint=%s",
                log_quote(str(self.posts_dir)),
                log_quote(str(exc)),
                log_quote(
                    "raise fs.inotify.max_user_watches or set "
                    "WATCHFILES_FORCE_POLLING=1; restart to see changes"
                ),
            )
        finally:
            stop.set()
            if self._wake is not None:
                self._wake.cancel()
            applier.cancel()
            await asyncio.gather(applier, return_exceptions=True)

    async def _apply_batches(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            ready, self._pending, wait = self._settled(self._pending)
            if self._pending:
                self._wake_in(wait)
            if not ready:
                continue
            paths = ready
            started = time.monotonic()
            try:
                await self._apply([Path(path) for path in paths])
            except Exception:  # logged with its trace; the next batch is applied anyway
                log.exception(
                    "event=live_update_failed files=%d seconds=%.2f",
                    len(paths),
                    time.monotonic() - started,
                )
