"""Subscriptions in Redis: they survive restarts and every worker sees the same ones.

Keys share the `{websub}` hash tag, so they sit in one Redis Cluster slot:
  {websub}:sub:<id>        hash (topic, callback, secret, lease_seconds, expires);
                           Redis deletes it when its lease ends; id = digest(topic, callback)
  {websub}:topic:<digest>  sorted set: callback URLs subscribed to one topic, by expiry time
  {websub}:host:<host>     sorted set: subscription ids of one callback host by expiry time
The sorted sets drop expired members when read, and live as long as the longest lease.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass

from yarl import URL

from finews.redis_client import AnyRedis

PREFIX = "{websub}"


def digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Subscription:
    topic: str
    callback: str
    secret: str
    lease_seconds: int
    expires: float

    @property
    def id(self) -> str:
        return subscription_id(self.topic, self.callback)

    @property
    def host(self) -> str:
        return callback_host(self.callback)


def subscription_id(topic: str, callback: str) -> str:
    """One subscription per (topic, callback): subscribing again renews it."""
    return digest(topic, callback)


def callback_host(callback: str) -> str:
    return (URL(callback).raw_host or "").lower()


def _sub_key(sub_id: str) -> str:
    return f"{PREFIX}:sub:{sub_id}"


def _topic_key(topic: str) -> str:
    return f"{PREFIX}:topic:{digest(topic)}"


def _host_key(host: str) -> str:
    return f"{PREFIX}:host:{host}"


class SubscriptionStore:
    def __init__(self, redis: AnyRedis, max_lease_seconds: int) -> None:
        self.redis = redis
        self.max_lease_seconds = max_lease_seconds

    async def save(self, sub: Subscription) -> None:
        """Add or renew; the hash expires with the lease, the indexes with the longest lease."""
        fields = {k: str(v) for k, v in asdict(sub).items()}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(_sub_key(sub.id), mapping=fields)
            pipe.pexpireat(_sub_key(sub.id), int(sub.expires * 1000))
            indexes = ((_topic_key(sub.topic), sub.callback), (_host_key(sub.host), sub.id))
            for key, member in indexes:
                pipe.zadd(key, {member: sub.expires})
                pipe.expire(key, self.max_lease_seconds + 60)
            await pipe.execute()

    async def delete(self, topic: str, callback: str) -> None:
        sub_id = subscription_id(topic, callback)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(_topic_key(topic), callback)
            pipe.zrem(_host_key(callback_host(callback)), sub_id)
            pipe.delete(_sub_key(sub_id))
            await pipe.execute()

    async def get(self, topic: str, callback: str) -> Subscription | None:
        """The subscription while its lease runs, else None."""
        fields = await self.redis.hgetall(_sub_key(subscription_id(topic, callback)))
        if not fields or float(fields["expires"]) <= time.time():
            return None
        return Subscription(fields["topic"], fields["callback"], fields["secret"],
                            int(fields["lease_seconds"]), float(fields["expires"]))

    async def _live(self, key: str) -> list[str]:
        """Members of an index whose lease still runs, dropping the others."""
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zrangebyscore(key, f"({now}", "+inf")
            _, ids = await pipe.execute()
        return ids

    async def active(self, topic: str) -> list[str]:
        """Callback URLs subscribed to `topic` whose lease still runs."""
        return await self._live(_topic_key(topic))

    async def host_has_room(self, topic: str, callback: str, cap: int) -> bool:
        """Whether the callback's host may hold this subscription; a renewal always may."""
        ids = await self._live(_host_key(callback_host(callback)))
        return subscription_id(topic, callback) in ids or len(ids) < cap
