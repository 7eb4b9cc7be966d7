"""A circuit breaker for Redis: after a failure, stop waiting on Redis for a while.

A stalled Redis costs every command `redis.command_timeout`. Once one command has
failed, callers that have an answer in memory (a share link's last known target) give it
at once instead of waiting on the same stalled server; every `interval` seconds one call
goes through to Redis as a probe, and its success closes the breaker again. One breaker
per process and Redis: all requests learn from the first one that failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger("finews.redis")


class Breaker:
    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.retry_at: float | None = None  # None: closed, Redis is called
        self.failures = 0  # calls that failed (each may have waited)

    @property
    def closed(self) -> bool:
        return self.retry_at is None

    def allow(self) -> bool:
        """May this call go to Redis? While open, one call per interval may (the probe)."""
        if self.retry_at is None:
            return True
        now = self.clock()
        if now < self.retry_at:
            return False
        self.retry_at = now + self.interval  # the others keep answering from memory
        return True

    def failed(self, reason: str) -> None:
        self.failures += 1
        if self.retry_at is None:
            log.warning("event=redis_breaker_open seconds=%g reason=%s", self.interval, reason)
        self.retry_at = self.clock() + self.interval

    def succeeded(self) -> None:
        if self.retry_at is not None:
            log.info("event=redis_breaker_closed")
            self.retry_at = None


class BreakerOpen(RedisConnectionError):
    """Redis was not called: it failed a moment ago and the breaker is open."""
