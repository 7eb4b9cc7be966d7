"""Counting visits after the response, exactly once, and reading the counts back.

A redirect only appends its visit to an in-memory queue. A background writer drains the
queue in numbered batches: it classifies each visit, hashes the visitor with the day's
salt, and applies each link's share of the batch with one Lua script (APPLY_VISITS), all
links pipelined in one round trip. A failed write never reaches a redirect.

Exactly once: a timeout does not say whether Redis applied a batch (a stalled server runs
the commands later), so an unanswered batch is kept and sent again with the same number,
before anything newer, until Redis answers. In the same script that applies the counts,
each link records the last batch number of this writer it applied
(`finews:shortlinks:{CODE}:done:W`, kept a day); a replay at or below it applies
nothing. One script per link keeps every key of a call in the link's hash tag, so this
holds on Redis Cluster too. Counts stay
exact across timeouts and Redis restarts that keep their data; what a finews process held
in memory is lost if that process dies (logged on shutdown).

The queue is bounded: past `visit_queue_max` the oldest waiting visits are dropped and
counted in a log line, rather than memory growing without end.

Sources named after a referrer's host are whatever clients send: per link and day at most
`sources_max` of them get their own field, the rest add to `other` (the fixed source names
of shortlinks.visits are always kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from finews.core.metrics import REDIS_ERRORS
from finews.core.redis_client import UNREACHABLE, AnyRedis
from shortlinks import keys
from shortlinks.visits import KNOWN_SOURCES, Visit, bot_name, source, visitor

log = logging.getLogger("finews.shortlinks")

SALT_TTL = 2 * 86400  # yesterday's salt must outlive visits queued just before midnight
REPLAY_TTL = 86400  # a batch held longer than this by an outage could count twice
SOURCES_TTL = 2 * 86400  # a day's source counter only matters while that day is written
# Each day's distinct visitors, then the whole range's, in one round trip. One link's
# sketches share a hash tag, so the script is legal on Cluster (pipelined PFCOUNT is not).
COUNT_VISITORS = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('PFCOUNT', key) end
out[#KEYS + 1] = redis.call('PFCOUNT', unpack(KEYS))
return out
"""
# One link's share of batch ARGV[1], applied at most once. KEYS: the writer's last applied
# batch, the stats hash, per day the visitor sketch and the count of host-named sources,
# then one repeat-window marker per visitor. ARGV: batch number, its marker's TTL, repeat
# window, sources cap, the source counter's TTL, then JSON {counts: {field: n}, days:
# [{day, uv: [visitor], sources: [[name, n]]}], seen: [index into days, per marker]}.
APPLY_VISITS = """
if tonumber(ARGV[1]) <= tonumber(redis.call('GET', KEYS[1]) or '0') then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local stats, cap, batch = KEYS[2], tonumber(ARGV[4]), cjson.decode(ARGV[6])
for name, n in pairs(batch.counts) do redis.call('HINCRBY', stats, name, n) end
for i, day in ipairs(batch.days) do
  local sketch, named = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  for j = 1, #day.uv, 1000 do
    redis.call('PFADD', sketch, unpack(day.uv, j, math.min(j + 999, #day.uv)))
  end
  for _, pair in ipairs(day.sources) do
    local name = day.day .. ':src:' .. pair[1]
    if redis.call('HEXISTS', stats, name) == 0 then
      if tonumber(redis.call('GET', named) or '0') < cap then
        redis.call('INCR', named)
        redis.call('EXPIRE', named, ARGV[5])
      else
        name = day.day .. ':src:other'
      end
    end
    redis.call('HINCRBY', stats, name, pair[2])
  end
end
local first, unique = 2 + 2 * #batch.days, {}
for i, d in ipairs(batch.seen) do
  if redis.call('SET', KEYS[first + i], 1, 'NX', 'EX', ARGV[3]) then
    unique[d] = (unique[d] or 0) + 1
  end
end
for d, n in pairs(unique) do
  redis.call('HINCRBY', stats, 'u', n)
  redis.call('HINCRBY', stats, batch.days[d].day .. ':u', n)
end
return 1
"""
APPLY_SHA = hashlib.sha1(APPLY_VISITS.encode()).hexdigest()


class Salts:
    """The day's random salt, shared by every process through Redis, cached in each."""

    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis
        self._known: dict[str, str] = {}

    async def get(self, day: str) -> str:
        salt = self._known.get(day)
        if salt is None:
            await self.redis.set(keys.salt(day), secrets.token_hex(16), nx=True, ex=SALT_TTL)
            # the decoding client: a str, set just above (redis-py's types cannot tell)
            salt = cast(str, await self.redis.get(keys.salt(day)))
            if len(self._known) > 3:
                self._known.clear()
            self._known[day] = salt
        return salt


@dataclass
class Share:
    """One link's part of a batch: plain counters, people per day, first day per visitor."""

    counts: Counter[str] = field(default_factory=Counter)
    days: dict[str, tuple[set[str], Counter[str]]] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    def call(
        self, code: str, writer: str, number: int, window: int, sources_max: int
    ) -> tuple[list[str], list[Any]]:
        """The keys and arguments of APPLY_VISITS for this share."""
        index = {day: i for i, day in enumerate(self.days, 1)}
        names = [keys.done(code, writer), keys.stats(code)]
        for day in self.days:
            names += [keys.visitors(code, day), keys.source_count(code, day)]
        names += [keys.seen(code, who) for who in self.seen]
        payload = {
            "counts": self.counts,
            "days": [
                {"day": day, "uv": sorted(people), "sources": list(named.items())}
                for day, (people, named) in self.days.items()
            ],
            "seen": [index[day] for day in self.seen.values()],
        }
        return names, [
            number,
            REPLAY_TTL,
            window,
            sources_max,
            SOURCES_TTL,
            json.dumps(payload, separators=(",", ":")),
        ]


class VisitWriter:
    """The background writer of visit counts (see the module docstring)."""

    def __init__(
        self,
        redis: AnyRedis,
        salts: Salts,
        zone: ZoneInfo,
        site_host: str,
        *,
        window: int,
        batch: int,
        interval: float,
        max_pending: int,
        sources_max: int,
    ) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)  # its pipelines refuse EVALSHA
        self.salts = salts
        self.zone = zone
        self.site_host = site_host
        self.window = window
        self.batch = batch
        self.interval = interval
        self.sources_max = sources_max
        self.pending: deque[Visit] = deque()
        self.max_pending = max_pending
        self.dropped = 0
        self.id = secrets.token_hex(8)  # this writer's batches are (id, number)
        self.number = 0
        self.held: list[Visit] = []  # batch `number`, sent and not yet answered
        self._lock = asyncio.Lock()  # one batch at a time: numbers reach Redis in order
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
        left = len(self.held) + len(self.pending)
        if left:
            log.error("event=visits_lost count=%d reason=redis_unreachable_at_shutdown", left)

    async def _run(self) -> None:
        """Flush every `interval` seconds, or sooner when a full batch waits."""
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Send the held batch again, then the visits queued so far; returns how many visits
        Redis answered for (written, or lost to an error). Never raises."""
        async with self._lock:
            answered, queued = 0, len(self.pending)
            while self.held or (queued > 0 and self.pending):
                if not self.held:
                    size = min(self.batch, queued, len(self.pending))
                    self.held = [self.pending.popleft() for _ in range(size)]
                    queued -= size
                    self.number += 1
                try:
                    await self._write(self.number, self.held)
                except UNREACHABLE as exc:  # kept, and sent again when Redis answers
                    REDIS_ERRORS.labels("shortlinks").inc()
                    log.warning(
                        "event=visits_deferred count=%d batch=%s:%d reason=%s",
                        len(self.held),
                        self.id,
                        self.number,
                        type(exc).__name__,
                    )
                    break
                except Exception as exc:  # counting must never take the service down
                    log.error(
                        "event=visits_lost count=%d reason=%s",
                        len(self.held),
                        f"{type(exc).__name__}: {exc}",
                    )
                answered += len(self.held)
                self.held = []
            if self.dropped:
                log.warning("event=visits_dropped count=%d reason=queue_full", self.dropped)
                self.dropped = 0
            return answered

    async def _shares(self, batch: list[Visit]) -> dict[str, Share]:
        """Split a batch by link, classified and counted."""
        shares: dict[str, Share] = {}
        days: dict[int, str] = {}  # minute -> day in the site's zone
        salts: dict[str, str] = {}
        for visit in batch:
            share = shares.get(visit.code) or shares.setdefault(visit.code, Share())
            minute = int(visit.at) // 60
            day = days.get(minute)
            if day is None:
                day = days[minute] = datetime.fromtimestamp(visit.at, self.zone).strftime("%Y%m%d")
            bot = bot_name(visit.agent)
            if bot is not None:
                share.counts.update(("b", f"{day}:b", f"{day}:bot:{bot}"))
                continue
            if day not in salts:
                salts[day] = await self.salts.get(day)
            who = visitor(salts[day], visit.address, visit.agent)
            share.seen.setdefault(who, day)
            people, named = share.days.setdefault(day, (set(), Counter()))
            people.add(who)
            share.counts.update(("h", f"{day}:h"))
            name = source(visit, self.site_host)
            if name in KNOWN_SOURCES:
                share.counts[f"{day}:src:{name}"] += 1
            else:
                named[name] += 1
        return shares

    async def _write(self, number: int, batch: list[Visit]) -> None:
        """Batch `number` as one APPLY_VISITS call per link, pipelined; raises UNREACHABLE
        when any call went unanswered (the batch is then sent again as a whole)."""
        calls = [
            share.call(code, self.id, number, self.window, self.sources_max)
            for code, share in (await self._shares(batch)).items()
        ]
        replies = await self._send(calls)
        missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:  # a restarted server forgot the script: nothing of these ran
            await self.redis.script_load(APPLY_VISITS)
            for n, reply in zip(
                missing, await self._send([calls[n] for n in missing]), strict=False
            ):
                replies[n] = reply
        errors = [r for r in replies if isinstance(r, Exception)]
        for error in errors:
            if isinstance(error, UNREACHABLE):
                raise error
        if errors:
            log.error("event=visits_write_errors count=%d first=%s", len(errors), errors[0])

    async def _send(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for names, args in calls:
            if self.cluster:
                pipe.eval(APPLY_VISITS, len(names), *names, *args)
            else:
                pipe.evalsha(APPLY_SHA, len(names), *names, *args)
        return await pipe.execute(raise_on_error=False)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def read_stats(redis: AnyRedis, code: str, first: date, last: date) -> dict[str, Any]:
    """Per-day and range totals for people (clicks, unique clicks, visitors, sources)
    and, apart, for bots by name; plus all-time totals."""
    stored = cast(dict[str, str], await redis.hgetall(keys.stats(code)))  # a decoding client
    fields = {k: int(v) for k, v in stored.items()}
    days = _days(first, last)
    active = [d for d in days if f"{d:%Y%m%d}:h" in fields]
    sketches = [keys.visitors(code, f"{d:%Y%m%d}") for d in active]
    counted = await redis.eval(COUNT_VISITORS, len(sketches), *sketches) if active else [0]
    per_visitors = dict(zip(active, counted, strict=False))
    rows: list[dict[str, Any]] = []
    sources: Counter[str] = Counter()
    bots: Counter[str] = Counter()
    for d in days:
        tag = f"{d:%Y%m%d}:"
        day_sources = {
            k[len(tag) + 4 :]: v for k, v in fields.items() if k.startswith(tag + "src:")
        }
        day_bots = {k[len(tag) + 4 :]: v for k, v in fields.items() if k.startswith(tag + "bot:")}
        sources.update(day_sources)
        bots.update(day_bots)
        rows.append(
            {
                "date": d.isoformat(),
                "clicks": fields.get(tag + "h", 0),
                "unique_clicks": fields.get(tag + "u", 0),
                "visitors": per_visitors.get(d, 0),
                "sources": day_sources,
                "bots": fields.get(tag + "b", 0),
                "bot_names": day_bots,
            }
        )
    return {
        "code": code,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "totals": {
            "clicks": sum(r["clicks"] for r in rows),
            "unique_clicks": sum(r["unique_clicks"] for r in rows),
            "visitors": counted[-1],
            "sources": dict(sources),
            "bots": sum(r["bots"] for r in rows),
            "bot_names": dict(bots),
        },
        "all_time": {
            "clicks": fields.get("h", 0),
            "unique_clicks": fields.get("u", 0),
            "bots": fields.get("b", 0),
        },
        "days": rows,
    }
