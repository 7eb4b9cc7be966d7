"""A stalled Redis (SIGSTOP: the socket accepts, nothing answers) costs latency, never
wrong answers: known links redirect from memory once the breaker has opened, and the
service recovers by itself when Redis answers again. Each test stalls its own server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from aiohttp import web

from finews.app import create_app
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis
from tests.root.test_redis_outage import poll
from tests.shortlinks_support import AUTH, SITE, create, service


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        if server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)
        server.stop()


@contextlib.contextmanager
def stalled(server: EmbeddedRedis) -> Iterator[None]:
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


async def test_known_links_redirect_from_memory_while_redis_is_stalled(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, own_redis: EmbeddedRedis
) -> None:
    # cache_ttl: every cached entry is stale a millisecond later, so each click asks Redis
    client = await aiohttp_client(
        create_app(sl_settings.replace(redis__url=own_redis.url, shortlinks__cache_ttl=0.001))
    )
    links = {
        f"{SITE}/stall-{n}.html": (await create(client, f"{SITE}/stall-{n}.html"))["code"]
        for n in range(2)
    }
    for code in links.values():
        assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 302
    breaker = service(client).breaker
    assert breaker.closed and breaker.failures == 0

    with stalled(own_redis):
        for _ in range(10):
            for url, code in links.items():
                response = await client.get(f"/s/{code}", allow_redirects=False)
                assert response.status == 302 and response.headers["Location"] == url
        # one read waited for redis.command_timeout and opened the breaker; the others
        # answered from memory (a background probe per breaker_interval may fail too)
        assert not breaker.closed
        assert 1 <= breaker.failures <= 3, "requests kept waiting on the stalled Redis"
        failures = breaker.failures
        unknown = await client.get("/s/NW202205240000000001", allow_redirects=False)
        assert unknown.status == 503 and "Retry-After" in unknown.headers
        assert breaker.failures == failures, "an open breaker still waited on Redis"

    # Redis answers again: new links resolve and changes show, with no restart
    fresh = await create(client, f"{SITE}/after-stall.html")

    async def resolves() -> bool:
        response = await client.get(f"/s/{fresh['code']}", allow_redirects=False)
        return response.status == 302

    assert await poll(resolves), "a new link never resolved after Redis came back"
    first = links[f"{SITE}/stall-0.html"]
    patched = await client.patch(f"/api/links/{first}", json={"disabled": True}, headers=AUTH)
    assert patched.status == 200

    async def disabled_shows() -> bool:
        return (await client.get(f"/s/{first}", allow_redirects=False)).status == 410

    assert await poll(disabled_shows), "a change made after the stall never showed"
    assert breaker.closed


async def test_concurrent_first_clicks_on_one_code_read_redis_once(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, own_redis: EmbeddedRedis
) -> None:
    clicks = 50
    entered = 0

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        nonlocal entered
        entered += 1
        return await handler(request)

    # A long command timeout: the read waits out the stall; no visit writes meanwhile; a
    # pinned builder, so no follower polls the feed version (a GET of its own) meanwhile.
    app = create_app(
        sl_settings.replace(
            redis__url=own_redis.url,
            redis__command_timeout=60.0,
            shortlinks__visit_flush_interval=3600.0,
            feeds__role="builder",
        )
    )
    app.middlewares.append(count)
    client = await aiohttp_client(app)
    code = (await create(client, f"{SITE}/popular.html"))["code"]
    service(client).redirector.forget(code)
    direct = redis.asyncio.Redis.from_url(own_redis.url)
    await direct.config_resetstat()
    entered = 0

    with stalled(own_redis):
        # Redis holds the first read; every request arrives while it is in flight
        clicking = [
            asyncio.ensure_future(client.get(f"/s/{code}", allow_redirects=False))
            for _ in range(clicks)
        ]

        async def all_arrived() -> bool:
            return entered == clicks

        assert await poll(all_arrived)
    answers = await asyncio.gather(*clicking)

    assert [(r.status, r.headers["Location"]) for r in answers] == [
        (302, f"{SITE}/popular.html")
    ] * clicks
    stats = await direct.info("commandstats")
    await direct.aclose()
    assert stats["cmdstat_get"]["calls"] == 1
    assert "cmdstat_hgetall" not in stats and "cmdstat_mget" not in stats
