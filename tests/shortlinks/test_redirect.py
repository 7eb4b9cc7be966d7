"""Redirects over HTTP against a real Redis: legacy and short forms, headers, error pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib import robotparser

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.clock import FrozenClock
from finews.core.errors import CONTENT_TYPE, problem_type
from finews.core.settings import Settings
from shortlinks import keys
from tests.core.test_metrics import scrape, value
from tests.shortlinks_support import ARTICLE, AUTH, CHROME_UA, SITE, create, service

UNKNOWN = "NW202205240000000001"


async def test_every_form_redirects_on_get_and_head(client: TestClient) -> None:
    code = (await create(client))["code"]
    paths = [
        f"/html_News/NewsShare.html?infoCode={code}",
        f"/html_News/NewsShare.html?infoCode={code}&from=singlemessage&isappinstalled=0",
        f"/s/{code}",
        f"/S/{code}",
    ]
    for path in paths:
        for method in ("GET", "HEAD"):
            response = await client.request(method, path, allow_redirects=False)
            assert response.status == 302, (method, path)
            assert response.headers["Location"] == ARTICLE
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
            assert response.headers["X-Robots-Tag"] == "noindex"
            assert "Set-Cookie" not in response.headers


async def test_permanent_status_by_setting_has_bounded_caching(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> None:
    for status in (301, 307, 308):
        app = create_app(sl_settings.replace(shortlinks__redirect_status=status))
        client = await aiohttp_client(app)
        code = (await create(client))["code"]
        response = await client.get(f"/s/{code}", allow_redirects=False)
        assert response.status == status
        expected = "private, max-age=3600" if status in (301, 308) else "no-store"
        assert response.headers["Cache-Control"] == expected
        await client.close()


async def test_non_ascii_target_is_percent_encoded(client: TestClient) -> None:
    code = (await create(client, f"{SITE}/新闻/集美.html"))["code"]
    response = await client.get(f"/s/{code}", allow_redirects=False)
    assert response.headers["Location"] == (f"{SITE}/%E6%96%B0%E9%97%BB/%E9%9B%86%E7%BE%8E.html")


async def test_unknown_code_is_a_404_page_linking_home(client: TestClient) -> None:
    for path in (f"/s/{UNKNOWN}", f"/html_News/NewsShare.html?infoCode={UNKNOWN}"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 404
        assert response.content_type == "text/html"
        page = await response.text()
        assert f'href="{SITE}/"' in page and UNKNOWN in page
        assert response.headers["Cache-Control"] == "no-store"
    response = await client.get(f"/s/{UNKNOWN}", headers={"Accept": "application/json"})
    assert response.status == 404
    assert response.content_type == CONTENT_TYPE
    assert await response.json() == {
        "type": problem_type("unknown_code"),
        "title": "Not Found",
        "status": 404,
        "home": f"{SITE}/",
        "detail": f"no share link has the code {UNKNOWN}",
    }
    response = await client.head(f"/s/{UNKNOWN}", allow_redirects=False)
    assert response.status == 404


async def test_malformed_code_is_a_400_page(client: TestClient) -> None:
    for path in (
        "/s/NW202202302389705455",
        "/s/hello",
        "/html_News/NewsShare.html",
        "/html_News/NewsShare.html?infoCode=",
        "/s/%3Cscript%3E",
    ):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 400, path
        assert f'href="{SITE}/"' in await response.text()
        assert "<script>" not in await response.text()
    response = await client.get("/s/NW202202302389705455", headers={"Accept": "application/json"})
    body = await response.json()
    assert body["type"] == problem_type("malformed_code") and "not a real date" in body["detail"]


async def test_disabled_and_expired_links_are_410(client: TestClient, clock: FrozenClock) -> None:
    code = (await create(client))["code"]
    response = await client.patch(f"/api/links/{code}", json={"disabled": True}, headers=AUTH)
    assert response.status == 200
    response = await client.get(f"/s/{code}", allow_redirects=False)
    assert response.status == 410
    assert "disabled" in await response.text()
    other = (await create(client, f"{SITE}/other.html"))["code"]
    stored = service(client).store
    link = await stored.get(other)
    # expiry is checked at request time: a cached link that has just expired is gone
    from dataclasses import replace
    from datetime import timedelta

    soon = replace(link, expires_at=clock.now() + timedelta(seconds=1))
    await stored.redis.set(keys.link(other), soon.dumps())
    response = await client.get(f"/s/{other}", allow_redirects=False)
    assert response.status == 302
    clock.advance(1)
    response = await client.get(f"/s/{other}", headers={"Accept": "application/json"})
    assert response.status == 410
    assert (await response.json())["detail"].endswith("has expired")


async def test_a_stored_off_host_target_never_redirects(client: TestClient, caplog) -> None:
    code = (await create(client))["code"]
    stored = service(client).store
    link = await stored.get(code)
    from dataclasses import replace

    for bad in ("https://evil.example/phish", "javascript:alert(1)"):
        service(client).redirector.forget(code)
        await stored.redis.set(keys.link(code), replace(link, url=bad).dumps())
        response = await client.get(f"/s/{code}", allow_redirects=False)
        assert response.status == 410
        assert "Location" not in response.headers
    assert any(
        "event=redirect_blocked" in r.getMessage() and code in r.getMessage()
        for r in caplog.records
    )


async def test_scanning_unknown_codes_is_rate_limited(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> None:
    client = await aiohttp_client(
        create_app(
            sl_settings.replace(shortlinks__rate_scan_per_address=3, shortlinks__rate_window=86400)
        )
    )
    code = (await create(client))["code"]
    for n in range(3):
        assert (await client.get(f"/s/NW20220524000000000{n}")).status == 404
    response = await client.get("/s/NW202205240000000009", headers={"Accept": "application/json"})
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 86400
    body = await response.json()
    assert body["type"] == problem_type("rate_limited") and body["status"] == 429
    # unknown codes stay refused until the window ends; a real code never is (shared NAT)
    assert (await client.get("/s/NW202205240000000008")).status == 429
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 302


async def test_cached_link_is_served_without_redis(client: TestClient) -> None:
    code = (await create(client))["code"]
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 302
    # remove the record behind the cache's back: the process still answers from memory
    await service(client).store.redis.delete(keys.link(code))
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 302
    service(client).redirector.forget(code)
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 404


async def test_retarget_takes_effect_at_once(client: TestClient) -> None:
    code = (await create(client))["code"]
    assert (await client.get(f"/s/{code}", allow_redirects=False)).headers["Location"] == ARTICLE
    response = await client.patch(
        f"/api/links/{code}", json={"url": f"{SITE}/moved.html"}, headers=AUTH
    )
    assert response.status == 200
    response = await client.get(f"/s/{code}", allow_redirects=False)
    assert response.headers["Location"] == f"{SITE}/moved.html"


async def test_robots_lets_social_crawlers_reach_share_links(client: TestClient) -> None:
    response = await client.get("/robots.txt")
    parser = robotparser.RobotFileParser()
    parser.parse((await response.text()).splitlines())
    share = f"{SITE}/html_News/NewsShare.html?infoCode=NW202205242389705455"
    for agent in (
        "Twitterbot",
        "facebookexternalhit",
        "WhatsApp",
        "TelegramBot",
        "Slackbot",
        "LinkedInBot",
        "Googlebot",
        "Baiduspider",
    ):
        assert parser.can_fetch(agent, share), agent
        assert parser.can_fetch(agent, f"{SITE}/s/NW202205242389705455"), agent
    assert not parser.can_fetch("SomeBot", f"{SITE}/api/links")


async def test_preview_page(client: TestClient) -> None:
    code = (await create(client, title="集美新城图书馆正式开放 <b>"))["code"]
    for path in (f"/s/{code}+", f"/S/{code}+"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 200
        page = await response.text()
        assert "集美新城图书馆正式开放 &lt;b&gt;" in page
        assert f'href="{ARTICLE}"' in page
        assert f"{SITE}/html_News/NewsShare.html?infoCode={code}" in page
        assert f'src="/qr/{code}.svg"' in page  # by path: loads from whichever host served it
    assert (await client.get(f"/s/{UNKNOWN}+")).status == 404
    assert (await client.get("/s/NW2022+")).status == 400


async def test_preview_and_head_are_not_counted(client: TestClient) -> None:
    code = (await create(client))["code"]
    await client.get(f"/s/{code}+")
    for path in (f"/s/{code}", f"/html_News/NewsShare.html?infoCode={code}"):
        assert (await client.head(path, allow_redirects=False)).status == 302
    assert await service(client).writer.flush() == 0
    client_redis: aioredis.Redis = service(client).store.redis
    assert await client_redis.hgetall(keys.stats(code)) == {}


async def test_redis_outage_is_a_503_page(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, tmp_path
) -> None:
    app = create_app(sl_settings.replace(redis__url=f"unix://{tmp_path}/nobody.sock"))
    client = await aiohttp_client(app)
    for path in (
        "/s/NW202205242389705455",
        "/s/NW202205242389705455+",
        "/html_News/NewsShare.html?infoCode=NW202205242389705455",
        "/qr/NW202205242389705455.svg",
    ):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 503, path
        assert response.headers["Retry-After"] == "1"
        assert f'href="{SITE}/"' in await response.text()


async def test_a_cached_link_answers_as_the_first_click_did_and_every_click_counts(
    client: TestClient,
) -> None:
    """The first click reads Redis on its route; the next ones are answered from the
    process's cache before routing (finews/core/hot.py): the same answer, each counted."""
    code = (await create(client))["code"]
    before = await scrape(client)
    forms = [f"/s/{code}", f"/S/{code}", f"/html_News/NewsShare.html?infoCode={code}&from=x"]
    answers = []
    for path in forms * 2:
        response = await client.get(path, allow_redirects=False, headers={"User-Agent": CHROME_UA})
        kept = {k: v for k, v in response.headers.items() if k not in ("Date", "Server")}
        answers.append((response.status, kept, await response.read()))
    assert answers[:3] == answers[3:]
    assert answers[0][0] == 302 and answers[0][1]["Location"] == ARTICLE
    assert (await client.post(f"/s/{code}", allow_redirects=False)).status == 405
    await service(client).writer.flush()
    totals = (await (await client.get(f"/api/links/{code}/stats", headers=AUTH)).json())["totals"]
    assert totals["clicks"] == 6
    after = await scrape(client)
    for route in ("/s/{code}", "/S/{code}", "/html_News/NewsShare.html"):
        labels = {"route": route, "method": "GET", "status": "302"}
        got = value(after, "finews_http_requests_total", **labels)
        assert got - value(before, "finews_http_requests_total", **labels) == 2, route
