"""Bring share-link data of earlier releases to today's layout, once.

The root runs this under its migration lock, before anything reads or writes links (see
finews/migrate.py). Three steps, each safe to repeat (a migration cut short runs again):

1. keys of the release before (`sl:...`) move to today's names, keeping values and TTLs;
2. per-day counters leave the never-expiring stats hash (`YYYYMMDD:h`, `:u`, `:b`,
   `:src:NAME`, `:bot:NAME`) for that day's hash (`{CODE}:day:YYYYMMDD`: `h`, `u`, `b`,
   `src:NAME`, `bot:NAME`), which expires when that day's visitor sketch or agents hash
   does (they were written with `retention_days`; a day without either gets
   DEFAULT_RETENTION from its end). Fields are set (not added) and only then deleted
   from the stats hash, so a repeat writes the same values. The buckets index learns each
   day and every hour bucket found;
3. the list indexes (shortlinks.indexes) are filled from the listed codes.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from finews.core.clock import SYSTEM
from finews.core.redis_client import AnyRedis
from finews.core.rekey import rekey
from shortlinks import indexes, keys
from shortlinks.counting import Keep
from shortlinks.store import Link

log = logging.getLogger("finews.shortlinks")

PAGE = 500
DEFAULT_RETENTION = Keep().retention_days * 86400
_DAY_FIELD = re.compile(r"([0-9]{8}):(.+)")
_COUNTER = re.compile(rf"{re.escape(keys.PREFIX)}:\{{([^}}]+)\}}:(stats|hour:([0-9]{{10}}))")


async def migrate(redis: AnyRedis) -> int:
    """Run the three steps; returns how many keys moved to new names (step 1)."""
    moved = await rekey(redis, keys.LEGACY, keys.renamed)
    days = await split_days(redis)
    listed = await fill_indexes(redis)
    log.info("event=shortlinks_migrated moved=%d days_split=%d listed=%d", moved, days, listed)
    return moved


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def split_days(redis: AnyRedis) -> int:
    """Step 2 over every stats hash and hour bucket, a page at a time as one SCAN finds
    them; returns the days moved."""
    stats: list[str] = []
    hours: list[tuple[str, str]] = []
    latest: dict[str, int] = {}  # code -> when its last bucket expires: the index's TTL
    days = 0
    async for name in redis.scan_iter(match=f"{keys.PREFIX}:{{*}}:*", count=1000):
        found = _COUNTER.fullmatch(_text(name))
        if found and found.group(3):
            hours.append((found.group(1), found.group(3)))
        elif found:
            stats.append(found.group(1))
        if len(stats) >= PAGE:
            days += await _split(redis, stats, latest)
            stats = []
        if len(hours) >= PAGE:
            await _index_hours(redis, hours, latest)
            hours = []
    days += await _split(redis, stats, latest)
    await _index_hours(redis, hours, latest)
    pipe = redis.pipeline(transaction=False)
    for code, when in latest.items():
        pipe.expireat(keys.buckets(code), when)
    await pipe.execute()
    return days


async def _index_hours(
    redis: AnyRedis, hours: list[tuple[str, str]], latest: dict[str, int]
) -> None:
    pipe = redis.pipeline(transaction=False)
    for code, hour in hours:
        pipe.expiretime(keys.hour(code, hour))
    expiry = await pipe.execute()
    pipe = redis.pipeline(transaction=False)
    for (code, hour), when in zip(hours, expiry, strict=True):
        if when > 0:
            pipe.zadd(keys.buckets(code), {f"h:{hour}": when})
            latest[code] = max(latest.get(code, 0), when)
    await pipe.execute()


async def _split(redis: AnyRedis, found: list[str], latest: dict[str, int]) -> int:
    pipe = redis.pipeline(transaction=False)
    for code in found:
        pipe.hgetall(keys.stats(code))
    per_code: dict[str, dict[str, dict[str, str]]] = {}
    for code, fields in zip(found, await pipe.execute(), strict=True):
        days: dict[str, dict[str, str]] = defaultdict(dict)
        for name, value in fields.items():
            if match := _DAY_FIELD.fullmatch(_text(name)):
                days[match.group(1)][match.group(2)] = _text(value)
        if days:
            per_code[code] = days
    pipe = redis.pipeline(transaction=False)
    for code, days in per_code.items():
        for day in days:
            pipe.expiretime(keys.visitors(code, day))
            pipe.expiretime(keys.agents(code, day))
    expiry = iter(await pipe.execute())
    now = int(SYSTEM.time())
    pipe = redis.pipeline(transaction=False)
    moved = 0
    for code, days in per_code.items():
        for day, fields in days.items():
            when = max(next(expiry), next(expiry))
            if when <= 0:
                end = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=1)
                when = int(end.timestamp()) + DEFAULT_RETENTION
            if when > now:
                pipe.hset(keys.day(code, day), mapping=cast(dict[Any, Any], fields))
                pipe.expireat(keys.day(code, day), when)
                pipe.zadd(keys.buckets(code), {f"d:{day}": when})
                latest[code] = max(latest.get(code, 0), when)
                moved += 1
            pipe.hdel(keys.stats(code), *(f"{day}:{name}" for name in fields))
    await pipe.execute()
    return moved


async def fill_indexes(redis: AnyRedis) -> int:
    """Step 3: every listed code into the list indexes; returns how many."""
    listed, after = 0, None
    while found := [
        _text(code)
        for code in await cast(Any, redis).zrange(
            keys.CODES, f"({after}" if after else "-", "+", bylex=True, offset=0, num=PAGE
        )
    ]:
        pipe: Any = redis.pipeline(transaction=False)
        for code in found:
            pipe.get(keys.link(code))
            pipe.hget(keys.stats(code), "h")
        replies = await pipe.execute()
        pipe = redis.pipeline(transaction=False)
        for n, code in enumerate(found):
            text, clicks = replies[2 * n], replies[2 * n + 1]
            try:
                link = Link.loads(code, text) if text else None
            except (ValueError, KeyError, TypeError) as exc:
                log.error("event=link_unreadable code=%s reason=%s", code, exc)
                continue
            if link is not None and link.deleted_at is None:
                indexes.add(pipe, link, int(clicks or 0))
                listed += 1
        await pipe.execute()
        after = found[-1]
    return listed
