"""Watch posts.dir and hand the changed paths over in batches, one batch at a time.

watchfiles (Rust `notify`: inotify on Linux) gathers changes: a batch comes out once no
new change arrived for STEP_MS, or after `feeds.watch_debounce` ms of changes coming
without pause. Batches that arrive while the previous one is being applied are merged and
applied together afterwards, so there is never more than one publish in flight and a burst
of 1,000 new files costs a few publishes, not 1,000. Only paths: the applier looks at each
one again (the file system is the truth), so a file created then deleted, or renamed
twice, within a batch needs no special case.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

from watchfiles import Change, awatch

from feeds.posts import POST_SUFFIXES
from feeds.text import log_quote

log = logging.getLogger("finews.feeds")

STEP_MS = 50
# Editors' backup, swap and temporary files that can end in a post suffix or none.
TEMP_SUFFIXES = ("~", "#", ".swp", ".swo", ".swx", ".tmp", ".bak", "___jb_tmp___",
                 "___jb_old___")

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

    async def run(self) -> None:
        applier = asyncio.create_task(self._apply_batches())
        stop = asyncio.Event()
        root = self.posts_dir.resolve()      # notify reports resolved paths
        try:
            async for changes in awatch(root, watch_filter=PostFilter(root),
                                        debounce=self.debounce_ms, step=STEP_MS,
                                        stop_event=stop, recursive=True,
                                        ignore_permission_denied=True):
                self._pending.update(path for _, path in changes)
                self._arrived.set()
        except OSError as exc:  # no such folder, or the system's watch limit reached
            log.error("event=posts_watch_failed dir=%s error=%s hint=%s",
                      log_quote(str(self.posts_dir)), log_quote(str(exc)),
                      log_quote("raise fs.inotify.max_user_watches or set "
                                "WATCHFILES_FORCE_POLLING=1; restart to see changes"))
        finally:
            stop.set()
            applier.cancel()
            await asyncio.gather(applier, return_exceptions=True)

    async def _apply_batches(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            paths, self._pending = self._pending, set()
            started = time.monotonic()
            try:
                await self._apply([Path(path) for path in sorted(paths)])
            except Exception:  # logged with its trace; the next batch is applied anyway
                log.exception("event=live_update_failed files=%d seconds=%.2f", len(paths),
                              time.monotonic() - started)
