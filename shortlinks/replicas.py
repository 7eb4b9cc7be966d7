"""A link is acknowledged only once a replica holds it, when the masters have replicas.

Redis replicates asynchronously: a master that dies right after answering a write can take
it along, and the replica promoted in its place never had it. So after issuing links the
store WAITs, on each master holding one of the written keys, until one replica has
acknowledged everything that master wrote before; only then is a 201 sent. No replica
within `shortlinks.replica_wait` seconds: a TimeoutError (503 with Retry-After from the
app's edge); the link may exist, and the client's retry gets it back (same URL, same link).

WAIT counts the writes of the connection it runs on, so each master gets a small write of
its own (INCR of keys.replicated) followed by WAIT on the same connection: once a replica
has that write it has every earlier one of the master too (replication is one ordered
stream). A master without a connected replica (a single server, a cluster without
replicas, a replica just promoted) is not waited for: the replica it lost cannot answer.
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
    """WAIT for one replica of every master written to that has one."""

    def __init__(self, redis: Any, seconds: float) -> None:
        self.redis = redis
        self.ms = max(1, round(seconds * 1000))
        self._nodes: dict[str, Redis] = {}  # one single-connection client per cluster master

    async def confirm(self, written: Iterable[str]) -> None:
        """Return once a replica holds the writes to `written`; TimeoutError if none did."""
        if not isinstance(self.redis, RedisCluster):
            async with self.redis.client() as connection:  # one connection of the pool
                await self._wait(connection, keys.replicated("0"))
            return
        slots = {key_slot(name.encode()) for name in written}
        masters: dict[str, int] = {}
        for slot in slots:
            node = self.redis.get_node_from_key(mark_for(slot))
            if node is None:  # the slot map is being refreshed: a failover is under way
                raise RedisConnectionError(f"no master known for slot {slot}")
            masters[node.name] = slot
        await asyncio.gather(
            *(self._wait(self._client(name), mark_for(slot)) for name, slot in masters.items())
        )

    def _client(self, name: str) -> Redis:
        client = self._nodes.get(name)
        if client is None:
            node = self.redis.get_node(node_name=name)
            client = self._nodes[name] = Redis(
                host=node.host,
                port=node.port,
                single_connection_client=True,
                socket_timeout=self.ms / 1000 + 1,
                socket_connect_timeout=1,
            )
        return client

    async def _wait(self, client: Redis, mark: str) -> None:
        """If the master has a replica now (after a failover the promoted master has none
        until one is added): on one connection, a write of its own, then WAIT."""
        try:
            if not (await client.info("replication")).get("connected_slaves"):
                return
            await client.incr(mark)  # no pipeline: it would take a connection of its own
            acknowledged = await client.wait(1, self.ms)
        except ResponseError as exc:  # MOVED: a failover is under way; the client retries
            raise RedisConnectionError(f"{mark}: {exc}") from exc
        if int(acknowledged) < 1:
            raise RedisTimeoutError(f"no replica acknowledged {mark} within {self.ms} ms")

    async def aclose(self) -> None:
        for client in self._nodes.values():
            await client.aclose()
