"""The persistent post index: one SQLite row per post file, plus sanitized bodies.

Rows are keyed by the path relative to posts.dir and carry the file's mtime_ns and size,
so a restart re-reads only files whose signature changed (100,000 posts: one directory
scan and one table read instead of 100,000 parses). Sanitized bodies are cached by the
file's content digest, so a touched but unchanged file keeps its cached HTML. The index is
only a cache: when it is unreadable it is rebuilt, never trusted.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from feeds.parse import Record
from feeds.text import log_quote

log = logging.getLogger("finews.feeds")

FILE_NAME = "posts-index.sqlite3"
_COLUMNS = ", ".join(Record._fields)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS posts ({Record._fields[0]} TEXT PRIMARY KEY,
    {", ".join(Record._fields[1:])});
CREATE TABLE IF NOT EXISTS bodies (key TEXT PRIMARY KEY, digest BLOB NOT NULL, html TEXT NOT NULL);
"""


class PostIndex:
    """Records and sanitized bodies on disk (or in memory when the data dir is unusable)."""

    def __init__(self, data_dir: str, fingerprint: str) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self._lock = threading.Lock()
        try:
            self._db = self._open_or_reset(fingerprint)
        except (sqlite3.Error, OSError) as exc:  # unwritable data dir, a lock held too long
            log.warning(
                "event=posts_index_in_memory file=%s reason=%s",
                log_quote(str(self.path)),
                log_quote(str(exc)),
            )
            self._db = self._open(":memory:", fingerprint)

    def _open_or_reset(self, fingerprint: str) -> sqlite3.Connection:
        try:
            return self._open(str(self.path), fingerprint)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # not a database (any more): rebuild it
            log.warning(
                "event=posts_index_reset file=%s reason=%s",
                log_quote(str(self.path)),
                log_quote(str(exc)),
            )
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return self._open(str(self.path), fingerprint)

    @staticmethod
    def _open(location: str, fingerprint: str) -> sqlite3.Connection:
        if location != ":memory:":
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(location, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 10000")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
            columns = tuple(r[1] for r in db.execute("PRAGMA table_info(posts)"))
            if row is None or row[0] != fingerprint or columns != Record._fields:
                # other settings or code made these rows: start over
                db.executescript("DROP TABLE IF EXISTS posts; DROP TABLE IF EXISTS bodies;")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def records(self) -> list[tuple[Any, ...]]:
        """Every stored record (any order), as plain tuples in Record's field order."""
        with self._lock:
            return self._db.execute(f"SELECT {_COLUMNS} FROM posts").fetchall()

    def record(self, key: str) -> Record | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM posts WHERE key = ?", (key,)).fetchone()
        return None if row is None else Record._make(row)

    def signatures_under(self, folder: str) -> dict[str, tuple[int, int]]:
        """(mtime_ns, size) of the indexed files inside `folder` ("" for all of them)."""
        query = "SELECT key, mtime_ns, size FROM posts"
        with self._lock:
            if not folder:
                rows = self._db.execute(query).fetchall()
            else:  # "0" sorts right after "/": the range is exactly folder/...
                rows = self._db.execute(
                    f"{query} WHERE key > ? AND key < ?", (folder + "/", folder + "0")
                ).fetchall()
        return {key: (mtime_ns, size) for key, mtime_ns, size in rows}

    def put(self, records: Iterable[Record]) -> None:
        placeholders = ", ".join("?" * len(Record._fields))
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR REPLACE INTO posts ({_COLUMNS}) VALUES ({placeholders})", records
            )
            self._db.execute("COMMIT")

    def delete(self, keys: Iterable[str]) -> None:
        rows = [(key,) for key in keys]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM posts WHERE key = ?", rows)
            self._db.executemany("DELETE FROM bodies WHERE key = ?", rows)
            self._db.execute("COMMIT")

    def html(self, key: str) -> str | None:
        """The cached body of `key` if it was sanitized from the file the record describes."""
        with self._lock:
            row = self._db.execute(
                "SELECT b.html FROM posts p JOIN bodies b USING (key)"
                " WHERE key = ? AND b.digest = p.digest",
                (key,),
            ).fetchone()
        return None if row is None else row[0]

    def set_html(self, key: str, digest: bytes, html: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO bodies VALUES (?, ?, ?)", (key, digest, html))

    def close(self) -> None:
        with self._lock:
            self._db.close()
