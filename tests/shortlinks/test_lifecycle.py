"""Lists, creates, deletes, restores and purges of share links, over HTTP on a real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as syncredis
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.settings import Settings
from shortlinks import keys
from tests.feeds.test_live import items, until, write_post
from tests.shortlinks.test_cli import finews
from tests.shortlinks_support import AUTH, KEY, SITE, WECHAT_UA, create, service


async def clicks(client: TestClient, code: str, n: int = 1) -> None:
    for _ in range(n):
        response = await client.get(
            f"/s/{code}", allow_redirects=False, headers={"User-Agent": WECHAT_UA}
        )
        assert response.status == 302
    await service(client).writer.flush()


async def all_time(client: TestClient, code: str) -> dict[str, int]:
    response = await client.get(f"/api/links/{code}/stats", headers=AUTH)
    assert response.status == 200
    return (await response.json())["all_time"]


async def keys_of(client: TestClient, code: str) -> list[str]:
    redis = service(client).store.redis
    return sorted([k async for k in redis.scan_iter(match=f"*{code}*")])


async def test_delete_keeps_statistics_for_the_retention_period_and_restore_brings_them_back(
    client: TestClient,
) -> None:
    code = (await create(client, f"{SITE}/a.html"))["code"]
    await clicks(client, code, 3)
    assert (await client.delete(f"/api/links/{code}", headers=AUTH)).status == 204
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 410
    assert (await client.get(f"/s/{code}+")).status == 410
    assert (await all_time(client, code))["clicks"] == 3
    redis = service(client).store.redis
    retention = service(client).settings.shortlinks.retention_days * 86400
    assert retention - 60 < await redis.ttl(keys.stats(code)) <= retention
    listed = await (await client.get("/api/links", headers=AUTH)).json()
    assert code not in [link["code"] for link in listed["links"]]
    changed = await client.patch(f"/api/links/{code}", json={"title": "x"}, headers=AUTH)
    assert changed.status == 410 and (await changed.json())["type"].endswith("deleted")

    restored = await client.post(f"/api/links/{code}/restore", headers=AUTH)
    assert restored.status == 200 and (await restored.json())["status"] == "active"
    assert await redis.ttl(keys.stats(code)) == -1  # kept for good again
    await clicks(client, code)
    assert (await all_time(client, code))["clicks"] == 4
    listed = await (await client.get("/api/links", headers=AUTH)).json()
    assert [link["code"] for link in listed["links"]] == [code]
    unknown = await client.post("/api/links/NW202205240000000001/restore", headers=AUTH)
    assert unknown.status == 404


async def test_purge_erases_every_key_of_the_code_and_frees_its_url(client: TestClient) -> None:
    code = (await create(client, f"{SITE}/b.html", title="私事"))["code"]
    await clicks(client, code, 2)
    assert len(await keys_of(client, code)) >= 3  # record, stats, visitors, markers
    assert (await client.delete(f"/api/links/{code}", headers=AUTH)).status == 204
    assert (await client.delete(f"/api/links/{code}?purge=true", headers=AUTH)).status == 204
    assert await keys_of(client, code) == []
    redis = service(client).store.redis
    assert await redis.get(keys.url(f"{SITE}/b.html")) is None
    assert await redis.zscore(keys.CODES, code) is None
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 404
    bad = await client.delete(f"/api/links/{code}?purge=yes", headers=AUTH)
    assert bad.status == 400


async def test_creating_a_link_for_a_url_that_has_one_names_what_it_ignored(
    client: TestClient,
) -> None:
    first = await create(client, f"{SITE}/c.html", title="原标题", date="2022-05-24")
    assert "ignored" not in first
    again = await client.post(
        "/api/links",
        json={
            "url": f"{SITE}/c.html",
            "title": "新标题",
            "expires_at": "2030-01-01T00:00:00+08:00",
            "prefix": "XM",
            "date": "2022-05-24",
        },
        headers=AUTH,
    )
    assert again.status == 200
    body = await again.json()
    assert body["code"] == first["code"] and body["title"] == "原标题"
    assert body["ignored"] == ["title", "expires_at", "prefix"]  # the date matches the code
    same = await client.post(
        "/api/links", json={"url": f"{SITE}/c.html", "title": "原标题"}, headers=AUTH
    )
    assert (await same.json())["ignored"] == []
    batch = await client.post(
        "/api/links/batch",
        json={"links": [{"url": f"{SITE}/c.html", "title": "别的"}]},
        headers=AUTH,
    )
    [result] = (await batch.json())["results"]
    assert result["status"] == 200 and result["link"]["ignored"] == ["title"]


async def test_list_searches_sorts_orders_and_refuses_unknown_parameters(
    client: TestClient,
) -> None:
    made = {}
    for n, (title, hits) in enumerate((("集美图书馆", 1), ("厦门地铁", 3), ("Library news", 2))):
        made[title] = (await create(client, f"{SITE}/p{n}.html", title=title))["code"]
        await clicks(client, made[title], hits)

    async def listing(query: str) -> dict[str, Any]:
        response = await client.get(f"/api/links?{query}", headers=AUTH)
        assert response.status == 200, await response.text()
        return await response.json()

    found = await listing("q=LIBRARY")  # case-insensitive, in the title
    assert [link["code"] for link in found["links"]] == [made["Library news"]]
    assert found["truncated"] is False
    found = await listing("q=p1.html")  # in the URL
    assert [link["title"] for link in found["links"]] == ["厦门地铁"]
    found = await listing(f"q={made['集美图书馆'][-6:]}")  # in the code
    assert [link["title"] for link in found["links"]] == ["集美图书馆"]
    by_clicks = await listing("sort=clicks")
    assert [link["clicks"] for link in by_clicks["links"]] == [3, 2, 1]  # desc by default
    assert [link["clicks_24h"] for link in by_clicks["links"]] == [3, 2, 1]
    assert (await listing("sort=clicks&order=asc"))["links"][0]["title"] == "集美图书馆"
    assert (await listing("sort=clicks_24h"))["links"][0]["title"] == "厦门地铁"
    pages, cursor = [], ""
    for _ in range(4):
        page = await listing(f"sort=created&order=desc&limit=2&cursor={cursor}")
        pages.append([link["code"] for link in page["links"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # one frozen clock made all three in the same second: ties go by code, in the order asked
    assert pages == [sorted(made.values(), reverse=True)[:2], sorted(made.values())[:1]]
    for bad in ("colour=red", "sort=title", "order=up", "q=x&cursor=nope", "limit=0"):
        response = await client.get(f"/api/links?{bad}", headers=AUTH)
        assert response.status == 400, bad
        assert response.content_type == "application/problem+json"


async def test_a_deleted_post_link_stays_deleted_through_a_post_edit_until_restored(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    posts = tmp_path / "posts"
    write_post(posts, "2022-05-01-first.md", "第一篇", date="2022-05-01 09:00:00 +0800")
    settings = make_settings(site__url=SITE, api__keys=[KEY], posts__dir=str(posts))
    client = await aiohttp_client(create_app(settings))

    async def share_url() -> str | None:
        [item] = await items(client, "/feeds/all.json") or [{}]
        return item.get("_finews", {}).get("share_url")

    url = await share_url()
    assert url is not None
    code = url.rpartition("=")[2]
    await clicks(client, code, 2)
    assert (await client.delete(f"/api/links/{code}", headers=AUTH)).status == 204
    write_post(posts, "2022-05-01-first.md", "第一篇（更正）", date="2022-05-01 09:00:00 +0800")

    async def edited() -> bool:
        return [i["title"] for i in await items(client, "/feeds/all.json") or []] == [
            "第一篇（更正）"
        ]

    await until(edited, "the edited post")
    assert await share_url() is None  # no share link for the post while it is deleted
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 410
    shown = await (await client.get(f"/api/links/{code}", headers=AUTH)).json()
    assert shown["status"] == "deleted"
    assert (await all_time(client, code))["clicks"] == 2

    assert (await client.post(f"/api/links/{code}/restore", headers=AUTH)).status == 200
    await clicks(client, code)  # redirects again (302)
    write_post(posts, "2022-05-01-first.md", "第一篇（再改）", date="2022-05-01 09:00:00 +0800")

    async def linked_again() -> bool:
        return await share_url() == url

    await until(linked_again, "the restored share link on the post")
    assert (await all_time(client, code))["clicks"] == 3


def test_cli_shorten_with_title_and_expiry_then_links_list_by_clicks(redis_url: str) -> None:
    env = {"FINEWS_REDIS__URL": redis_url}
    made = finews(
        "shorten", f"{SITE}/cli.html", "--title", "命令行", "--expires", "2099-01-01T00:00", env=env
    )
    assert made.returncode == 0, made.stderr
    code = made.stdout.split()[0]
    again = finews("shorten", f"{SITE}/cli.html", "--title", "别的", env=env)
    assert again.stdout.split()[0] == code and "--title ignored" in again.stderr
    past = finews("shorten", f"{SITE}/old.html", "--expires", "2000-01-01T00:00+08:00", env=env)
    assert past.returncode == 1 and "in the past" in past.stderr
    listed = finews("links", "list", "--q", "命令", env=env)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split("\t") == ["code", "clicks", "clicks_24h", "title", "url"]
    assert row.split("\t") == [code, "0", "0", "命令行", f"{SITE}/cli.html"]
    record = syncredis.Redis.from_url(redis_url).get(keys.link(code))
    assert json.loads(record)["expires_at"] == "2099-01-01T00:00:00+08:00"  # site timezone
