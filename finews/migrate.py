"""Bring the Redis data of the release before to today's key names, once, at start.

Every process that connects (the server and each worker, `finews import`/`export`) calls
`migrate` before anything reads or writes. The first to find no SCHEMA_KEY takes
LOCK_KEY (`SET NX EX`, renewed while it works), runs each feature's `migrate(redis)`,
records SCHEMA_KEY = SCHEMA and logs `event=redis_migrated keys=N seconds=S`; the others
wait until SCHEMA_KEY appears, or take the lock over when its holder died (the lock
expires), and find the work done or finish it: every step of a feature's migration is
safe to repeat (finews/core/rekey.py). Once SCHEMA_KEY is there, a start costs one GET
and logs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

import feeds.migrate
import shortlinks.migrate
import websub.migrate
from finews.core.redis_client import AnyRedis

log = logging.getLogger("finews.redis")

SCHEMA = 3  # 1: `sl:...`, `{websub}:...` (no SCHEMA_KEY); 2: per-day counts in stats hashes
SCHEMA_KEY = "finews:schema"  # string: the schema the data is in
LOCK_KEY = "finews:schema:lock"  # string, TTL LOCK_SECONDS: a migration runs
LOCK_SECONDS = 30
WAIT_SECONDS = 0.2  # how often a waiting process looks again
STEPS = (shortlinks.migrate.migrate, websub.migrate.migrate, feeds.migrate.migrate)
# Give the lock back only when it is still ours.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def current(redis: AnyRedis) -> bool:
    return int(await redis.get(SCHEMA_KEY) or 0) >= SCHEMA


async def migrate(redis: AnyRedis) -> int:
    """Make sure the data is in SCHEMA; returns how many keys this process moved."""
    while not await current(redis):
        token = secrets.token_hex(8)
        if await redis.set(LOCK_KEY, token, nx=True, ex=LOCK_SECONDS):
            try:
                return await _run(redis, token)
            finally:
                await redis.eval(UNLOCK, 1, LOCK_KEY, token)
        await asyncio.sleep(WAIT_SECONDS)
    return 0


async def _run(redis: AnyRedis, token: str) -> int:
    if await current(redis):  # finished by another process just before we took the lock
        return 0
    start = time.perf_counter()
    renewing = asyncio.create_task(_renew(redis, token))
    try:
        moved = 0
        for step in STEPS:
            moved += await step(redis)
        await redis.set(SCHEMA_KEY, SCHEMA)
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    log.info(
        "event=redis_migrated keys=%d seconds=%.3f schema=%d",
        moved,
        time.perf_counter() - start,
        SCHEMA,
    )
    return moved


async def _renew(redis: AnyRedis, token: str) -> None:
    """Keep the lock while the migration runs, however many keys it has to move."""
    while True:
        await asyncio.sleep(LOCK_SECONDS / 3)
        if await redis.get(LOCK_KEY) not in (token, token.encode()):
            log.warning("event=redis_migration_lock_lost key=%s", LOCK_KEY)
            return
        await redis.expire(LOCK_KEY, LOCK_SECONDS)
