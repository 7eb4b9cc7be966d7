"""Per-day counts in day hashes that expire by TTL, the move of the old layout into them,
export/import carrying every bucket, and `finews links top`, on a real Redis."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from finews.app import create_app
from finews.core.settings import Settings
from shortlinks import keys, migrate, transfer
from tests.envs import clean_env
from tests.shortlinks.real_agents import UAS
from tests.shortlinks_support import AUTH, SITE, create, service

DAY = "20240524"  # the frozen clock's day in Asia/Shanghai


async def click(client: TestClient, path: str, agent: str, referrer: str = "") -> None:
    headers = {"User-Agent": agent, **({"Referer": referrer} if referrer else {})}
    response = await client.get(path, allow_redirects=False, headers=headers)
    assert response.status == 302


async def get(client: TestClient, path: str) -> Any:
    response = await client.get(path, headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def some_visits(client: TestClient, code: str) -> None:
    """Clicks from several sources, a bot and a junk referrer, on one day."""
    await click(client, f"/s/{code}?from=timeline", UAS["wechat_ios"])
    await click(client, f"/s/{code}", UAS["chrome"], "https://weibo.com/1")
    await click(client, f"/s/{code}", UAS["ipad"], "https://junk.example/x")
    await click(client, f"/s/{code}", UAS["wechat_ios"])  # a repeat: no new unique click
    await click(client, f"/s/{code}", UAS["googlebot"])
    await service(client).writer.flush()


async def answers(client: TestClient, code: str) -> list[Any]:
    """What the stats API says of the link, by day and by hour."""
    return [
        await get(client, f"/api/links/{code}/stats?from=2024-05-20&to=2024-05-25"),
        await get(
            client,
            f"/api/links/{code}/stats?granularity=hour"
            "&from=2024-05-24T18:00%2B08:00&to=2024-05-24T21:00%2B08:00",
        ),
    ]


async def test_a_days_counts_live_in_their_own_hash_and_expire_with_the_retention(
    client: TestClient,
) -> None:
    code = (await create(client))["code"]
    await some_visits(client, code)
    redis = service(client).store.redis
    assert await redis.hgetall(keys.stats(code)) == {"h": "4", "u": "3", "b": "1"}
    assert await redis.hgetall(keys.day(code, DAY)) == {
        "h": "4",
        "u": "3",
        "b": "1",
        "bot:googlebot": "1",
        "src:wechat-moments": "1",
        "src:wechat": "1",
        "src:weibo": "1",
        "src:junk.example": "1",
    }
    retention = service(client).settings.shortlinks.retention_days * 86400
    assert retention - 60 < await redis.ttl(keys.day(code, DAY)) <= retention
    assert await redis.ttl(keys.stats(code)) == -1  # the all-time totals stay
    body = (await answers(client, code))[0]
    assert body["totals"]["clicks"] == 4 and body["all_time"]["clicks"] == 4
    assert body["totals"]["sources"]["junk.example"] == 1


async def old_layout(redis: Redis, code: str) -> None:
    """Put a link's day hashes back the way the release before kept them: as
    `YYYYMMDD:FIELD` in the stats hash, with no bucket or list index."""
    async for name in redis.scan_iter(match=keys.day(code, "*")):
        day = name.rsplit(":", 1)[1]
        fields = await redis.hgetall(name)
        await redis.hset(keys.stats(code), mapping={f"{day}:{k}": v for k, v in fields.items()})
        await redis.delete(name)
    await redis.delete(keys.buckets(code), keys.CREATED, keys.SEARCH, keys.CLICKS)


async def test_the_old_layout_moves_into_day_hashes_with_exact_counts(
    client: TestClient,
) -> None:
    code = (await create(client, title="厦门地铁"))["code"]
    await some_visits(client, code)
    before = await answers(client, code)
    redis = service(client).store.redis
    await old_layout(redis, code)
    assert await redis.hlen(keys.stats(code)) > 3  # the per-day fields are back in it

    assert await migrate.migrate(redis) == 0  # no `sl:` key to rename
    assert await answers(client, code) == before
    assert set(await redis.hkeys(keys.stats(code))) == {"h", "u", "b"}
    sketch = await redis.expiretime(keys.visitors(code, DAY))
    assert await redis.expiretime(keys.day(code, DAY)) == sketch  # the day's own expiry
    indexed = await redis.zrange(keys.buckets(code), 0, -1, withscores=True)
    hour = await redis.expiretime(keys.hour(code, "2024052412"))
    assert sorted(indexed) == sorted([(f"d:{DAY}", sketch), ("h:2024052412", hour)])
    listed = await get(client, "/api/links?sort=clicks")
    assert [(link["code"], link["clicks"]) for link in listed["links"]] == [(code, 4)]
    assert [link["code"] for link in (await get(client, "/api/links?q=厦门"))["links"]] == [code]
    assert await migrate.migrate(redis) == 0 and await answers(client, code) == before  # again


async def test_export_flush_import_gives_identical_statistics(
    client: TestClient, redis_url: str
) -> None:
    codes = [(await create(client, f"{SITE}/{n}.html"))["code"] for n in range(3)]
    await some_visits(client, codes[0])
    await click(client, f"/s/{codes[1]}", UAS["chrome"])
    await service(client).writer.flush()
    before = {code: await answers(client, code) for code in codes}
    raw = Redis.from_url(redis_url, decode_responses=False)
    try:
        out = io.StringIO()
        assert await transfer.export_links(raw, out, lambda n: None) == 3
        await raw.flushdb()
        result = await transfer.import_links(
            raw, out.getvalue().splitlines(), frozenset({"news.example.cn"}), print, lambda n: None
        )
        assert (result.imported, result.skipped) == (3, 0)
        again = io.StringIO()
        await transfer.export_links(raw, again, lambda n: None)
        assert again.getvalue() == out.getvalue()  # expiry as times: the same bytes
    finally:
        await raw.aclose()
    assert {code: await answers(client, code) for code in codes} == before
    redis = service(client).store.redis
    retention = service(client).settings.shortlinks.retention_days * 86400
    assert retention - 60 < await redis.ttl(keys.day(codes[0], DAY)) <= retention
    assert 13 * 86400 < await redis.ttl(keys.hour(codes[0], "2024052412")) <= 14 * 86400
    assert (await get(client, "/api/links?sort=clicks"))["links"][0]["code"] == codes[0]


async def test_a_line_of_the_release_before_imports_its_days(redis_url: str) -> None:
    day = time.strftime("%Y%m%d", time.gmtime(time.time() - 86400))
    line = (
        '{"code": "NW202205242389705455", "url": "https://news.example.cn/a.html",'
        ' "created_at": "2022-05-24T10:00:00+08:00", "expires_at": null,'
        f' "stats": {{"h": 2, "u": 1, "{day}:h": 2, "{day}:src:weibo": 2}}}}'
    )
    raw = Redis.from_url(redis_url, decode_responses=False)
    try:
        result = await transfer.import_links(
            raw, [line], frozenset({"news.example.cn"}), print, lambda n: None
        )
        assert result.imported == 1
        code = "NW202205242389705455"
        assert await raw.hgetall(keys.stats(code)) == {b"h": b"2", b"u": b"1"}
        assert await raw.hgetall(keys.day(code, day)) == {b"h": b"2", b"src:weibo": b"2"}
        assert 398 * 86400 < await raw.ttl(keys.day(code, day)) <= 400 * 86400
    finally:
        await raw.aclose()


async def test_links_top_prints_what_the_api_answers(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, redis_url: str
) -> None:
    client = await aiohttp_client(create_app(sl_settings))  # the real clock, as the CLI's
    a, b = [await create(client, f"{SITE}/{n}.html", title=f"标题{n}") for n in "ab"]
    for _ in range(3):
        await click(client, f"/s/{a['code']}?from=timeline", UAS["wechat_ios"])
    await click(client, f"/s/{b['code']}", UAS["chrome"], "https://weibo.com/1")
    await service(client).writer.flush()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "finews", "links", "top", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**clean_env(), "FINEWS_SITE__URL": SITE, "FINEWS_REDIS__URL": redis_url},
        )

    async def top(*args: str) -> list[str]:
        result = await asyncio.to_thread(run, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    api = await get(client, "/api/top?window=24h")
    printed = await top("--window", "24h")
    assert printed == ["code\tclicks\tvisitors\ttitle"] + [
        f"{link['code']}\t{link['clicks']}\t{link['visitors']}\t{link['title']}"
        for link in api["links"]
    ]
    assert printed[1] == f"{a['code']}\t3\t1\t标题a"
    weibo = await top("--window", "1h", "--source", "weibo", "--limit", "1")
    assert weibo[1:] == [f"{b['code']}\t1\t1\t标题b"]
    refused = await asyncio.to_thread(run, "--limit", "0")
    assert refused.returncode == 2 and "--limit" in refused.stderr


async def test_a_moved_link_ranks_as_before(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, redis_url: str
) -> None:
    """Import puts each hour's clicks back in the leaderboards (the real clock: the boards
    of the frozen clock's hours expired long ago)."""
    client = await aiohttp_client(create_app(sl_settings))
    a, b = [(await create(client, f"{SITE}/{n}.html"))["code"] for n in "ab"]
    for _ in range(2):
        await click(client, f"/s/{a}", UAS["chrome"], "https://weibo.com/1")
    await click(client, f"/s/{b}", UAS["wechat_ios"])
    await service(client).writer.flush()
    queries = ["/api/top?window=24h", "/api/top?source=weibo", "/api/links?sort=clicks_24h"]
    before = [await get(client, query) for query in queries]
    raw = Redis.from_url(redis_url, decode_responses=False)
    try:
        out = io.StringIO()
        await transfer.export_links(raw, out, lambda n: None)
        await raw.flushdb()
        for _ in range(2):  # twice: the boards are set, not added to
            await transfer.import_links(
                raw,
                out.getvalue().splitlines(),
                frozenset({"news.example.cn"}),
                print,
                lambda n: None,
            )
    finally:
        await raw.aclose()
    assert [await get(client, query) for query in queries] == before
    assert [link["code"] for link in before[0]["links"]] == [a, b]
