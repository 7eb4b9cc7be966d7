"""Subscriptions in Redis: they survive restarts and every worker sees the same ones.

Keys (websub/keys.py) share one hash tag, so they sit in one Redis Cluster slot: a
subscription hash per id, Redis deletes it when its lease ends; per topic a sorted set of
callback URLs by expiry time; per resolved callback address a sorted set of the ids
holding a slot under the cap, by the time (ms) their slot frees. The sorted sets drop
expired members when read. An address set is only ever grown by `CLAIM`, which checks the
cap and adds in one step, so concurrent requests cannot overshoot.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import cast

from redis.typing import EncodableT, FieldT

from finews.core.clock import SYSTEM, Clock
from finews.core.redis_client import AnyRedis
from websub import keys

# KEYS[1] an address set. ARGV: id, frees_at_ms, cap, now_ms, keep_later ("1": a held slot
# keeps its later expiry). Returns 0: full; 1: a new slot; 2: the id already held one.
CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not held and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
if held and ARGV[5] == '1' then
  redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
if held then return 2 end
return 1
"""
# KEYS[1] an address set, KEYS[2] the subscription hash. ARGV: id, address. Frees the slot
# unless a subscription stored under that address holds it.
RELEASE = """
if redis.call('HGET', KEYS[2], 'address') ~= ARGV[2] then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


class Claim(enum.IntEnum):
    FULL = 0
    NEW = 1
    HELD = 2


def digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Subscription:
    topic: str
    callback: str
    secret: str
    lease_seconds: int
    expires: float
    address: str  # the resolved address its callback counts against

    @property
    def id(self) -> str:
        return subscription_id(self.topic, self.callback)


def subscription_id(topic: str, callback: str) -> str:
    """One subscription per (topic, callback): subscribing again renews it."""
    return digest(topic, callback)


def _topic_key(topic: str) -> str:
    return keys.topic(digest(topic))


class SubscriptionStore:
    def __init__(self, redis: AnyRedis, max_lease_seconds: int, clock: Clock = SYSTEM) -> None:
        self.redis = redis
        self.clock = clock
        self.max_lease_seconds = max_lease_seconds
        self._claim = redis.register_script(CLAIM)
        self._release = redis.register_script(RELEASE)

    async def claim(
        self, sub_id: str, address: str, cap: int, frees_at: float, keep_later: bool = False
    ) -> Claim:
        """Hold a slot under the address's cap for `sub_id` until `frees_at`, if there is room."""
        args: list[EncodableT] = [
            sub_id,
            int(frees_at * 1000),
            cap,
            int(self.clock.time() * 1000),
            int(keep_later),
        ]
        return Claim(await self._claim(keys=[keys.address(address)], args=args))

    async def release(self, sub_id: str, address: str) -> None:
        """Give back a slot claimed for a subscription that was not stored."""
        await self._release(
            keys=[keys.address(address), keys.subscription(sub_id)], args=[sub_id, address]
        )

    async def save(self, sub: Subscription, cap: int) -> bool:
        """Add or renew; False when its address has no room left. The hash and its slot
        expire with the lease, the topic set with the longest lease; a renewal whose
        callback now resolves elsewhere gives back its slot under the old address."""
        if await self.claim(sub.id, sub.address, cap, sub.expires) is Claim.FULL:
            return False
        # `self.redis` decodes responses (str), which redis-py's types cannot tell.
        old = cast(str | None, await self.redis.hget(keys.subscription(sub.id), "address"))
        fields: Mapping[FieldT, EncodableT] = {k: str(v) for k, v in asdict(sub).items()}
        async with self.redis.pipeline(transaction=False) as pipe:
            if old and old != sub.address:
                pipe.zrem(keys.address(old), sub.id)
            pipe.hset(keys.subscription(sub.id), mapping=fields)
            pipe.pexpireat(keys.subscription(sub.id), int(sub.expires * 1000))
            pipe.zadd(_topic_key(sub.topic), {sub.callback: sub.expires})
            pipe.expire(_topic_key(sub.topic), self.max_lease_seconds + 60)
            await pipe.execute()
        return True

    async def delete(self, topic: str, callback: str) -> None:
        """End a subscription and free its slot."""
        sub_id = subscription_id(topic, callback)
        address = cast(str | None, await self.redis.hget(keys.subscription(sub_id), "address"))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(_topic_key(topic), callback)
            if address:
                pipe.zrem(keys.address(address), sub_id)
            pipe.delete(keys.subscription(sub_id))
            await pipe.execute()

    async def get(self, topic: str, callback: str) -> Subscription | None:
        """The subscription while its lease runs, else None."""
        key = keys.subscription(subscription_id(topic, callback))
        fields = cast(dict[str, str], await self.redis.hgetall(key))
        if not fields or float(fields["expires"]) <= self.clock.time():
            return None
        return Subscription(
            fields["topic"],
            fields["callback"],
            fields["secret"],
            int(fields["lease_seconds"]),
            float(fields["expires"]),
            fields.get("address", ""),
        )

    async def active(self, topic: str) -> list[str]:
        """Callback URLs subscribed to `topic` whose lease still runs, dropping the others."""
        key = _topic_key(topic)
        now = self.clock.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrangebyscore(key, f"({now}", "+inf")
            _, callbacks = await pipe.execute()
        return cast(list[str], callbacks)

    async def counts(self, topics: Iterable[str]) -> dict[str, int]:
        """Verified subscribers of each topic whose lease still runs (one pipeline)."""
        topics = list(topics)
        after = f"({self.clock.time()}"
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zcount(_topic_key(topic), after, "+inf")
            counts = await pipe.execute() if topics else []
        return dict(zip(topics, map(int, counts), strict=True))
