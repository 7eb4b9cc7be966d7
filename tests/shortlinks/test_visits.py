"""Honest counts over HTTP: people vs bots, uniques, sources, HEAD, privacy, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis as syncredis
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.settings import Settings
from shortlinks import keys
from tests.shortlinks_support import AUTH, CHROME_UA, SITE, WECHAT_UA, create, service


async def visit(client: TestClient, path: str, agent: str, **headers: str) -> None:
    response = await client.get(
        path, allow_redirects=False, headers={"User-Agent": agent, **headers}
    )
    assert response.status == 302


async def stats(client: TestClient, code: str) -> dict[str, Any]:
    await service(client).writer.flush()
    response = await client.get(f"/api/links/{code}/stats", headers=AUTH)
    assert response.status == 200
    return await response.json()


async def test_people_bots_uniques_and_sources(client: TestClient) -> None:
    code = (await create(client))["code"]
    legacy = f"/html_News/NewsShare.html?infoCode={code}"
    await visit(client, legacy + "&from=singlemessage&isappinstalled=0", WECHAT_UA)
    await visit(client, legacy + "&from=singlemessage&isappinstalled=0", WECHAT_UA)  # repeat
    await visit(client, legacy + "&from=timeline", WECHAT_UA + " Extra")
    await visit(client, f"/S/{code}", CHROME_UA)  # QR scan
    await visit(client, f"/s/{code}", CHROME_UA, Referer="https://weibo.com/1/2")
    await visit(client, f"/s/{code}", "facebookexternalhit/1.1")
    await visit(client, legacy, "Mozilla/5.0 (compatible; Baiduspider/2.0)")
    await visit(client, legacy, "")
    for _ in range(3):  # X's preview pattern: HEADs with browser agents are never counted
        await client.head(f"/s/{code}", allow_redirects=False, headers={"User-Agent": CHROME_UA})
    body = await stats(client, code)
    totals = body["totals"]
    assert totals["clicks"] == 5
    assert totals["unique_clicks"] == 3  # the WeChat repeat and Chrome's second click
    assert totals["visitors"] == 3  # three (address, agent) pairs
    assert totals["sources"] == {"wechat-chat": 2, "wechat-moments": 1, "qr": 1, "weibo": 1}
    assert totals["bots"] == 3
    assert totals["bot_names"] == {"facebookexternalhit": 1, "baiduspider": 1, "no-user-agent": 1}
    assert body["all_time"] == {"clicks": 5, "unique_clicks": 3, "bots": 3}
    today = [d for d in body["days"] if d["clicks"]]  # the clock's day (NOON_UTC)
    assert [d["date"] for d in today] == ["2024-05-24"]
    assert today[0]["visitors"] == 3 and today[0]["bots"] == 3


async def test_no_raw_address_is_stored_anywhere(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, redis_url: str
) -> None:
    app = create_app(sl_settings.replace(server__trust_forwarded=True))
    client = await aiohttp_client(app)
    code = (await create(client))["code"]
    for agent in (WECHAT_UA, CHROME_UA, "Twitterbot/1.0"):
        await visit(client, f"/s/{code}", agent, **{"X-Forwarded-For": "198.51.100.77"})
    await client.get(
        "/s/NW202205240000000001",  # a rate-limited miss, keyed by address
        headers={"X-Forwarded-For": "10.0.0.1, 198.51.100.77"},
    )
    await stats(client, code)
    raw = syncredis.Redis.from_url(redis_url)
    dump = b""
    for key in raw.scan_iter(match="*"):
        dump += key + (raw.dump(key) or b"")
    raw.close()
    assert keys.stats(code).encode() in dump and f"{keys.PREFIX}:rl:scan:".encode() in dump
    assert b"127.0.0.1" not in dump and b"198.51.100.77" not in dump


async def test_a_failing_count_never_fails_a_redirect(client: TestClient, caplog) -> None:
    broken = (await create(client))["code"]
    fine = (await create(client, f"{SITE}/fine.html"))["code"]
    redis = service(client).store.redis
    await redis.set(keys.stats(broken), "not a hash")  # every counter write for it fails
    await visit(client, f"/s/{broken}", CHROME_UA)
    await visit(client, f"/s/{fine}", CHROME_UA)
    assert await service(client).writer.flush() == 2
    assert any("event=visits_write_errors" in r.getMessage() for r in caplog.records)
    assert (await stats(client, fine))["totals"]["clicks"] == 1
    await visit(client, f"/s/{broken}", CHROME_UA)


async def test_queued_visits_are_written_on_shutdown(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, redis_url: str
) -> None:
    app = create_app(sl_settings.replace(shortlinks__visit_flush_interval=3600.0))
    client = await aiohttp_client(app)
    code = (await create(client))["code"]
    for _ in range(3):
        await visit(client, f"/s/{code}", CHROME_UA)
    await client.close()
    raw = syncredis.Redis.from_url(redis_url, decode_responses=True)
    assert raw.hget(keys.stats(code), "h") == "3"
    raw.close()


async def test_a_full_queue_drops_the_oldest_and_says_so(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, caplog
) -> None:
    app = create_app(
        sl_settings.replace(shortlinks__visit_flush_interval=3600.0, shortlinks__visit_queue_max=2)
    )
    client = await aiohttp_client(app)
    code = (await create(client))["code"]
    for _ in range(5):
        await visit(client, f"/s/{code}", CHROME_UA)
    assert (await stats(client, code))["totals"]["clicks"] == 2
    assert any("event=visits_dropped count=3" in r.getMessage() for r in caplog.records)
