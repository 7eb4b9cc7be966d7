"""How each feed is polled: requests per hour, the share answered 304, and which readers ask.

An operator sees which aggregators poll well (conditional GETs answered 304) and which
fetch the whole feed every time. Each feed request adds one to a plain in-process dict
keyed (path, hour, 304 or not, user agent), folded into one tally per (path, hour) before
a flush (PollCounter); every `feeds.poll_stats_interval` seconds, and at shutdown, one pipeline of
HINCRBY adds those counts to one Redis hash per feed and hour (feeds/keys.py), kept
`feeds.poll_stats_days` days. Each worker adds its own counts, so the hashes hold the sum.

A reader is named by the product token of its User-Agent (`Feedly`, `NewsBlur Feed Fetcher`,
`Tiny Tiny RSS`, `curl`, or `Inoreader` from `Mozilla/5.0 (compatible; Inoreader/1.0; ...)`),
or by ua-parser's family for a browser (`Chrome`, `Mobile Safari`): never an address nor the
raw user agent. Names are cut to NAME_MAX characters, and each process admits at most
`feeds.poll_stats_readers` names per feed and hour; the rest count as `other`, so a client
sending random user agents cannot grow Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import ua_parser
from aiohttp import web
from redis.exceptions import RedisClusterException, RedisError

from feeds import keys
from finews.core.appkeys import CLOCK, REDIS, SETTINGS
from finews.core.clock import Clock
from finews.core.redis_client import UNREACHABLE, AnyRedis

log = logging.getLogger("finews.feeds")

HOUR = 3600
NAME_MAX = 40  # characters of a reader name kept
OTHER = "other"  # readers past the cap
UNKNOWN = "unknown"  # no user agent, or none a name can be read from
RAW_MAX = 4096  # distinct (path, hour, status, agent) counted before they are folded
REQUESTS, NOT_MODIFIED, READER = "requests", "not_modified", "reader:"  # hash fields

# `Mozilla/5.0 (compatible; Inoreader/1.0; ...)`: the fetcher names itself inside.
_COMPATIBLE = re.compile(r"\(compatible;\s*([^;/()]+?)\s*[/;)]", re.IGNORECASE)
# `NewsBlur Feed Fetcher - 5 subscribers`, `Tiny Tiny RSS/23.01`, `curl/8.5.0`
_PRODUCT = re.compile(r"[A-Za-z][A-Za-z0-9 ._+-]*?(?=\s*(?:/|\s-\s|\(|;|,|$))")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


@functools.lru_cache(maxsize=4096)  # aggregators send the same few strings all day
def reader_name(agent: str) -> str:
    """The reader a User-Agent names: its product token, or ua-parser's browser family."""
    agent = _UNPRINTABLE.sub("", agent).strip()
    name = ""
    if agent.startswith("Mozilla/"):
        named = _COMPATIBLE.search(agent)
        if named and not named.group(1).upper().startswith("MSIE"):
            name = named.group(1)
        else:
            parsed = ua_parser.parse_user_agent(agent)
            name = parsed.family if parsed and parsed.family != "Other" else ""
    elif matched := _PRODUCT.match(agent):
        name = matched.group(0)
    return name.strip()[:NAME_MAX].strip() or UNKNOWN


@dataclass(slots=True)
class Tally:
    """One feed in one hour, in this process: counts not yet in Redis, and the reader
    names admitted under the cap (kept for the whole hour, across flushes)."""

    requests: int = 0
    not_modified: int = 0
    readers: Counter[str] = field(default_factory=Counter)
    admitted: set[str] = field(default_factory=set)

    def fields(self) -> dict[str, int]:
        out = {REQUESTS: self.requests, NOT_MODIFIED: self.not_modified}
        out.update({READER + name: n for name, n in self.readers.items()})
        return {name: n for name, n in out.items() if n}


class PollCounter:
    """Feed requests counted in memory, added to Redis in one pipeline per flush.

    A request only adds one to a plain dict keyed by what it was (path, hour, 304 or not,
    user agent): naming the reader and the cap on names are done once per distinct key,
    when the counts are folded into the tallies (at a flush, or when RAW_MAX distinct keys
    have gathered), not on the request's path."""

    def __init__(self, clock: Clock, readers_max: int) -> None:
        self.clock = clock
        self.readers_max = readers_max
        self.tallies: dict[tuple[str, int], Tally] = {}
        self.raw: dict[tuple[str, int, bool, str | None], int] = {}

    def count(self, path: str, status: int, agent: str | None) -> None:
        """One request for the feed document at `path`, answered `status`."""
        key = (path, int(self.clock.time()) // HOUR, status == 304, agent)
        raw = self.raw
        raw[key] = raw.get(key, 0) + 1
        if len(raw) >= RAW_MAX:
            self.fold()

    def fold(self) -> None:
        """Add the raw counts to the tallies, naming each distinct agent once, in the
        order the agents first came (the first `readers_max` names of an hour are kept)."""
        raw, self.raw = self.raw, {}
        for (path, hour, not_modified, agent), n in raw.items():
            tally = self.tallies.get((path, hour))
            if tally is None:
                tally = self.tallies[(path, hour)] = Tally()
            tally.requests += n
            if not_modified:
                tally.not_modified += n
            name = reader_name(agent or "")
            if name not in tally.admitted:
                if len(tally.admitted) >= self.readers_max:
                    name = OTHER
                else:
                    tally.admitted.add(name)
            tally.readers[name] += n

    async def flush(self, redis: AnyRedis, ttl: int) -> int:
        """Add the counts so far to Redis in one pipeline; returns the requests written.

        Each hash (and the hour's index of paths) gets a TTL of `ttl` seconds from now.
        When Redis cannot be reached (or a cluster is failing over) the counts stay here
        for the next flush."""
        self.fold()
        pending = {where: tally.fields() for where, tally in self.tallies.items()}
        pending = {where: counts for where, counts in pending.items() if counts}
        current = int(self.clock.time()) // HOUR
        for (path, hour), tally in list(self.tallies.items()):
            if hour < current:  # an hour that is over admits no more names
                del self.tallies[(path, hour)]
            else:
                tally.requests = tally.not_modified = 0
                tally.readers.clear()
        if not pending:
            return 0
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for (path, hour), counts in pending.items():
                    key = keys.polls(hour, path)
                    for name, n in counts.items():
                        pipe.hincrby(key, name, n)
                    pipe.expire(key, ttl)
                    pipe.sadd(keys.polled(hour), path)
                    pipe.expire(keys.polled(hour), ttl)
                await pipe.execute()
        except (*UNREACHABLE, RedisError, RedisClusterException) as exc:
            self._restore(pending)
            log.warning("event=poll_stats_flush_failed feeds=%d error=%s", len(pending), exc)
            return 0
        except BaseException:  # cancelled while writing: the next flush writes them
            self._restore(pending)
            raise
        return sum(counts.get(REQUESTS, 0) for counts in pending.values())

    def _restore(self, pending: dict[tuple[str, int], dict[str, int]]) -> None:
        """Put back counts a flush could not write (their names were admitted before)."""
        for where, counts in pending.items():
            tally = self.tallies.setdefault(where, Tally())
            tally.requests += counts.get(REQUESTS, 0)
            tally.not_modified += counts.get(NOT_MODIFIED, 0)
            for name, n in counts.items():
                if name.startswith(READER):
                    tally.readers[name.removeprefix(READER)] += n
                    tally.admitted.add(name.removeprefix(READER))


POLLS = web.AppKey("feeds_polls", PollCounter)


def setup(app: web.Application) -> None:
    """Count feed requests in app[POLLS] and flush them on an interval and at shutdown."""
    settings = app[SETTINGS].feeds
    app[POLLS] = PollCounter(app[CLOCK], settings.poll_stats_readers)

    async def flushing(app: web.Application) -> AsyncIterator[None]:
        counter, conf = app[POLLS], app[SETTINGS].feeds
        ttl = conf.poll_stats_days * 86400
        stopping = asyncio.Event()

        async def every_interval() -> None:
            """Flush every interval, and once more when stopping (never cut mid-write)."""
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), conf.poll_stats_interval)
                await counter.flush(app[REDIS], ttl)

        task = asyncio.create_task(every_interval())
        yield
        stopping.set()
        await task

    app.cleanup_ctx.append(flushing)


# -- reading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HourCount:
    """One hour of one feed's polling."""

    start: datetime  # the hour's start, UTC
    requests: int
    not_modified: int


@dataclass(frozen=True, slots=True)
class FeedPolling:
    """How one feed document (its URL path, e.g. /feeds/all.rss) was polled."""

    path: str
    hourly: tuple[HourCount, ...]  # every hour asked for, oldest first, zeros included
    requests: int
    not_modified: int
    readers: tuple[tuple[str, int], ...]  # the top reader names with their requests, most first

    @property
    def share_not_modified(self) -> float:
        """The share of requests answered 304 (0.0 to 1.0; 0.0 without requests)."""
        return self.not_modified / self.requests if self.requests else 0.0


async def report(
    redis: AnyRedis,
    now: float,
    hours: int = 24,
    top: int = 10,
    paths: Iterable[str] = (),
) -> list[FeedPolling]:
    """Polling of every feed polled in the `hours` hours up to `now` (Unix seconds; the
    current hour counts as one), and of each of `paths` polled or not, busiest first.

    `redis` is the text client (app[REDIS]). Counts reach Redis every
    `feeds.poll_stats_interval` seconds, so the last few seconds may be missing."""
    current = int(now) // HOUR
    span = range(current - hours + 1, current + 1)
    async with redis.pipeline(transaction=False) as pipe:
        for hour in span:
            pipe.smembers(keys.polled(hour))
        members: list[set[str]] = await pipe.execute()
    wanted = [(path, hour) for hour, paths in zip(span, members, strict=True) for path in paths]
    async with redis.pipeline(transaction=False) as pipe:
        for path, hour in wanted:
            pipe.hgetall(keys.polls(hour, path))
        rows: list[dict[str, str]] = await pipe.execute() if wanted else []
    by_path: dict[str, dict[int, dict[str, str]]] = {path: {} for path in paths}
    for (path, hour), row in zip(wanted, rows, strict=True):
        by_path.setdefault(path, {})[hour] = row
    out = [_feed(path, hourly, span, top) for path, hourly in by_path.items()]
    return sorted(out, key=lambda feed: (-feed.requests, feed.path))


def _feed(path: str, rows: dict[int, dict[str, str]], span: range, top: int) -> FeedPolling:
    series = tuple(
        HourCount(
            datetime.fromtimestamp(hour * HOUR, UTC),
            int(rows.get(hour, {}).get(REQUESTS, 0)),
            int(rows.get(hour, {}).get(NOT_MODIFIED, 0)),
        )
        for hour in span
    )
    readers: Counter[str] = Counter()
    for row in rows.values():
        for name, n in row.items():
            if name.startswith(READER):
                readers[name.removeprefix(READER)] += int(n)
    best = heapq.nsmallest(top, readers.items(), key=lambda item: (-item[1], item[0]))
    return FeedPolling(
        path,
        series,
        sum(hour.requests for hour in series),
        sum(hour.not_modified for hour in series),
        tuple(best),
    )
