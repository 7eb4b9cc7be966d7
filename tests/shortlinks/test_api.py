"""The /api/links API over HTTP against a real Redis: every success and error path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.clock import FrozenClock
from finews.core.errors import CONTENT_TYPE, problem_type
from finews.core.settings import Settings
from shortlinks import codes, keys
from tests.shortlinks_support import ARTICLE, AUTH, KEY, SITE, create, service


async def test_create_then_same_url_returns_the_existing_link(client: TestClient) -> None:
    response = await client.post(
        "/api/links", json={"url": ARTICLE, "date": "2022-05-24", "title": "集美"}, headers=AUTH
    )
    assert response.status == 201
    link = await response.json()
    code = link["code"]
    assert codes.parse(code).day.isoformat() == "2022-05-24" and code.startswith("NW")
    assert link["short_url"] == f"{SITE}/s/{code}"
    assert link["share_url"] == f"{SITE}/html_News/NewsShare.html?infoCode={code}"
    assert link["qr_svg"] == f"{SITE}/qr/{code}.svg"
    assert link["target"] == ARTICLE and link["title"] == "集美" and link["status"] == "active"
    assert link["created_at"].endswith("+08:00")
    again = await client.post("/api/links", json={"url": ARTICLE, "prefix": "XM"}, headers=AUTH)
    assert again.status == 200
    assert (await again.json())["code"] == code
    response = await client.get(f"/api/links/{code}", headers=AUTH)
    assert response.status == 200 and (await response.json())["code"] == code


async def test_prefix_and_default_date(client: TestClient) -> None:
    link = await create(client, f"{SITE}/a.html", prefix="XM")
    parsed = codes.parse(link["code"])
    assert parsed.prefix == "XM"
    assert link["created_at"].startswith(parsed.day.isoformat())


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer wrong-key"}, "Bearer"),
        ({"Authorization": f"Basic {KEY}"}, "Bearer"),
        ({"Authorization": "Bearer "}, "Bearer"),
    ],
)
async def test_missing_or_wrong_key_is_401(
    client: TestClient, headers: dict[str, str], message: str
) -> None:
    before = await service(client).store.redis.zcard(keys.CODES)
    for method, path in (
        ("POST", "/api/links"),
        ("GET", "/api/links"),
        ("GET", "/api/links/NW202205242389705455"),
        ("DELETE", "/api/links/NW202205242389705455"),
    ):
        response = await client.request(method, path, json={"url": ARTICLE}, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = await response.json()
        assert body["type"] == problem_type("unauthorized") and message in body["detail"]
        assert response.content_type == CONTENT_TYPE and body["status"] == 401
    assert await service(client).store.redis.zcard(keys.CODES) == before


async def test_api_without_configured_keys_refuses_everyone(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> None:
    client = await aiohttp_client(create_app(sl_settings.replace(api__keys=[])))
    response = await client.post("/api/links", json={"url": ARTICLE}, headers=AUTH)
    assert response.status == 401
    assert "no api.keys" in (await response.json())["detail"]


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("javascript:alert(1)", "scheme"),
        ("data:text/html;base64,PHNjcmlwdD4=", "scheme"),
        ("https://evil.example/", "host"),
        ("//evil.example/", "scheme"),
        ("https://news.example.cn@evil.example/", "userinfo"),
        ("https://news.example.cn\\evil", "backslash"),
        ("https://news.example.cn/\u0000", "control_characters"),
        (SITE + "/" + "x" * 2100, "length"),
        (12, "url"),
    ],
)
async def test_bad_target_is_422_naming_the_rule(client: TestClient, url: Any, rule: str) -> None:
    response = await client.post("/api/links", json={"url": url}, headers=AUTH)
    assert response.status == 422
    body = await response.json()
    assert body["type"] == problem_type("invalid_field") and body["status"] == 422
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("url", rule)]


async def test_allowed_hosts_setting_adds_hosts(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> None:
    app = create_app(sl_settings.replace(shortlinks__allowed_hosts=["m.example.cn"]))
    client = await aiohttp_client(app)
    assert (await create(client, "https://m.example.cn/a.html"))[
        "target"
    ] == "https://m.example.cn/a.html"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": ARTICLE, "date": "2022-02-30"}, "date"),
        ({"url": ARTICLE, "date": 20220524}, "date"),
        ({"url": ARTICLE, "prefix": "nw"}, "prefix"),
        ({"url": ARTICLE, "prefix": "N1"}, "prefix"),
        ({"url": ARTICLE, "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"url": ARTICLE, "expires_at": "2001-01-01T00:00:00+08:00"}, "expires_at"),
        ({"url": ARTICLE, "title": 5}, "title"),
        ({"url": ARTICLE, "colour": "red"}, "colour"),
    ],
)
async def test_bad_fields_are_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/links", json=body, headers=AUTH)
    assert response.status == 422
    assert [e["field"] for e in (await response.json())["errors"]] == [field]


async def test_malformed_json_and_non_objects_are_400(client: TestClient) -> None:
    for data in (b"{not json", b"\xff\xfe", b""):
        response = await client.post("/api/links", data=data, headers=AUTH)
        assert response.status == 400
        assert (await response.json())["type"] == problem_type("malformed_json")
    response = await client.post("/api/links", json=["a"], headers=AUTH)
    assert response.status == 400
    assert (await response.json())["type"] == problem_type("malformed_request")


async def test_oversized_body_is_413(client: TestClient) -> None:
    big = {"url": ARTICLE, "title": "x" * 300_000}
    response = await client.post("/api/links", json=big, headers=AUTH)
    assert response.status == 413
    assert (await response.json())["type"] == problem_type("too_large")

    async def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(40):
            yield b" " * 10_000

    response = await client.post("/api/links", data=chunks(), headers=AUTH)
    assert response.status == 413


async def test_creation_is_rate_limited_per_key_and_per_address(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, clock: FrozenClock
) -> None:
    # a day-long window, aligned to UTC midnight; the clock stands at noon UTC
    client = await aiohttp_client(
        create_app(
            sl_settings.replace(
                shortlinks__rate_create_per_key=3,
                api__keys=[KEY, "second-key"],
                shortlinks__rate_window=86400,
            ),
            clock=clock,
        )
    )
    for n in range(3):
        await create(client, f"{SITE}/{n}.html")
    response = await client.post("/api/links", json={"url": f"{SITE}/x.html"}, headers=AUTH)
    assert response.status == 429
    assert response.headers["Retry-After"] == str(12 * 3600)  # until the window's end
    body = await response.json()
    assert body["type"] == problem_type("rate_limited") and body["status"] == 429
    other = {"Authorization": "Bearer second-key"}
    response = await client.post("/api/links", json={"url": f"{SITE}/x.html"}, headers=other)
    assert response.status == 201
    # a batch counts each link
    response = await client.post(
        "/api/links/batch",
        json={"links": [{"url": f"{SITE}/b{n}.html"} for n in range(3)]},
        headers=other,
    )
    assert response.status == 429
    clock.advance(12 * 3600)  # the next window: the first key may create again
    response = await client.post("/api/links", json={"url": f"{SITE}/y.html"}, headers=AUTH)
    assert response.status == 201

    redis = service(client).store.redis
    await redis.delete(*[k async for k in redis.scan_iter(match=f"{keys.PREFIX}:rl:*")])
    client = await aiohttp_client(
        create_app(
            sl_settings.replace(
                shortlinks__rate_create_per_address=2,
                api__keys=[KEY, "second-key"],
                shortlinks__rate_window=86400,
            )
        )
    )
    await create(client, f"{SITE}/1.html")
    await create(client, f"{SITE}/2.html")
    response = await client.post(
        "/api/links", json={"url": f"{SITE}/3.html"}, headers={"Authorization": "Bearer second-key"}
    )
    assert response.status == 429


async def test_batch_has_a_result_per_item(client: TestClient) -> None:
    existing = await create(client)
    items = [
        {"url": ARTICLE},
        {"url": f"{SITE}/new.html", "date": "2021-01-02"},
        {"url": "https://evil.example/"},
        {"url": f"{SITE}/new.html"},
        "nonsense",
    ]
    response = await client.post("/api/links/batch", json={"links": items}, headers=AUTH)
    assert response.status == 200
    results = (await response.json())["results"]
    assert [r["status"] for r in results] == [200, 201, 422, 200, 400]
    assert results[0]["link"]["code"] == existing["code"]
    assert results[1]["link"]["code"][2:10] == "20210102"
    assert results[3]["link"]["code"] == results[1]["link"]["code"]
    assert results[2]["errors"] == [
        {"field": "url", "rule": "host", "detail": results[2]["errors"][0]["detail"]}
    ]
    assert results[4]["type"] == problem_type("malformed_request")
    too_many = {"links": [{"url": f"{SITE}/{n}.html"} for n in range(101)]}
    response = await client.post("/api/links/batch", json=too_many, headers=AUTH)
    assert response.status == 422
    assert (await response.json())["errors"][0]["field"] == "links"


async def test_patch_retarget_disable_expiry_and_conflicts(client: TestClient) -> None:
    code = (await create(client))["code"]
    other = (await create(client, f"{SITE}/other.html"))["code"]
    path = f"/api/links/{code}"
    response = await client.patch(
        path, json={"expires_at": "2099-01-01T00:00:00+08:00", "title": "新"}, headers=AUTH
    )
    body = await response.json()
    assert body["expires_at"] == "2099-01-01T00:00:00+08:00" and body["title"] == "新"
    response = await client.patch(path, json={"url": f"{SITE}/other.html"}, headers=AUTH)
    assert response.status == 409
    assert (await response.json())["code"] == other
    response = await client.patch(path, json={"url": "https://evil.example/"}, headers=AUTH)
    assert response.status == 422
    assert (await response.json())["errors"][0]["rule"] == "host"
    response = await client.patch(path, json={"disabled": "yes"}, headers=AUTH)
    assert response.status == 422
    response = await client.patch(path, json={"url": f"{SITE}/moved.html"}, headers=AUTH)
    assert response.status == 200
    # the old URL is free again: asking for it issues a new link; the new URL finds this one
    assert (await create(client, f"{SITE}/moved.html"))["code"] == code
    assert (await create(client, ARTICLE))["code"] not in (code, other)
    response = await client.patch(path, json={"disabled": True, "expires_at": None}, headers=AUTH)
    body = await response.json()
    assert body["status"] == "disabled" and body["expires_at"] is None
    assert (
        await client.patch("/api/links/NW202205240000000001", json={}, headers=AUTH)
    ).status == 404
    assert (await client.patch("/api/links/bad", json={}, headers=AUTH)).status == 400


async def test_delete_answers_410_and_purge_frees_the_url(client: TestClient) -> None:
    code = (await create(client))["code"]
    await client.get(f"/s/{code}", allow_redirects=False)
    await service(client).writer.flush()
    response = await client.delete(f"/api/links/{code}", headers=AUTH)
    assert response.status == 204
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 410
    shown = await (await client.get(f"/api/links/{code}", headers=AUTH)).json()
    assert shown["status"] == "deleted"
    response = await client.delete(f"/api/links/{code}?purge=true", headers=AUTH)
    assert response.status == 204
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 404
    assert (await client.get(f"/api/links/{code}", headers=AUTH)).status == 404
    assert (await client.delete(f"/api/links/{code}", headers=AUTH)).status == 404
    redis = service(client).store.redis
    assert [k async for k in redis.scan_iter(match=f"*{code}*")] == []
    assert (await create(client))["code"] != code


async def test_cursor_paging_lists_every_link_once(client: TestClient) -> None:
    made = {
        (await create(client, f"{SITE}/{n}.html", date=f"2022-05-{n % 28 + 1:02d}"))["code"]
        for n in range(23)
    }
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        response = await client.get(f"/api/links?limit=5&cursor={cursor}", headers=AUTH)
        body = await response.json()
        seen += [link["code"] for link in body["links"]]
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]
    assert seen == sorted(made)
    for query in ("limit=0", "limit=101", "limit=x", "cursor=nope"):
        response = await client.get(f"/api/links?{query}", headers=AUTH)
        assert response.status == 400
        assert (await response.json())["type"] == problem_type("bad_parameter")


async def test_stats_parameters(client: TestClient) -> None:
    code = (await create(client))["code"]
    response = await client.get(
        f"/api/links/{code}/stats?from=2022-05-01&to=2022-05-03", headers=AUTH
    )
    body = await response.json()
    assert [d["date"] for d in body["days"]] == ["2022-05-01", "2022-05-02", "2022-05-03"]
    assert body["totals"]["clicks"] == 0
    for query in (
        "from=2022-05-04&to=2022-05-03",
        "from=2020-01-01&to=2022-01-01",
        "from=yesterday",
    ):
        response = await client.get(f"/api/links/{code}/stats?{query}", headers=AUTH)
        assert response.status == 400
    response = await client.get("/api/links/NW202205240000000001/stats", headers=AUTH)
    assert response.status == 404


async def test_redis_outage_is_a_json_503(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, tmp_path
) -> None:
    app = create_app(sl_settings.replace(redis__url=f"unix://{tmp_path}/nobody.sock"))
    client = await aiohttp_client(app)
    response = await client.post("/api/links", json={"url": ARTICLE}, headers=AUTH)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert (await response.json())["type"] == problem_type("unavailable")


async def test_concurrent_requests_for_one_url_get_one_link(client: TestClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/links", json={"url": ARTICLE}, headers=AUTH) for _ in range(40))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 39 + [201]
    assert len({(await r.json())["code"] for r in responses}) == 1
    assert await service(client).store.redis.zcard(keys.CODES) == 1
