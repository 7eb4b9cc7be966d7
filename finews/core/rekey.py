"""Move keys from old names to new ones, for the features' one-time data migrations.

A move keeps the value and its time to live. On one server, or on a Cluster when both
names hash to one slot, it is RENAMENX (atomic); when they hash to different Cluster slots
RENAME is refused, so the value is copied with DUMP + RESTORE (with the remaining PTTL) and
the old key deleted.

Every move is safe to repeat and to run twice at once: a key already moved is gone from
its old name (nothing to do), and an existing key under the new name is never
overwritten. Should both names hold a value (a write under the new name while the old one
still waited), the old key stays where it is and `event=redis_migrate_conflict` names
both: nothing is lost or doubled, and an operator decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from finews.core.redis_client import AnyRedis

log = logging.getLogger("finews.redis")


def _text(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key


async def move(redis: AnyRedis, old: str, new: str) -> bool:
    """Move `old` to `new`; True when this call moved it."""
    if not isinstance(redis, RedisCluster) or key_slot(old.encode()) == key_slot(new.encode()):
        try:
            moved = bool(await redis.renamenx(old, new))
        except ResponseError as exc:  # "no such key": moved by someone else meanwhile
            if "no such key" in str(exc).lower():
                return False
            raise
        if not moved:
            log.warning("event=redis_migrate_conflict key=%s new=%s", old, new)
        return moved
    ttl = await redis.pttl(old)
    dump = await redis.dump(old)
    if dump is None or ttl == -2:
        return False
    try:
        await redis.restore(new, max(ttl, 0), dump)
    except ResponseError as exc:
        if "busykey" not in str(exc).lower():
            raise
        if await redis.exists(old):
            log.warning("event=redis_migrate_conflict key=%s new=%s", old, new)
        return False
    await redis.delete(old)
    return True


async def rekey(redis: AnyRedis, match: str, renamed: Callable[[str], str | None]) -> int:
    """Move every key matching the SCAN pattern `match` to `renamed(key)`; a key it maps
    to None is deleted (a cache to rebuild). Returns how many keys this call moved or
    deleted. SCAN, never KEYS: a large database keeps answering meanwhile; a moved key
    leaves the pattern, so the scan still visits every key once."""
    done = 0
    async for key in redis.scan_iter(match=match, count=1000):
        old = _text(key)
        new = renamed(old)
        if new is None:
            done += int(await redis.delete(old))
        elif new != old:
            done += await move(redis, old, new)
    return done
