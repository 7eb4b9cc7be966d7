"""What a click is and where it came from: junk referrers cannot bloat a link's statistics
(`shortlinks.sources_max`, the rest as `other`), and a browser's prefetch is not a click."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shortlinks import keys
from shortlinks.counting import Salts, VisitWriter
from shortlinks.visits import Visit, prefetch
from tests.shortlinks_support import AUTH, CHROME_UA, WECHAT_UA, create, service

CODE = "NW202205242389705455"
PREFETCHES = [
    {"Sec-Purpose": "prefetch"},
    {"Sec-Purpose": "prefetch;prerender"},
    {"Purpose": "prefetch"},
    {"X-Moz": "prefetch"},
    {"X-Purpose": "preview"},
    {"Sec-Purpose": "Prefetch; anonymous-client-ip"},
]


async def stats(client: TestClient, code: str) -> dict[str, Any]:
    await service(client).writer.flush()
    response = await client.get(f"/api/links/{code}/stats", headers=AUTH)
    assert response.status == 200
    return await response.json()


async def test_a_thousand_junk_referrers_fold_into_other(client: TestClient) -> None:
    cap = service(client).settings.shortlinks.sources_max
    code = (await create(client))["code"]
    for n in range(1000):
        response = await client.get(
            f"/s/{code}",
            allow_redirects=False,
            headers={"User-Agent": CHROME_UA, "Referer": f"https://junk{n}.example/page"},
        )
        assert response.status == 302
    await client.get(
        f"/s/{code}?from=timeline", allow_redirects=False, headers={"User-Agent": WECHAT_UA}
    )
    await client.get(f"/S/{code}", allow_redirects=False, headers={"User-Agent": CHROME_UA})
    body = await stats(client, code)
    sources = dict(body["totals"]["sources"])
    assert sources.pop("wechat-moments") == 1 and sources.pop("qr") == 1  # never folded
    assert len(sources) == cap + 1
    assert sources["other"] == 1000 - cap
    assert all(sources[f"junk{n}.example"] == 1 for n in range(cap))  # first come, kept
    assert sum(body["totals"]["sources"].values()) == body["totals"]["clicks"] == 1002
    [day] = [row["date"].replace("-", "") for row in body["days"] if row["clicks"]]
    redis = service(client).store.redis
    assert await redis.hlen(keys.stats(code)) == 2  # all-time h and u; the day apart:
    assert await redis.hlen(keys.day(code, day)) <= cap + 1 + 2 + 2  # sources, fixed two, h u


@settings(derandomize=True, max_examples=25, deadline=None)
@given(
    hosts=st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=40),
    cap=st.integers(min_value=1, max_value=5),
    batch=st.integers(min_value=1, max_value=9),
)
def test_the_first_sources_of_a_day_keep_their_field(
    redis_url: str, hosts: list[str], cap: int, batch: int
) -> None:
    """Any referrers in any batching: the first `cap` distinct hosts keep exact counts,
    the rest add up in `other`, and nothing is lost."""

    async def scenario() -> dict[str, str]:
        redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            await redis.delete(
                keys.stats(CODE), keys.day(CODE, "20220524"), keys.source_count(CODE, "20220524")
            )
            writer = VisitWriter(
                redis,
                Salts(redis),
                ZoneInfo("Asia/Shanghai"),
                "news.example.cn",
                window=60,
                batch=batch,
                interval=1.0,
                max_pending=100,
                sources_max=cap,
            )
            at = time.mktime((2022, 5, 24, 12, 0, 0, 0, 0, -1))
            for host in hosts:
                writer.record(
                    Visit(CODE, at, "10.0.0.1", CHROME_UA, f"https://{host}.cn/", "", False)
                )
            await writer.flush()
            return await redis.hgetall(keys.day(CODE, "20220524"))
        finally:
            await redis.aclose()

    fields = asyncio.run(scenario())
    counted = {k.removeprefix("src:"): int(v) for k, v in fields.items() if k.startswith("src:")}
    seen = Counter(f"{h}.cn" for h in hosts)
    kept = list(dict.fromkeys(f"{h}.cn" for h in hosts))[:cap]
    expected = {name: seen[name] for name in kept}
    if len(seen) > cap:
        expected["other"] = sum(seen.values()) - sum(expected.values())
    assert counted == expected
    assert sum(counted.values()) == int(fields["h"]) == len(hosts)


@pytest.mark.parametrize("headers", PREFETCHES)
async def test_a_prefetch_redirects_and_is_not_counted(
    client: TestClient, headers: dict[str, str]
) -> None:
    code = (await create(client))["code"]
    for path in (f"/s/{code}", f"/html_News/NewsShare.html?infoCode={code}"):
        response = await client.get(
            path, allow_redirects=False, headers={"User-Agent": CHROME_UA, **headers}
        )
        assert response.status == 302 and response.headers["Location"].startswith("https://")
    assert (await stats(client, code))["all_time"]["clicks"] == 0
    await client.get(f"/s/{code}", allow_redirects=False, headers={"User-Agent": CHROME_UA})
    assert (await stats(client, code))["all_time"]["clicks"] == 1  # the real click


def test_prefetch_headers() -> None:
    for headers in PREFETCHES:
        assert prefetch(headers)
    for headers in (
        {},
        {"Sec-Purpose": ""},
        {"Purpose": "navigate"},
        {"X-Moz": "something-else"},
        {"Sec-Fetch-Mode": "navigate"},
    ):
        assert not prefetch(headers)
