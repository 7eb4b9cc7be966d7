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

Each batch also updates the site-wide keys (hourly leaderboards per code and source, and the
visit event stream) with one more script, APPLY_SITE, in the `{site}` hash tag, guarded the
same way by `finews:shortlinks:{site}:done:W`: a replay adds no event and no click twice.
Hourly buckets, day hashes and per-day sketches expire by TTL (`hourly_days`,
`retention_days`); only the all-time totals (`h`, `u`, `b` in the stats hash) are kept for
good. The site script also bumps each listed code's all-time clicks in the `clicks` index
that `GET /api/links?sort=clicks` pages.

The queue is bounded: past `visit_queue_max` the oldest waiting visits are dropped and
counted in a log line, rather than memory growing without end.

Sources named after a referrer's host are whatever clients send: per link and day at most
`sources_max` of them get their own field, the rest add to `other` (the fixed source names
of shortlinks.visits are always kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import secrets
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from finews.core.metrics import REDIS_ERRORS
from finews.core.redis_client import UNREACHABLE, AnyRedis
from shortlinks import keys
from shortlinks.visits import KNOWN_SOURCES, Kind, Visit, classify, visitor

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
# batch, the stats hash, the buckets index, per day the visitor sketch, the count of
# host-named sources, the agents hash and the day hash, per hour its hash and visitor
# sketch, then one repeat-window marker per visitor. ARGV: batch number, its marker's TTL,
# repeat window, sources cap, the source counter's TTL, the day keys' TTL, the hour keys'
# TTL, then JSON {counts: {field: n}, days: [{day, uv: [visitor], counts: {field: n},
# agents: {field: n}, named: [[name, n, hour index]]}], hours: [{hour, uv: [visitor],
# counts: {field: n}}], seen: [index into days, per marker]}. The buckets index records
# when each day and hour bucket expires (and forgets the expired), so export finds them.
APPLY_VISITS = """
if tonumber(ARGV[1]) <= tonumber(redis.call('GET', KEYS[1]) or '0') then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local stats, buckets, cap, batch = KEYS[2], KEYS[3], tonumber(ARGV[4]), cjson.decode(ARGV[8])
local now = tonumber(redis.call('TIME')[1])
local hours = 3 + 4 * #batch.days
local function pfadd(key, people, ttl)
  for j = 1, #people, 1000 do
    redis.call('PFADD', key, unpack(people, j, math.min(j + 999, #people)))
  end
  if #people > 0 then redis.call('EXPIRE', key, ttl) end
end
for name, n in pairs(batch.counts) do redis.call('HINCRBY', stats, name, n) end
for i, hour in ipairs(batch.hours) do
  local counts = KEYS[hours + 2 * i - 1]
  for name, n in pairs(hour.counts) do redis.call('HINCRBY', counts, name, n) end
  redis.call('EXPIRE', counts, ARGV[7])
  redis.call('ZADD', buckets, now + tonumber(ARGV[7]), 'h:' .. hour.hour)
  pfadd(KEYS[hours + 2 * i], hour.uv, ARGV[7])
end
for i, day in ipairs(batch.days) do
  local k = 4 * i
  local named, agents, counts = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  pfadd(KEYS[k], day.uv, ARGV[6])
  for name, n in pairs(day.agents) do redis.call('HINCRBY', agents, name, n) end
  redis.call('EXPIRE', agents, ARGV[6])
  for name, n in pairs(day.counts) do redis.call('HINCRBY', counts, name, n) end
  for _, entry in ipairs(day.named) do
    local name = entry[1]
    if redis.call('HEXISTS', counts, 'src:' .. name) == 0 then
      if tonumber(redis.call('GET', named) or '0') < cap then
        redis.call('INCR', named)
        redis.call('EXPIRE', named, ARGV[5])
      else
        name = 'other'
      end
    end
    redis.call('HINCRBY', counts, 'src:' .. name, entry[2])
    redis.call('HINCRBY', KEYS[hours + 2 * entry[3] - 1], 'src:' .. name, entry[2])
  end
  redis.call('EXPIRE', counts, ARGV[6])
  redis.call('ZADD', buckets, now + tonumber(ARGV[6]), 'd:' .. day.day)
end
redis.call('ZREMRANGEBYSCORE', buckets, '-inf', now)
redis.call('EXPIRE', buckets, math.max(tonumber(ARGV[6]), tonumber(ARGV[7])))
local first, unique = hours + 2 * #batch.hours, {}
for i, d in ipairs(batch.seen) do
  if redis.call('SET', KEYS[first + i], 1, 'NX', 'EX', ARGV[3]) then
    unique[d] = (unique[d] or 0) + 1
  end
end
for d, n in pairs(unique) do
  redis.call('HINCRBY', stats, 'u', n)
  redis.call('HINCRBY', KEYS[4 * d + 3], 'u', n)
end
return 1
"""
# The site-wide share of batch ARGV[1], applied at most once, in the site's hash tag.
# KEYS: the writer's last applied batch, the event stream, the all-time clicks index (only
# codes already in it, i.e. listed, are bumped), the count of events in the stream, then
# per hour its leaderboard, its sources, its count of host-named sources and its `other`
# leaderboard, then the per-source leaderboards. ARGV: batch number, its marker's TTL,
# leaderboard TTL, sources cap, events_max, events_days in seconds, JSON {hours: [{k: index
# of the hour's first key, top: {code: n}, src: [[name, code, n, key index, capped 0|1]]}]},
# then per link its code, its number of events and their JSON rows: one stream entry per
# link and batch, not one per visit, which was most of a batch's time in Redis.
# The stream is trimmed by events: whole entries from the oldest while it holds more than
# events_max or they are older than events_days. An entry without `n` (written by an
# earlier release) is one event; a stream without its count is counted so once.
APPLY_SITE = """
if tonumber(ARGV[1]) <= tonumber(redis.call('GET', KEYS[1]) or '0') then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local ttl, cap, batch = ARGV[3], tonumber(ARGV[4]), cjson.decode(ARGV[7])
for _, hour in ipairs(batch.hours) do
  local top, sources, named = KEYS[hour.k], KEYS[hour.k + 1], KEYS[hour.k + 2]
  for code, n in pairs(hour.top) do
    redis.call('ZINCRBY', top, n, code)
    redis.call('ZADD', KEYS[3], 'XX', 'INCR', n, code)
  end
  redis.call('EXPIRE', top, ttl)
  for _, e in ipairs(hour.src) do
    local name, board = e[1], KEYS[e[4]]
    if e[5] == 1 and not redis.call('ZSCORE', sources, name) then
      if tonumber(redis.call('GET', named) or '0') < cap then
        redis.call('INCR', named)
        redis.call('EXPIRE', named, ttl)
      else
        name, board = 'other', KEYS[hour.k + 3]
      end
    end
    redis.call('ZINCRBY', sources, e[3], name)
    redis.call('EXPIRE', sources, ttl)
    redis.call('ZINCRBY', board, e[3], e[2])
    redis.call('EXPIRE', board, ttl)
  end
end
if #ARGV < 8 then return 1 end
local held = tonumber(redis.call('GET', KEYS[4]) or redis.call('XLEN', KEYS[2]))
for i = 8, #ARGV, 3 do
  redis.call('XADD', KEYS[2], '*', 'code', ARGV[i], 'n', ARGV[i + 1], 'v', ARGV[i + 2])
  held = held + tonumber(ARGV[i + 1])
end
local oldest = (tonumber(redis.call('TIME')[1]) - tonumber(ARGV[6])) * 1000
local most, start, keep, size = tonumber(ARGV[5]), '-', nil, 1
repeat
  local page = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', size)
  for _, entry in ipairs(page) do
    if held <= most and tonumber(string.match(entry[1], '^%d+')) >= oldest then
      keep = entry[1]
      break
    end
    local fields = entry[2]  -- code, n, v; an earlier release's entry: t, code, ...
    held = held - (fields[3] == 'n' and tonumber(fields[4]) or 1)
  end
  if #page > 0 then start = '(' .. page[#page][1] end
  size = 32
until keep or #page == 0
if keep then
  redis.call('XTRIM', KEYS[2], 'MINID', keep)
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[4], held)
return 1
"""
SCRIPTS = {hashlib.sha1(text.encode()).hexdigest(): text for text in (APPLY_VISITS, APPLY_SITE)}
APPLY_SHA, SITE_SHA = SCRIPTS
BOARD_TTL = 7 * 86400 + 2 * 3600  # the longest leaderboard window, and the hour it started in


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


class Keep(NamedTuple):
    """How long and how much of the counts the writer keeps (the `[shortlinks]` settings)."""

    repeat_window: int = 1800
    sources_max: int = 50
    hourly_days: int = 14
    retention_days: int = 400
    events_max: int = 100_000
    events_days: int = 30


@dataclass
class Day:
    """One link's visits of one day in a batch."""

    people: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)  # the day hash's fields
    agents: Counter[str] = field(default_factory=Counter)
    named: Counter[tuple[str, str]] = field(default_factory=Counter)  # (name, hour) -> n


@dataclass
class Share:
    """One link's part of a batch: all-time counters, per day and per hour, first day per
    visitor."""

    counts: Counter[str] = field(default_factory=Counter)
    days: dict[str, Day] = field(default_factory=dict)
    hours: dict[str, tuple[set[str], Counter[str]]] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)

    def call(self, code: str, writer: str, number: int, conf: Keep) -> tuple[list[str], list[Any]]:
        """The keys and arguments of APPLY_VISITS for this share."""
        index = {day: i for i, day in enumerate(self.days, 1)}
        hour_index = {hour: i for i, hour in enumerate(self.hours, 1)}
        names = [keys.done(code, writer), keys.stats(code), keys.buckets(code)]
        for day in self.days:
            names += [
                keys.visitors(code, day),
                keys.source_count(code, day),
                keys.agents(code, day),
                keys.day(code, day),
            ]
        for hour in self.hours:
            names += [keys.hour(code, hour), keys.hour_visitors(code, hour)]
        names += [keys.seen(code, who) for who in self.seen]
        payload = {
            "counts": self.counts,
            "days": [
                {
                    "day": day,
                    "uv": sorted(d.people),
                    "counts": d.counts,
                    "agents": d.agents,
                    "named": [[name, n, hour_index[hour]] for (name, hour), n in d.named.items()],
                }
                for day, d in self.days.items()
            ],
            "hours": [
                {"hour": hour, "uv": sorted(people), "counts": counts}
                for hour, (people, counts) in self.hours.items()
            ],
            "seen": [index[day] for day in self.seen.values()],
        }
        return names, [
            number,
            REPLAY_TTL,
            conf.repeat_window,
            conf.sources_max,
            SOURCES_TTL,
            conf.retention_days * 86400,
            conf.hourly_days * 86400,
            json.dumps(payload, separators=(",", ":")),
        ]


@dataclass
class Site:
    """The site-wide part of a batch: per hour clicks per code and per source, and the
    visit events."""

    top: dict[str, Counter[str]] = field(default_factory=dict)
    sources: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    events: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # code -> rows

    def add(self, hour: str, code: str, name: str, n: int = 1) -> None:
        self.top.setdefault(hour, Counter())[code] += n
        self.sources.setdefault(hour, Counter())[name, code] += n

    def call(self, writer: str, number: int, conf: Keep) -> tuple[list[str], list[Any]]:
        """The keys and arguments of APPLY_SITE."""
        names = [keys.site_done(writer), keys.EVENTS, keys.CLICKS, keys.EVENTS_HELD]
        hours: list[dict[str, Any]] = []
        for hour in self.top.keys() | self.sources.keys():
            first = len(names) + 1
            names += [
                keys.top(hour),
                keys.site_sources(hour),
                keys.site_source_count(hour),
                keys.top(hour, "other"),
            ]
            hours.append({"k": first, "top": self.top.get(hour, {}), "src": []})
            boards: dict[str, int] = {}
            for (name, code), n in self.sources.get(hour, Counter()).items():
                if name not in boards:
                    names.append(keys.top(hour, name))
                    boards[name] = len(names)
                capped = int(name not in KNOWN_SOURCES)
                hours[-1]["src"].append([name, code, n, boards[name], capped])
        payload = {"hours": hours}
        events: list[Any] = []
        for code, rows in self.events.items():
            events += (code, len(rows), json.dumps(rows, separators=(",", ":")))
        return names, [
            number,
            REPLAY_TTL,
            BOARD_TTL,
            conf.sources_max,
            conf.events_max,
            conf.events_days * 86400,
            json.dumps(payload, separators=(",", ":")),
            *events,
        ]


@functools.lru_cache(maxsize=4096)
def event_fields(kind: Kind) -> tuple[str, ...]:
    """A visit event's values after its time and code (source, campaign, device,
    browser, os, bot): no address, no user agent."""
    agent = kind.agent
    bot = "1" if kind.bot is not None else "0"
    return (kind.source, kind.campaign, agent.device, agent.browser, agent.os, bot)


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
        keep: Keep | None = None,
    ) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)  # its pipelines refuse EVALSHA
        self.salts = salts
        self.zone = zone
        self.site_host = site_host
        self.batch = batch
        self.interval = interval
        self.keep = (keep or Keep())._replace(repeat_window=window, sources_max=sources_max)
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

    async def _shares(self, batch: list[Visit]) -> tuple[dict[str, Share], Site]:
        """Split a batch by link, classified and counted; and its site-wide part.

        Visitors are hashed and first seen in the batch's order; the counters are added
        once per group of visits alike (link, day, hour, classification), since a batch
        from one popular link is mostly the same few groups."""
        shares: dict[str, Share] = {}
        site = Site()
        hours: dict[int, str] = {}  # UTC hour number -> its key
        days: dict[int, str] = {}  # minute -> day in the site's zone
        stamps: dict[int, str] = {}  # second -> the event's time
        salts: dict[str, str] = {}
        groups: Counter[tuple[str, str, str, Kind]] = Counter()
        for visit in batch:
            share = shares.get(visit.code) or shares.setdefault(visit.code, Share())
            second = int(visit.at)
            minute = second // 60
            day = days.get(minute)
            if day is None:
                day = days[minute] = datetime.fromtimestamp(visit.at, self.zone).strftime("%Y%m%d")
            hour = hours.get(minute // 60)
            if hour is None:
                hour = hours[minute // 60] = hour_key(minute * 60)
            stamp = stamps.get(second)
            if stamp is None:
                stamp = stamps[second] = self._stamp(second)
            kind = classify(visit, self.site_host)
            groups[visit.code, day, hour, kind] += 1
            rows = site.events.get(visit.code) or site.events.setdefault(visit.code, [])
            rows.append((stamp, *event_fields(kind)))
            if kind.bot is not None:
                continue
            if day not in salts:
                salts[day] = await self.salts.get(day)
            who = visitor(salts[day], visit.address, visit.agent)
            share.seen.setdefault(who, day)
            share.days.setdefault(day, Day()).people.add(who)
            share.hours.setdefault(hour, (set(), Counter()))[0].add(who)
        for (code, day, hour, kind), n in groups.items():
            share = shares[code]
            counts = share.hours.setdefault(hour, (set(), Counter()))[1]
            today = share.days.get(day) or share.days.setdefault(day, Day())
            agent = kind.agent
            for name in (f"dev:{agent.device}", f"br:{agent.browser}", f"os:{agent.os}"):
                today.agents[name] += n
            if kind.bot is not None:
                share.counts["b"] += n
                today.counts.update({"b": n, f"bot:{kind.bot}": n})
                counts["b"] += n
                continue
            share.counts["h"] += n
            today.counts["h"] += n
            counts["h"] += n
            if kind.source in KNOWN_SOURCES:
                today.counts[f"src:{kind.source}"] += n
                counts[f"src:{kind.source}"] += n
            else:
                today.named[kind.source, hour] += n
            site.add(hour, code, kind.source, n)
        return shares, site

    def _stamp(self, second: int) -> str:
        """An event's time: the site's zone, to the second."""
        return datetime.fromtimestamp(second, self.zone).isoformat(timespec="seconds")

    async def _write(self, number: int, batch: list[Visit]) -> None:
        """Batch `number` as one APPLY_VISITS call per link and one APPLY_SITE call,
        pipelined; raises UNREACHABLE when any call went unanswered (the batch is then sent
        again as a whole)."""
        shares, site = await self._shares(batch)
        calls = [share.call(code, self.id, number, self.keep) for code, share in shares.items()]
        calls.append(site.call(self.id, number, self.keep))
        replies = await self._send(calls)
        missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:  # a restarted server forgot the scripts: nothing of these ran
            for text in SCRIPTS.values():
                await self.redis.script_load(text)
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
        """One pipeline; a call on the site's keys runs APPLY_SITE, any other APPLY_VISITS."""
        pipe = self.redis.pipeline(transaction=False)
        for names, args in calls:
            sha = SITE_SHA if names[0].startswith(keys.SITE) else APPLY_SHA
            if self.cluster:
                pipe.eval(SCRIPTS[sha], len(names), *names, *args)
            else:
                pipe.evalsha(sha, len(names), *names, *args)
        return await pipe.execute(raise_on_error=False)


def hour_key(at: float) -> str:
    """The UTC hour of `at` as a key part, YYYYMMDDHH (UTC: hours never repeat or vanish)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


async def read_stats(redis: AnyRedis, code: str, first: date, last: date) -> dict[str, Any]:
    """Per-day and range totals for people (clicks, unique clicks, visitors, sources)
    and, apart, for bots by name; plus all-time totals."""
    days = _days(first, last)
    pipe = redis.pipeline(transaction=False)
    pipe.hmget(keys.stats(code), ["h", "u", "b"])
    for d in days:
        pipe.hgetall(keys.day(code, f"{d:%Y%m%d}"))
    replies = await pipe.execute()
    all_time = [int(v or 0) for v in replies[0]]
    per_day = [{k: int(v) for k, v in fields.items()} for fields in replies[1:]]
    active = [d for d, fields in zip(days, per_day, strict=True) if "h" in fields]
    sketches = [keys.visitors(code, f"{d:%Y%m%d}") for d in active]
    counted = await redis.eval(COUNT_VISITORS, len(sketches), *sketches) if active else [0]
    per_visitors = dict(zip(active, counted, strict=False))
    rows: list[dict[str, Any]] = []
    sources: Counter[str] = Counter()
    bots: Counter[str] = Counter()
    for d, fields in zip(days, per_day, strict=True):
        day_sources = {k[4:]: v for k, v in fields.items() if k.startswith("src:")}
        day_bots = {k[4:]: v for k, v in fields.items() if k.startswith("bot:")}
        sources.update(day_sources)
        bots.update(day_bots)
        rows.append(
            {
                "date": d.isoformat(),
                "clicks": fields.get("h", 0),
                "unique_clicks": fields.get("u", 0),
                "visitors": per_visitors.get(d, 0),
                "sources": day_sources,
                "bots": fields.get("b", 0),
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
        "all_time": dict(zip(("clicks", "unique_clicks", "bots"), all_time, strict=True)),
        "days": rows,
    }
