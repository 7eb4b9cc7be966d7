"""The list indexes (search, created, clicks) kept right across every write, their keyset
paging, and a purge that leaves nothing behind, on a real Redis over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from finews.app import create_app
from finews.core.settings import Settings
from shortlinks import indexes, keys
from tests.shortlinks.real_agents import UAS
from tests.shortlinks_support import AUTH, SITE, create, service

INDEX = f"{keys.PREFIX}:test:paging"


async def get(client: TestClient, path: str) -> Any:
    response = await client.get(path, headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def found(client: TestClient, q: str) -> list[str]:
    body = await get(client, f"/api/links?q={q}&limit=100")
    return sorted(link["code"] for link in body["links"])


async def clicks(client: TestClient, code: str, n: int, agent: str = "chrome") -> None:
    for _ in range(n):
        response = await client.get(
            f"/s/{code}", allow_redirects=False, headers={"User-Agent": UAS[agent]}
        )
        assert response.status == 302
    await service(client).writer.flush()


@settings(derandomize=True, max_examples=40, deadline=None)
@given(
    scores=st.dictionaries(
        st.from_regex(r"NW2024052[0-9]{11}", fullmatch=True), st.integers(0, 3), max_size=30
    ),
    size=st.integers(1, 7),
    desc=st.booleans(),
    drop=st.booleans(),
)
def test_paging_an_index_gives_every_member_once_in_order(
    redis_url: str, scores: dict[str, int], size: int, desc: bool, drop: bool
) -> None:
    """Ties in code order, pages of any size; a cursor whose member left meanwhile (a
    deleted link) still continues where it was."""

    async def scenario() -> list[tuple[str, int]]:
        redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            await redis.delete(INDEX)
            if scores:
                await redis.zadd(INDEX, scores)
            seen: list[tuple[str, int]] = []
            start = None
            for _ in range(len(scores) + 1):  # bounded: a page that repeats fails, not hangs
                page = await indexes.page(redis, INDEX, start, size, desc=desc)
                if not page:
                    break
                seen += page
                start = (page[-1][1], page[-1][0])
                if drop:
                    await redis.zrem(INDEX, page[-1][0])
            return seen
        finally:
            await redis.aclose()

    expected = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=desc)
    assert asyncio.run(scenario()) == expected


async def test_search_follows_creates_edits_deletes_restores_and_purges(
    client: TestClient,
) -> None:
    a = (await create(client, f"{SITE}/metro.html", title="厦门地铁 Line 3"))["code"]
    b = (await create(client, f"{SITE}/port.html", title="Port news"))["code"]
    c = (await create(client, f"{SITE}/sale.html", title="50% [off]* today"))["code"]
    assert await found(client, "厦门") == [a]
    assert await found(client, "LINE") == [a]  # casefolded
    assert await found(client, "port.html") == [b]
    assert await found(client, "[off]*") == [c] and await found(client, "*") == [c]  # literal
    assert await found(client, b[-6:]) == [b]

    assert (await client.patch(f"/api/links/{a}", json={"title": "Bus"}, headers=AUTH)).ok
    assert await found(client, "厦门") == [] and await found(client, "bus") == [a]
    moved = await client.patch(f"/api/links/{b}", json={"url": f"{SITE}/dock.html"}, headers=AUTH)
    assert moved.ok
    assert await found(client, "port.html") == [] and await found(client, "dock") == [b]

    assert (await client.delete(f"/api/links/{b}", headers=AUTH)).status == 204
    assert await found(client, "dock") == []
    assert (await client.post(f"/api/links/{b}/restore", headers=AUTH)).ok
    assert await found(client, "dock") == [b]
    assert (await client.delete(f"/api/links/{c}?purge=true", headers=AUTH)).status == 204
    assert await found(client, "off") == []
    redis = service(client).store.redis
    assert await redis.zcard(keys.SEARCH) == 2  # no stale entry left by the edits
    assert sorted(await redis.zrange(keys.CREATED, 0, -1)) == sorted([a, b])


async def test_sorting_by_clicks_and_created_pages_from_the_indexes(
    client: TestClient, clock
) -> None:
    old = (await create(client, f"{SITE}/old.html"))["code"]
    await clicks(client, old, 4)  # three days ago: in `clicks`, not in `clicks_24h`
    clock.advance(3 * 86400)
    made = []
    for n in range(5):
        made.append((await create(client, f"{SITE}/{n}.html"))["code"])
        clock.advance(60)
    for code, n in zip(made, (2, 0, 3, 2, 1), strict=True):
        await clicks(client, code, n)
    expected = sorted(zip(made, (2, 0, 3, 2, 1), strict=True), key=lambda p: (p[1], p[0]))

    async def pages(query: str) -> list[tuple[str, int]]:
        seen, cursor = [], ""
        for _ in range(len(made) + 2):  # bounded: a cursor that does not move fails
            body = await get(client, f"/api/links?{query}&limit=2{cursor}")
            value = "clicks_24h" if "clicks_24h" in query else "clicks"
            seen += [(link["code"], link[value]) for link in body["links"]]
            if not body["next_cursor"]:
                return seen
            cursor = f"&cursor={body['next_cursor']}"
        raise AssertionError(f"paging {query} did not end: {seen}")

    recent = sorted([*expected, (old, 0)], key=lambda p: (p[1], p[0]))
    assert await pages("sort=clicks_24h") == recent[::-1]
    assert await pages("sort=clicks_24h&order=asc") == recent
    # the same as the search path, which reads every record ("nw" is in every code)
    assert await pages("sort=clicks_24h&q=nw") == recent[::-1]
    assert await pages("sort=clicks_24h&order=asc&q=nw") == recent
    expected = sorted([*expected, (old, 4)], key=lambda p: (p[1], p[0]))
    assert await pages("sort=clicks") == expected[::-1]
    assert await pages("sort=clicks&order=asc") == expected
    assert [code for code, _ in await pages("sort=created&order=desc")] == [*made[::-1], old]
    assert (await client.delete(f"/api/links/{made[2]}", headers=AUTH)).status == 204
    assert [code for code, _ in await pages("sort=clicks")] == [
        code for code, _ in expected[::-1] if code != made[2]
    ]
    assert (await client.post(f"/api/links/{made[2]}/restore", headers=AUTH)).ok
    assert (await pages("sort=clicks"))[:2] == [(old, 4), (made[2], 3)]  # back with its clicks


async def test_purge_leaves_no_leaderboard_entry_index_entry_or_event(
    client: TestClient,
) -> None:
    gone = (await create(client, f"{SITE}/gone.html", title="gone"))["code"]
    kept = (await create(client, f"{SITE}/kept.html"))["code"]
    await clicks(client, gone, 2, "wechat_ios")
    await clicks(client, kept, 1)
    response = await client.get(
        f"/s/{gone}", allow_redirects=False, headers={"Referer": "https://weibo.com/1"}
    )
    assert response.status == 302
    await service(client).writer.flush()
    redis = service(client).store.redis
    boards = [name async for name in redis.scan_iter(match=keys.top("*"))]
    assert len(boards) >= 3  # all, wechat, weibo, direct
    stale = f"{gone}\0{gone.casefold()}\0{SITE}/gone.html\0an old title"  # two edits raced
    await redis.zadd(keys.SEARCH, {stale: 0})
    assert await found(client, "old title") == []  # every match is checked against its record
    assert (await client.delete(f"/api/links/{gone}?purge=true", headers=AUTH)).status == 204

    for name in boards:
        assert await redis.zscore(name, gone) is None, name
    assert await redis.zscore(keys.top("2024052412"), kept) == 1
    assert [link["code"] for link in (await get(client, "/api/top?window=24h"))["links"]] == [kept]
    assert [link["code"] for link in (await get(client, "/api/top?source=weibo"))["links"]] == []
    visits = (await get(client, "/api/visits?limit=100"))["visits"]
    assert [v["code"] for v in visits] == [kept]
    for index in (keys.CLICKS, keys.CREATED, keys.CODES):
        assert await redis.zscore(index, gone) is None
    assert [m async for m in redis.zscan_iter(keys.SEARCH, match=f"{gone}*")] == []
    assert [k async for k in redis.scan_iter(match=f"*{gone}*")] == []


async def test_a_search_past_list_scan_max_says_truncated(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> None:
    client = await aiohttp_client(create_app(sl_settings.replace(shortlinks__list_scan_max=2)))
    made = sorted([(await create(client, f"{SITE}/{n}.html", title="港口"))["code"] for n in "abc"])
    body = await get(client, "/api/links?q=港口")
    assert [link["code"] for link in body["links"]] == made[:2] and body["truncated"] is True
    body = await get(client, f"/api/links?q={made[2][-10:]}")
    assert [link["code"] for link in body["links"]] == made[2:] and body["truncated"] is False


async def test_a_forged_cursor_is_a_400_on_every_indexed_sort(client: TestClient) -> None:
    await create(client)
    forged = [json.dumps(value).encode() for value in ([True, "NW"], [10**400, "NW"], ["x", "NW"])]
    for sort in ("clicks", "created", "clicks_24h"):
        for raw in forged:
            cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            response = await client.get(f"/api/links?sort={sort}&cursor={cursor}", headers=AUTH)
            assert (sort, response.status) == (sort, 400)
