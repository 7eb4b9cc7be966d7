"""A link is acknowledged only once a replica holds it, when the masters have replicas.

Redis replicates asynchronously: a master that dies right after answering a write can take
it along, and the replica promoted in its place never had it. So after issuing links the
store WAITs, on each master holding one of the written keys, until one replica has
acknowledged everything that master wrote before; only then is a 201 sent. No replica
within `shortlinks.replica_wait` seconds: a TimeoutError (503 with Retry-After from the
app's edge); the link may exist, and the client's retry gets it back (same URL, same link).

WAIT counts the writes of the connection it runs on, so each master gets a small write of
its own (INCR of keys.replicated) followed by WAIT on one connection: once a replica has
that write it has every earlier one of the master too (replication is one ordered stream).
Without replicas (a single server, a cluster without them) nothing is waited for.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shortlinks import keys


@functools.lru_cache(maxsize=1024)
def mark_for(slot: int) -> str:
    """A keys.replicated name in `slot`, so that it lives on that slot's master."""
    for n in itertools.count():
        name = keys.replicated(str(n))
        if key_slot(name.encode()) == slot:
            return name
    raise AssertionError("unreachable")


class Replicas:
    """WAIT for one replica of every master written to."""

    def __init__(self, redis: Any, seconds: float) -> None:
        self.redis = redis
        self.ms = max(1, round(seconds * 1000))
        self._nodes: dict[tuple[str, int], Redis] = {}  # one small client per cluster master

    async def confirm(self, written: Iterable[str]) -> None:
        """Return once a replica holds the writes to `written`; TimeoutError if none did."""
        if isinstance(self.redis, RedisCluster):
            if not self.redis.get_replicas():
                return
            slots = {key_slot(name.encode()) for name in written}
            masters = {self.redis.get_node_from_key(mark_for(slot)).name: slot for slot in slots}
            await asyncio.gather(
                *(self._wait(self._client(n), mark_for(s)) for n, s in masters.items())
            )
        else:
            info = await self.redis.info("replication")
            if info.get("connected_slaves", 0):
                await self._wait(self.redis, keys.replicated("0"))

    def _client(self, name: str) -> Redis:
        client = self._nodes.get(name)
        if client is None:
            node = self.redis.get_node(node_name=name)
            client = self._nodes[name] = Redis(
                host=node.host,
                port=node.port,
                max_connections=8,
                socket_timeout=self.ms / 1000 + 1,
                socket_connect_timeout=1,
            )
        return client

    async def _wait(self, client: Redis, mark: str) -> None:
        async with client.pipeline(transaction=False) as pipe:  # one connection
            pipe.incr(mark)
            pipe.execute_command("WAIT", 1, self.ms)
            try:
                _, acknowledged = await pipe.execute()
            except ResponseError as exc:  # MOVED: a failover is under way; the client retries
                raise RedisConnectionError(f"{mark}: {exc}") from exc
        if int(acknowledged) < 1:
            raise RedisTimeoutError(f"no replica acknowledged {mark} within {self.ms} ms")

    async def aclose(self) -> None:
        for client in self._nodes.values():
            await client.aclose()
