"""Redis stops and starts again: feeds and known share links keep being served, visits
are kept in memory and written when Redis is back, the rest answers 503 + Retry-After."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis
from tests.conftest import SAMPLE_POSTS
from tests.shortlinks_support import AUTH, CHROME_UA, SITE, create, service


async def poll(check: Callable[[], Any], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_service_rides_out_a_redis_outage(
    aiohttp_client: Callable[..., TestClient],
    sl_settings: Settings,
    tmp_path: Path,
    clock: FrozenClock,
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        settings = sl_settings.replace(
            redis__url=server.url,
            posts__dir=str(SAMPLE_POSTS),
            shortlinks__visit_flush_interval=0.1,
        )
        client = await aiohttp_client(create_app(settings, clock=clock))
        code = (await create(client, f"{SITE}/outage.html"))["code"]
        browser = {"User-Agent": CHROME_UA}
        first = await client.get(f"/s/{code}", headers=browser, allow_redirects=False)
        assert first.status == 302
        feed = await client.get("/feeds/all.rss")
        assert feed.status == 200

        server.stop()
        clock.advance(settings.shortlinks.cache_ttl)  # stale: the next lookup tries Redis
        during = await client.get(f"/s/{code}", headers=browser, allow_redirects=False)
        assert during.status == 302
        assert during.headers["Location"] == f"{SITE}/outage.html"
        assert not service(client).breaker.closed  # Redis was tried: the answer is the stale one
        again = await client.get("/feeds/all.rss")
        assert again.status == 200 and await again.read() == await feed.read()
        unknown = await client.get("/s/NW202205240000000001", allow_redirects=False)
        assert unknown.status == 503 and "Retry-After" in unknown.headers
        api = await client.get(f"/api/links/{code}", headers=AUTH)
        assert api.status == 503 and "Retry-After" in api.headers

        server.start()

        async def both_clicks_counted() -> bool:
            response = await client.get(f"/api/links/{code}/stats", headers=AUTH)
            return response.status == 200 and (await response.json())["all_time"]["clicks"] == 2

        assert await poll(both_clicks_counted), "the visit made during the outage was lost"
        assert (await client.get("/readyz")).status == 200
    finally:
        server.stop()
