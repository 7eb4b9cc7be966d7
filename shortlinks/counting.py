"""Counting visits after the response, and reading the counts back.

A redirect only appends its visit to an in-memory queue. A background writer drains the
queue in batches: it classifies each visit, hashes the visitor with the day's salt, and
writes the whole batch in two pipelined round trips. A failed write never reaches a
redirect: when Redis is unreachable the batch goes back to the queue and is written when
Redis answers again (at least once: a pipeline cut mid-way may count some visits twice).
The queue is bounded: past it the oldest visits are dropped and counted in a log line,
rather than memory growing without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter, deque
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from finews.metrics import REDIS_ERRORS
from finews.redis_client import UNREACHABLE
from shortlinks import keys
from shortlinks.visits import Visit, bot_name, source, visitor

log = logging.getLogger("finews.shortlinks")

SALT_TTL = 2 * 86400  # yesterday's salt must outlive visits queued just before midnight
# Each day's distinct visitors, then the whole range's, in one round trip. One link's
# sketches share a hash tag, so the script is legal on Cluster (pipelined PFCOUNT is not).
COUNT_VISITORS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('PFCOUNT', key) end
out[#KEYS + 1] = redis.call('PFCOUNT', unpack(KEYS))
return out
"""


class Salts:
    """The day's random salt, shared by every process through Redis, cached in each."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._known: dict[str, str] = {}

    async def get(self, day: str) -> str:
        salt = self._known.get(day)
        if salt is None:
            await self.redis.set(keys.salt(day), secrets.token_hex(16), nx=True, ex=SALT_TTL)
            salt = await self.redis.get(keys.salt(day))
            if len(self._known) > 3:
                self._known.clear()
            self._known[day] = salt
        return salt


class VisitWriter:
    """The background writer of visit counts (see the module docstring)."""

    def __init__(self, redis: Any, salts: Salts, zone: ZoneInfo, site_host: str, *,
                 window: int, batch: int, interval: float, max_pending: int) -> None:
        self.redis = redis
        self.salts = salts
        self.zone = zone
        self.site_host = site_host
        self.window = window
        self.batch = batch
        self.interval = interval
        self.pending: deque[Visit] = deque()
        self.max_pending = max_pending
        self.dropped = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def record(self, visit: Visit) -> None:
        """Queue a visit; O(1), no I/O: this runs on the redirect path."""
        if len(self.pending) >= self.max_pending:
            self.pending.popleft()
            self.dropped += 1
        self.pending.append(visit)
        if len(self.pending) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop the loop after its current write, then write what is still queued."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()

    async def _run(self) -> None:
        """Flush every `interval` seconds, or sooner when a full batch waits."""
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Write the visits queued so far; returns how many were taken. Never raises."""
        taken, queued = 0, len(self.pending)
        while taken < queued and self.pending:
            size = min(self.batch, queued - taken, len(self.pending))
            batch = [self.pending.popleft() for _ in range(size)]
            taken += size
            try:
                await self._write(batch)
            except UNREACHABLE as exc:
                self.pending.extendleft(reversed(batch))  # written when Redis is back
                while len(self.pending) > self.max_pending:
                    self.pending.popleft()
                    self.dropped += 1
                REDIS_ERRORS.labels("shortlinks").inc()
                log.warning("event=visits_deferred count=%d reason=%s", len(batch),
                            type(exc).__name__)
                break
            except Exception as exc:  # counting must never take the service down
                log.error("event=visits_lost count=%d reason=%s", len(batch),
                          f"{type(exc).__name__}: {exc}")
        if self.dropped:
            log.warning("event=visits_dropped count=%d reason=queue_full", self.dropped)
            self.dropped = 0
        return taken

    async def _write(self, batch: list[Visit]) -> None:
        """One pipeline: a repeat-window marker per distinct visitor, one PFADD per link
        and day, one HINCRBY per counter; then the unique clicks those markers decided."""
        counts: Counter[tuple[str, str]] = Counter()
        firsts: dict[tuple[str, str], str] = {}          # (code, visitor) -> day
        sketches: dict[tuple[str, str], set[str]] = {}  # (code, day) -> visitors
        days: dict[int, str] = {}                       # minute -> day in the site's zone
        salts: dict[str, str] = {}
        for visit in batch:
            minute = int(visit.at) // 60
            day = days.get(minute)
            if day is None:
                day = days[minute] = datetime.fromtimestamp(visit.at, self.zone).strftime("%Y%m%d")
            bot = bot_name(visit.agent)
            if bot is not None:
                counts.update([(visit.code, "b"), (visit.code, f"{day}:b"),
                               (visit.code, f"{day}:bot:{bot}")])
                continue
            if day not in salts:
                salts[day] = await self.salts.get(day)
            who = visitor(salts[day], visit.address, visit.agent)
            firsts.setdefault((visit.code, who), day)
            sketches.setdefault((visit.code, day), set()).add(who)
            counts.update([(visit.code, "h"), (visit.code, f"{day}:h"),
                           (visit.code, f"{day}:src:{source(visit, self.site_host)}")])
        pipe = self.redis.pipeline(transaction=False)
        for code, who in firsts:
            pipe.set(keys.seen(code, who), 1, nx=True, ex=self.window)
        for (code, day), people in sketches.items():
            pipe.pfadd(keys.visitors(code, day), *people)
        for (code, field), n in counts.items():
            pipe.hincrby(keys.stats(code), field, n)
        replies = await pipe.execute(raise_on_error=False)
        unique: Counter[tuple[str, str]] = Counter()
        for ((code, _), day), first in zip(firsts.items(), replies):
            if first is True:
                unique.update([(code, "u"), (code, f"{day}:u")])
        if unique:
            pipe = self.redis.pipeline(transaction=False)
            for (code, field), n in unique.items():
                pipe.hincrby(keys.stats(code), field, n)
            replies += await pipe.execute(raise_on_error=False)
        errors = [r for r in replies if isinstance(r, Exception)]
        if errors:
            log.error("event=visits_write_errors count=%d first=%s", len(errors), errors[0])


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def read_stats(redis: Any, code: str, first: date, last: date) -> dict[str, Any]:
    """Per-day and range totals for people (clicks, unique clicks, visitors, sources)
    and, apart, for bots by name; plus all-time totals."""
    fields = {k: int(v) for k, v in (await redis.hgetall(keys.stats(code))).items()}
    days = _days(first, last)
    active = [d for d in days if f"{d:%Y%m%d}:h" in fields]
    sketches = [keys.visitors(code, f"{d:%Y%m%d}") for d in active]
    counted = await redis.eval(COUNT_VISITORS, len(sketches), *sketches) if active else [0]
    per_visitors = dict(zip(active, counted))
    rows, sources, bots = [], Counter(), Counter()
    for d in days:
        tag = f"{d:%Y%m%d}:"
        day_sources = {k[len(tag) + 4:]: v for k, v in fields.items() if k.startswith(tag + "src:")}
        day_bots = {k[len(tag) + 4:]: v for k, v in fields.items() if k.startswith(tag + "bot:")}
        sources.update(day_sources)
        bots.update(day_bots)
        rows.append({"date": d.isoformat(), "clicks": fields.get(tag + "h", 0),
                     "unique_clicks": fields.get(tag + "u", 0),
                     "visitors": per_visitors.get(d, 0), "sources": day_sources,
                     "bots": fields.get(tag + "b", 0), "bot_names": day_bots})
    return {
        "code": code, "from": first.isoformat(), "to": last.isoformat(),
        "totals": {"clicks": sum(r["clicks"] for r in rows),
                   "unique_clicks": sum(r["unique_clicks"] for r in rows),
                   "visitors": counted[-1], "sources": dict(sources),
                   "bots": sum(r["bots"] for r in rows), "bot_names": dict(bots)},
        "all_time": {"clicks": fields.get("h", 0), "unique_clicks": fields.get("u", 0),
                     "bots": fields.get("b", 0)},
        "days": rows,
    }
