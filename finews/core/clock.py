"""The one source of the current time: wall time for dates and expiries, monotonic time for
durations.

Code that decides something from the time (a day key, a rate-limit window, a cache entry's
freshness, an expiry, a lease) asks the app's clock (`finews.core.appkeys.CLOCK`) instead
of `datetime.now()` or `time.time()`, so a test can freeze it at 23:59:59 and move it past
midnight without waiting or depending on when it runs. Redis expiries (EX, PEXPIREAT)
still follow the Redis server's own clock: a test clock should stay near the real time
(`FrozenClock()` starts at the real now) when the code under test sets absolute expiries.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo


class Clock:
    """The system clock."""

    def time(self) -> float:
        """Wall time: seconds since the Unix epoch."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: for durations and freshness."""
        return time.monotonic()

    def now(self, zone: tzinfo = UTC) -> datetime:
        """Wall time as an aware datetime in `zone` (UTC unless given)."""
        return datetime.fromtimestamp(self.time(), zone)


class FrozenClock(Clock):
    """A clock that stands still until a test moves it: `advance(seconds)` or `set(when)`.

    Wall and monotonic time move together, so an advance ages caches and crosses day
    boundaries in one step."""

    def __init__(self, start: datetime | float | None = None) -> None:
        self._wall = time.time() if start is None else _epoch(start)
        self._monotonic = 1_000_000.0  # any value: only differences of it mean anything

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, not by {seconds} s")
        self._wall += seconds
        self._monotonic += seconds

    def set(self, when: datetime | float) -> None:
        """Move to `when` (not earlier than now); monotonic time moves by the same amount."""
        self.advance(_epoch(when) - self._wall)


def _epoch(when: datetime | float) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{when} has no timezone: give an aware datetime")
        return when.timestamp()
    return float(when)


SYSTEM = Clock()
