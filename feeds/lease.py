"""Builder election: the processes serving one Redis agree on the one that builds the feeds.

With `feeds.role = "auto"` (the default) every process starts as a follower and tries to
take the lease `keys.LEASE` (SET NX PX `feeds.lease_seconds`); the one that gets it also
bumps `keys.EPOCH`, in the same script, and builds under that epoch: it loads posts.dir
afresh (posts may have changed while another process was building), stores its editions
fenced by the epoch (feeds/store.py refuses a write whose epoch is no longer current) and
renews the lease every third of its time, comparing the holder before extending it. It
steps down, back to following, when a renewal finds the lease gone or held by another,
when no renewal succeeded for a whole lease time (Redis away: the lease may have expired),
or when a store was fenced. A process paused past its lease (GC, SIGSTOP) thus never
overwrites the edition of the builder that took over. A process that starts with Redis
unreachable builds for itself (served from memory, never stored) until it can take the
lease. On shutdown the lease is released at once, so another process takes over without
waiting for it to expire.

`feeds.role = "builder"` or `"follower"` pins the role instead (no lease, unfenced writes).
Who builds: the log line `event=feeds_role role=builder epoch=N` and the gauge
`finews_feeds_builder` (1 in the builder, 0 elsewhere; one series per process with workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time

from feeds import keys
from feeds.follow import Follower, PageResponder
from feeds.metrics import FEEDS_BUILDER
from feeds.publish import Publisher
from finews.core.appkeys import REDIS_BYTES
from finews.core.redis_client import AnyRedis

log = logging.getLogger("finews.feeds")

# KEYS: lease, epoch. ARGV: holder, milliseconds. The new epoch, or 0 when the lease is held.
ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
return redis.call('INCR', KEYS[2])
"""
# KEYS: lease. ARGV: holder, milliseconds. 1 when still ours and extended, else 0.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
# KEYS: lease. ARGV: holder. Deletes it only while it is ours.
RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""
RELEASE_TIMEOUT = 1.0  # seconds a stopping builder tries to hand its lease back


def holder_id() -> str:
    """Unique per process and start: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    """The builder lease in Redis, as held (or wanted) by one process."""

    def __init__(self, redis: AnyRedis, seconds: float, holder: str | None = None) -> None:
        self.redis = redis
        self.ms = max(1, round(seconds * 1000))
        self.holder = holder or holder_id()

    async def acquire(self) -> int | None:
        """Take the lease if free: the new epoch, else None."""
        epoch = int(await self.redis.eval(ACQUIRE, 2, keys.LEASE, keys.EPOCH, self.holder, self.ms))
        return epoch or None

    async def renew(self) -> bool:
        """Extend the lease if still ours; False when it expired or another holds it."""
        return bool(await self.redis.eval(RENEW, 1, keys.LEASE, self.holder, self.ms))

    async def release(self) -> None:
        await self.redis.eval(RELEASE, 1, keys.LEASE, self.holder)


def stop_if_cancelled() -> None:
    """Raise CancelledError when this task was asked to stop but is still looping.

    A cancel can be swallowed below us (seen under load: the task showed "cancelling"
    while still renewing its lease; which call ate it, likely a Redis call racing its own
    timeout, is not pinned down), and the election then loops forever, so a shutdown that
    waits for it (Publisher.close) would hang. Checked once per turn of each loop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def announce(role: str, epoch: int | None, source: str) -> None:
    """Log and export this process's role."""
    FEEDS_BUILDER.set(1 if role == "builder" else 0)
    log.info("event=feeds_role role=%s epoch=%s source=%s", role, epoch or "none", source)


class Election:
    """Follows until it takes the lease, then builds until it loses it; again and again."""

    def __init__(self, publisher: Publisher, *, watch: bool) -> None:
        self.publisher = publisher
        self.watch = watch
        self.seconds = publisher.settings.feeds.lease_seconds
        self.lease = Lease(publisher.app[REDIS_BYTES], self.seconds)
        self.unreachable = False  # the last try for the lease could not reach Redis

    async def run(self) -> None:
        try:
            epoch = await self._acquire()  # before following: a lone process builds at once
            while True:
                stop_if_cancelled()
                if epoch is None:
                    # Nothing to serve and Redis away: build for this process alone (epoch
                    # 0 is never current: nothing is stored) until the lease can be had.
                    alone = self.unreachable and self.publisher.edition is None
                    announce("builder" if alone else "follower", None, "lease")
                    self.publisher.epoch = 0
                    following = asyncio.create_task(
                        self._build() if alone else Follower(self.publisher).run()
                    )
                    try:
                        epoch = await self._campaign()
                    finally:
                        following.cancel()
                        await asyncio.gather(following, return_exceptions=True)
                announce("builder", epoch, "lease")
                await self._lead(epoch)
                epoch = None
        finally:
            FEEDS_BUILDER.set(0)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(RELEASE_TIMEOUT):
                    await self.lease.release()

    async def _acquire(self) -> int | None:
        try:
            epoch = await self.lease.acquire()
        except Exception as exc:  # Redis away: keep following what we have
            log.warning("event=feeds_lease_failed action=acquire error=%r", exc)
            self.unreachable = True
            return None
        self.unreachable = False
        return epoch

    async def _campaign(self) -> int:
        """Try for the lease every third of its time; the epoch once taken."""
        while True:
            stop_if_cancelled()
            await asyncio.sleep(self.seconds / 3)
            epoch = await self._acquire()
            if epoch is not None:
                return epoch

    async def _lead(self, epoch: int) -> None:
        """Build under `epoch` until the lease is lost; then stop building."""
        publisher = self.publisher
        publisher.epoch = epoch
        publisher.deposed.clear()
        building = asyncio.create_task(self._build())
        renewed = time.monotonic()
        reason = "expired"
        try:
            while time.monotonic() - renewed < self.seconds:
                stop_if_cancelled()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.seconds / 3):
                        await publisher.deposed.wait()
                if publisher.deposed.is_set():
                    reason = "fenced"
                    break
                try:
                    if not await self.lease.renew():
                        reason = "taken"
                        break
                    renewed = time.monotonic()
                except Exception as exc:  # retried until the lease time is up
                    log.warning("event=feeds_lease_failed action=renew error=%r", exc)
        finally:
            building.cancel()
            await asyncio.gather(building, return_exceptions=True)
            publisher.epoch = None
        log.warning("event=feeds_lease_lost epoch=%d reason=%s", epoch, reason)

    async def _build(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.publisher.building(watch=self.watch))
            group.create_task(PageResponder(self.publisher).run())
