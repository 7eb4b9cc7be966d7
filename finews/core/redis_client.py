"""Connect to the configured Redis: a single server, or a cluster detected from its URL.

Operators give one URL; whether it names a cluster node is read from the server
(`INFO cluster`), so the same setting scales out without a second switch.

Load and faults cost latency, never wrong answers: a command waits (up to
`redis.pool_timeout`) for one of `redis.pool_size` connections instead of failing with
"Too many connections", and a stalled server fails a command after
`redis.command_timeout` instead of holding the request for seconds. A timed-out command
is not retried (the server that stalled would only be waited on again); a dropped
connection is retried once, on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("finews.redis")

AnyRedis = Redis | RedisCluster
# What a call raises when Redis cannot be reached (as opposed to a bad command).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Limits:
    """The `[redis]` settings that bound connections and waiting (see config/default.toml)."""

    pool_size: int = 64
    pool_timeout: float = 2.0
    command_timeout: float = 0.5

    @classmethod
    def of(cls, conf: Any) -> Limits:
        """From the `[redis]` settings section."""
        return cls(conf.pool_size, conf.pool_timeout, conf.command_timeout)

    def connection_kwargs(self) -> dict[str, Any]:
        return {
            "socket_timeout": self.command_timeout,
            "socket_connect_timeout": self.command_timeout,
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        }


async def connect(
    url: str, limits: Limits = Limits(), *, decode_responses: bool = True
) -> AnyRedis:
    """A client for `url`; a RedisCluster client when the server runs in cluster mode."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=limits.pool_size,
        timeout=limits.pool_timeout,
        decode_responses=decode_responses,
        **limits.connection_kwargs(),
    )
    client = Redis.from_pool(pool)
    try:
        info = await client.info("cluster")
    except Exception:  # not reachable now: keep the plain client, it reconnects by itself
        log.warning("event=redis_unreachable url=%s", redact(url))
        return client
    if not info.get("cluster_enabled"):
        return client
    await client.aclose()
    log.info("event=redis_cluster url=%s", redact(url))
    cluster = BoundedCluster.from_url(
        url,
        decode_responses=decode_responses,
        max_connections=limits.pool_size,
        pool_timeout=limits.pool_timeout,
        **limits.connection_kwargs(),
    )
    await cluster.initialize()
    return cluster


class BoundedCluster(RedisCluster):
    """A RedisCluster whose commands wait their turn instead of failing under load.

    Its per-node pools are not blocking: past `max_connections` a node raises
    MaxConnectionsError. At most `max_connections` commands and pipelines run at once
    here, so no node is ever asked for more connections than that; the others wait up
    to `pool_timeout` seconds, like the single server's blocking pool.
    """

    def __init__(self, *, max_connections: int, pool_timeout: float, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self.pool_timeout = pool_timeout
        self.turns = asyncio.Semaphore(max_connections)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.pool_timeout):
                await self.turns.acquire()
        except TimeoutError:
            raise RedisConnectionError(
                f"no Redis connection free within {self.pool_timeout:g}s"
            ) from None
        try:
            yield
        finally:
            self.turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:  # refused by RedisCluster.pipeline, with its message
            return super().pipeline(transaction, shard_hint)
        # redis-py's types call ClusterPipeline abstract (`_event_dispatcher`, set only on
        # clients); RedisCluster.pipeline builds one just the same.
        return BoundedPipeline(self, transaction)  # type: ignore[abstract]


class BoundedPipeline(ClusterPipeline):
    """A cluster pipeline that takes one turn of its BoundedCluster while it runs."""

    cluster_client: BoundedCluster

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        async with self.cluster_client.turn():
            return await super().execute(raise_on_error, allow_redirections)


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
