"""Shared fixtures: one real Redis server for the session, settings and an app client.

The server is the embedded Valkey (started here, on a unix socket in a temp dir) unless
FINEWS_TEST_REDIS_URL names another one. Each test starts from an empty database, so
that server must be a scratch server: the tests flush it. `make test` runs the suite in
parallel processes (pytest-xdist): each starts its own Valkey, or takes its own database
of the named server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import redis
from redis.cluster import RedisCluster

from finews.config import load
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis

pytest_plugins = ["tests.shortlinks_support", "tests.websub_support"]  # shared fixtures

SAMPLE_POSTS = Path(__file__).resolve().parent.parent / "content" / "posts"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("FINEWS_TEST_REDIS_URL")
    if url:
        yield worker_database(url)
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def worker_database(url: str) -> str:
    """`url` with the database of this pytest-xdist worker (gw0 -> 0, gw1 -> 1, ...), so
    that parallel workers sharing one server never flush each other's keys."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    number = int(worker.removeprefix("gw"))
    base, _, query = url.partition("?")
    if base.startswith("unix:"):  # the path is the socket's: the database goes in the query
        pairs = [(k, v) for k, v in parse_qsl(query) if k != "db"] + [("db", str(number))]
        return f"{base}?{urlencode(pairs)}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


@pytest.fixture(autouse=True)
def clean_redis(request: pytest.FixtureRequest) -> None:
    """Flush the shared server, and every master of the shared cluster, before each test
    that uses them."""
    if "redis_url" in request.fixturenames:
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        client.flushdb()
        client.close()
    if "cluster_url" in request.fixturenames:
        cluster = RedisCluster.from_url(request.getfixturevalue("cluster_url"))
        cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
        cluster.close()


@pytest.fixture
def make_settings(redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings on the test Redis and a temp data dir; keyword overrides as section__key.

    Redis commands get 2 s, not the default 0.5 s: on a loaded 2-core CI machine a connect
    to a healthy local server can take longer than 0.5 s, and the tests that prove the short
    timeout and the breaker set their own."""

    def make(**overrides: Any) -> Settings:
        base = load(env={})
        values = {
            "redis__url": redis_url,
            "data__dir": str(tmp_path / "data"),
            "posts__dir": str(SAMPLE_POSTS),
            "redis__command_timeout": 2.0,
        }
        values.update(overrides)
        return base.replace(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real cluster (three masters, a replica each) shared by the session's cluster tests."""
    from tests.cluster import valkey_cluster

    with valkey_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster.url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on a Redis Cluster carries the `cluster` marker (`pytest -m cluster`)."""
    for item in items:
        if {"cluster_url", "failover_cluster"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
