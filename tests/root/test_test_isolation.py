"""The shared servers start every test empty: what one test wrote, the next cannot see.

The two tests of each pair run in file order: the first writes, the second finds nothing.
"""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster

KEYS = [f"isolation:{n}" for n in range(12)]  # spread over the cluster's slots


def test_writes_to_the_shared_cluster(cluster_url: str) -> None:
    cluster = RedisCluster.from_url(cluster_url)
    for key in KEYS:
        cluster.set(key, "left over")
    assert cluster.dbsize(target_nodes=RedisCluster.PRIMARIES) == len(KEYS)
    cluster.close()


def test_the_next_test_finds_the_cluster_empty(cluster_url: str) -> None:
    cluster = RedisCluster.from_url(cluster_url)
    assert cluster.dbsize(target_nodes=RedisCluster.PRIMARIES) == 0
    cluster.close()


def test_writes_to_the_shared_server(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("isolation:one", "left over")
    assert client.dbsize() == 1
    client.close()


def test_the_next_test_finds_the_server_empty(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.close()
