"""A Redis Cluster URL works: the cluster is detected and the service is ready on it."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp.test_utils import TestClient
from redis.asyncio.cluster import RedisCluster

from finews.app import create_app
from finews.core.appkeys import REDIS
from finews.core.redis_client import connect
from finews.core.settings import Settings


async def test_cluster_is_detected_and_keys_spread_over_nodes(cluster_url: str) -> None:
    client = await connect(cluster_url)
    try:
        assert isinstance(client, RedisCluster)
        for n in range(50):  # keys land on all three nodes: a plain client would get MOVED
            await client.set(f"finews:test:{n}", str(n))
        assert [await client.get(f"finews:test:{n}") for n in range(50)] == [
            str(n) for n in range(50)
        ]
    finally:
        await client.aclose()


async def test_service_is_ready_on_a_cluster(
    aiohttp_client: Callable[..., TestClient],
    make_settings: Callable[..., Settings],
    cluster_url: str,
) -> None:
    app = create_app(make_settings(redis__url=cluster_url))
    client = await aiohttp_client(app)
    assert (await client.get("/readyz")).status == 200
    assert isinstance(app[REDIS], RedisCluster)
