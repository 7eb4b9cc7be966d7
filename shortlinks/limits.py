"""Rate limits shared by every process: fixed-window counters in Redis.

Clients are known by a hash only: an API key's SHA-256, or the client address hashed
with the day's salt, so no key or address is ever written to Redis.
"""

from __future__ import annotations

import hashlib
import math
from zoneinfo import ZoneInfo

from finews.core.clock import Clock
from finews.core.redis_client import AnyRedis
from shortlinks import keys
from shortlinks.counting import Salts
from shortlinks.visits import visitor


class RateLimiter:
    def __init__(
        self, redis: AnyRedis, salts: Salts, zone: ZoneInfo, window: int, clock: Clock
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.salts = salts
        self.zone = zone
        self.window = window

    async def address_id(self, address: str) -> str:
        return visitor(await self.salts.get(f"{self.clock.now(self.zone):%Y%m%d}"), address, "")

    @staticmethod
    def key_id(api_key: str) -> str:
        return hashlib.sha256(api_key.encode()).hexdigest()[:20]

    async def hit(self, scope: str, ident: str, limit: int, n: int = 1) -> int:
        """Count `n` events; the seconds to wait when that passes `limit`, else 0."""
        now = self.clock.time()
        window = int(now // self.window)
        key = keys.rate(scope, ident, window)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incrby(key, n)
        pipe.expire(key, self.window + 1)
        count, _ = await pipe.execute()
        if count <= limit:
            return 0
        return max(1, math.ceil((window + 1) * self.window - now))
