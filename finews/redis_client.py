"""Connect to the configured Redis: a single server, or a cluster detected from its URL.

Operators give one URL; whether it names a cluster node is read from the server
(`INFO cluster`), so the same setting scales out without a second switch.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("finews.redis")

AnyRedis = Redis | RedisCluster
# What a call raises when Redis cannot be reached (as opposed to a bad command).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}


async def connect(url: str, *, decode_responses: bool = True) -> AnyRedis:
    """A client for `url`; a RedisCluster client when the server runs in cluster mode."""
    client = Redis.from_url(url, decode_responses=decode_responses, **TIMEOUTS)
    try:
        info = await client.info("cluster")
    except Exception:  # not reachable now: keep the plain client, it reconnects by itself
        log.warning("event=redis_unreachable url=%s", redact(url))
        return client
    if not info.get("cluster_enabled"):
        return client
    await client.aclose()
    log.info("event=redis_cluster url=%s", redact(url))
    cluster = RedisCluster.from_url(url, decode_responses=decode_responses, **TIMEOUTS)
    await cluster.initialize()
    return cluster


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
