"""Followers: processes that serve the feeds without loading posts, kept current by Redis.

One process is the builder (it loads posts.dir, watches it and renders): elected among all
processes on one Redis (`feeds.role = "auto"`, feeds/lease.py) or set by hand; the others
follow. A follower keeps the current
documents in memory like the builder does; when the builder announces a new version on
keys.CHANGED, it reads the stored ETags, loads the documents whose ETag differs and swaps the
new set in at once. A message lost with a dropped connection is caught by comparing the
stored version every CHECK_SECONDS; after an error the follower subscribes and reloads.

Archive pages (page 2 and later) are rendered on request from the posts, which only the
builder has: a follower asks for one on keys.PAGE_WANTED, the builder renders it (or takes it
from its LRU), writes it to Redis under its version and answers on keys.PAGE_READY; the
follower keeps it in its own LRU for that version.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cachetools import LRUCache

from feeds import keys
from feeds.catalog import VIEWS, page_path
from feeds.metrics import FEED_CACHE_HITS, FEED_CACHE_MISSES
from feeds.publish import Pager, PageUnavailable, Publisher
from feeds.store import Document, DocumentStore
from feeds.text import log_quote
from finews.core.appkeys import REDIS_BYTES

log = logging.getLogger("finews.feeds")

CHECK_SECONDS = 5.0  # a follower compares versions this often without news
RETRY_SECONDS = 1.0  # pause after a Redis error before subscribing again
MAX_RETRY_SECONDS = 30.0
PAGE_WAIT = 5.0  # a follower waits this long for the builder to hand a page over
PAGE_TTL = 60  # seconds a handed-over page stays in Redis
SYNC_ATTEMPTS = 3  # reads of the stored set before taking it as it is

PageKey = tuple[str, str, int]  # kind, term, page number


async def _next_message(pubsub: Any, timeout: float | None) -> dict[str, Any] | None:
    """The next published message, None after `timeout` seconds without one.

    redis-py 8.1's get_message can swallow a cancellation and return None (34 times in 300
    cancellations of a blocked read, measured here): then the cancellation is raised again.
    """
    message: dict[str, Any] | None = await pubsub.get_message(
        ignore_subscribe_messages=True, timeout=timeout
    )
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    return message


async def _subscribed(
    publisher: Publisher, channels: tuple[str, ...], session: Callable[[Any], Awaitable[None]]
) -> None:
    """Run `session(pubsub)` on a subscription to `channels`, again after each Redis error
    (waiting RETRY_SECONDS, doubled while Redis stays away, up to MAX_RETRY_SECONDS)."""
    delay = RETRY_SECONDS
    while True:
        pubsub = publisher.app[REDIS_BYTES].pubsub()
        try:
            await pubsub.subscribe(*channels)
            delay = RETRY_SECONDS
            await session(pubsub)
        except Exception as exc:  # Redis went away: keep serving what we have, retry
            log.warning(
                "event=feeds_subscription_failed channels=%s retry_in=%g error=%r",
                ",".join(channels),
                delay,
                exc,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
        finally:
            await pubsub.aclose()


class Follower:
    """Keeps a process's edition equal to what the builder last stored in Redis."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.store = DocumentStore(publisher.app[REDIS_BYTES])
        self.version = 0
        self.pages = RemotePages(self, publisher.settings.feeds.archive_cache)

    async def run(self) -> None:
        await _subscribed(self.publisher, (keys.CHANGED, keys.PAGE_READY), self._follow)

    async def _follow(self, pubsub: Any) -> None:
        await self.sync()  # after subscribing: no version can slip in between
        while True:
            message = await _next_message(pubsub, CHECK_SECONDS)
            if message is None:
                if int(await self.store.redis.get(keys.VERSION) or 0) != self.version:
                    await self.sync()
            elif message["channel"] == keys.PAGE_READY.encode():
                self.pages.ready(message["data"])
            elif int(message["data"]) != self.version:
                await self.sync()

    async def sync(self) -> None:
        """Load the documents whose stored ETag differs from ours; swap the set in."""
        edition = self.publisher.edition
        have = edition.docs if edition else {}
        # `attempt` is read by the log line after the loop, which B007 does not see.
        for attempt in range(1, SYNC_ATTEMPTS + 1):  # noqa: B007
            version, etags = await self.store.snapshot()
            if not etags:
                return  # nothing built yet: requests keep waiting for the builder
            wanted = [
                path for path, etag in etags.items() if path not in have or have[path].etag != etag
            ]
            loaded = await self.store.documents(wanted)
            missing = [
                path for path in wanted if path not in loaded or loaded[path].etag != etags[path]
            ]
            if not missing:
                break  # else a newer build landed between the two reads: again
        else:
            log.warning(
                "event=feeds_follow_incomplete version=%d missing=%d first=%s",
                version,
                len(missing),
                log_quote(missing[0]),
            )
        docs = {
            path: loaded.get(path) or have[path] for path in etags if path in loaded or path in have
        }
        self.publisher.adopt(docs, self.pages)
        self.version = version
        log.info(
            "event=feeds_followed version=%d loaded=%d removed=%d attempts=%d",
            version,
            len(loaded),
            len(have.keys() - docs.keys()),
            attempt,
        )


class RemotePages:
    """A follower's archive pages: asked of the builder through Redis, kept in an LRU."""

    def __init__(self, follower: Follower, capacity: int) -> None:
        self._follower = follower
        # LRUCache needs room for one page: with no room (capacity 0) nothing is kept.
        self._pages: LRUCache[tuple[int, PageKey], Mapping[str, Document]] | None = (
            LRUCache(maxsize=capacity) if capacity else None
        )
        self._waiting: dict[PageKey, asyncio.Future[tuple[int, bool]]] = {}

    async def documents(self, kind: str, term: str, number: int) -> Mapping[str, Document] | None:
        key, version = (kind, term, number), self._follower.version
        kept = self._pages.get((version, key)) if self._pages is not None else None
        if kept is not None:
            FEED_CACHE_HITS.inc()
            return kept
        FEED_CACHE_MISSES.inc()
        paths = [page_path(kind, term, number, view) for view in VIEWS]
        store = self._follower.store
        docs = await store.page(version, paths)
        if len(docs) < len(paths):
            future = self._waiting.get(key)
            if future is None:
                future = self._waiting[key] = asyncio.get_running_loop().create_future()
                await store.redis.publish(keys.PAGE_WANTED, json.dumps([kind, term, number]))
            try:
                ready, found = await asyncio.wait_for(asyncio.shield(future), PAGE_WAIT)
            except TimeoutError:
                if self._waiting.get(key) is future:
                    del self._waiting[key]
                raise PageUnavailable(f"the builder did not hand over {paths[0]}") from None
            if not found:
                return None
            docs = await store.page(ready, paths)
            if len(docs) < len(paths):
                raise PageUnavailable(f"{paths[0]} expired before it was read")
        if self._pages is not None:
            self._pages[(version, key)] = docs
        return docs

    def ready(self, data: bytes) -> None:
        """The builder's answer: [version, kind, term, number, found]."""
        try:
            version, kind, term, number, found = json.loads(data)
        except ValueError:
            log.warning("event=page_answer_malformed data=%s", log_quote(repr(data[:200])))
            return
        future = self._waiting.pop((kind, term, number), None)
        if future is not None and not future.done():
            future.set_result((version, found))

    def close(self) -> None:
        for future in self._waiting.values():
            future.cancel()


class PageResponder:
    """The builder's side: renders the archive pages followers ask for and hands them over."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.store = DocumentStore(publisher.app[REDIS_BYTES])
        self._answering: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            await _subscribed(self.publisher, (keys.PAGE_WANTED,), self._serve)
        finally:
            for task in self._answering:
                task.cancel()

    async def _serve(self, pubsub: Any) -> None:
        while True:
            message = await _next_message(pubsub, None)
            if message is None:
                continue
            try:
                kind, term, number = json.loads(message["data"])
                key = (str(kind), str(term), int(number))
            except (ValueError, TypeError):
                log.warning(
                    "event=page_request_malformed data=%s", log_quote(repr(message["data"][:200]))
                )
                continue
            task = asyncio.create_task(self._answer(*key))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

    async def _answer(self, kind: str, term: str, number: int) -> None:
        edition, version = self.publisher.edition, self.publisher.version
        if edition is None or not isinstance(edition.archive, Pager) or version is None:
            return  # not built yet (or not stored): the follower answers 503
        try:
            docs = await edition.archive.documents(kind, term, number)
            if docs:
                await self.store.save_page(version, docs, PAGE_TTL)
            await self.store.redis.publish(
                keys.PAGE_READY, json.dumps([version, kind, term, number, bool(docs)])
            )
        except Exception as exc:  # the follower times out and answers 503
            log.error(
                "event=page_handover_failed feed=%s page=%d error=%r",
                log_quote(page_path(kind, term, number, "")),
                number,
                exc,
            )
