"""Rate limits shared by every process: fixed-window counters in Redis.

Clients are known by a hash only: an API key's SHA-256, or the client address hashed
with the day's salt, so no key or address is ever written to Redis.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shortlinks import keys
from shortlinks.counting import Salts
from shortlinks.visits import visitor


class RateLimiter:
    def __init__(self, redis: Any, salts: Salts, zone: ZoneInfo, window: int) -> None:
        self.redis = redis
        self.salts = salts
        self.zone = zone
        self.window = window

    async def address_id(self, address: str) -> str:
        return visitor(await self.salts.get(f"{datetime.now(self.zone):%Y%m%d}"), address, "")

    @staticmethod
    def key_id(api_key: str) -> str:
        return hashlib.sha256(api_key.encode()).hexdigest()[:20]

    async def hit(self, scope: str, ident: str, limit: int, n: int = 1) -> int:
        """Count `n` events; the seconds to wait when that passes `limit`, else 0."""
        now = time.time()
        window = int(now // self.window)
        key = keys.rate(scope, ident, window)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incrby(key, n)
        pipe.expire(key, self.window + 1)
        count, _ = await pipe.execute()
        if count <= limit:
            return 0
        return max(1, math.ceil((window + 1) * self.window - now))
