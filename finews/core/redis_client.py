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

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
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


class HiredisPacking:
    """Commands packed by hiredis, in C, rather than by redis-py's asyncio connection,
    which packs each argument in Python (about 1.3 µs an argument, and a visit event sent
    to Redis has eight). hiredis is installed already for parsing replies, and redis-py's
    synchronous client packs with it the same way; the bytes sent are the same.

    A mixin in front of the pool's connection class (`packing`), so that every URL's
    connection kind (TCP, TLS, unix socket) keeps its own behaviour otherwise."""

    def pack_command(self, *args: Any) -> list[bytes]:
        head = args[0]
        if isinstance(head, str):  # a name such as "SCRIPT LOAD" is sent as two arguments
            args = (*head.encode().split(), *args[1:])
        elif b" " in head:
            args = (*head.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:  # bytearray and memoryview, which hiredis does not take
            pass
        plain: tuple[Any, ...] = tuple(
            bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args
        )
        try:
            return [hiredis.pack_command(plain)]
        except TypeError as exc:  # None, bool, or another type Redis has no form for
            raise DataError(str(exc)) from None


PACKING: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def packing(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` with its commands packed by hiredis (one class per kind)."""
    made = PACKING.get(connection_class)
    if made is None:
        made = PACKING[connection_class] = type(
            connection_class.__name__, (HiredisPacking, connection_class), {}
        )
    return made


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
    pool.connection_class = packing(pool.connection_class)
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
