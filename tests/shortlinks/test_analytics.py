"""Share-link analytics over real HTTP and a real Redis: where clicks came from (a matrix of
real user agents, referrers and query strings), the query passed on to the article,
hourly series across an hour boundary, site-wide leaderboards, and the visit events."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from shortlinks import keys
from shortlinks.forward import forward
from tests.envs import clean_env
from tests.shortlinks.real_agents import UAS
from tests.shortlinks_support import AUTH, SITE, create, service

# (agent, referrer, query, QR path) -> (source, campaign, device, browser)
MATRIX = [
    (("wechat_ios", "", "from=singlemessage&isappinstalled=0", False),
     ("wechat-chat", "", "mobile", "wechat-browser")),
    (("wechat_ios", "", "from=newsletter", False), ("wechat", "", "mobile", "wechat-browser")),
    (("wechat_android", "", "", False), ("wechat", "", "mobile", "chrome-mobile-webview")),
    (("chrome", "", "from=newsletter", False), ("direct", "", "desktop", "chrome")),
    (("chrome", "", "from=app", False), ("direct", "", "desktop", "chrome")),
    (("chrome", "", "from=timeline", False), ("wechat-moments", "", "desktop", "chrome")),
    (("qq", "", "", False), ("qq", "", "mobile", "mobile-safari-ui-wkwebview")),
    (("weibo", "", "", False), ("weibo", "", "mobile", "weibo")),
    (("douyin", "", "", False), ("douyin", "", "mobile", "tiktok")),
    (("toutiao", "", "", False), ("toutiao", "", "mobile", "chrome-mobile-webview")),
    (("xiaohongshu", "", "", False), ("xiaohongshu", "", "mobile", "mobile-safari-ui-wkwebview")),
    (("dingtalk", "", "", False), ("dingtalk", "", "mobile", "mobile-safari-ui-wkwebview")),
    (("baidu_app", "", "", False), ("baidu", "", "mobile", "baidu-explorer")),
    (("chrome_android", "android-app://com.tencent.mm/", "", False),
     ("wechat", "", "mobile", "chrome-mobile")),
    (("chrome_android", "android-app://com.xingin.xhs/", "", False),
     ("xiaohongshu", "", "mobile", "chrome-mobile")),
    (("chrome_android", "android-app://com.example.reader/", "", False),
     ("com.example.reader", "", "mobile", "chrome-mobile")),
    (("ipad", "https://m.sogou.com/web?query=x", "", False),
     ("sogou", "", "tablet", "mobile-safari")),
    (("chrome", "https://www.baidu.com/s?wd=x", "", False), ("baidu", "", "desktop", "chrome")),
    (("chrome", "https://www.so.com/s?q=x", "", False), ("360", "", "desktop", "chrome")),
    (("chrome", "https://m.sm.cn/s?q=x", "", False), ("shenma", "", "desktop", "chrome")),
    (("chrome", "https://cn.bing.com/search?q=x", "", False), ("bing", "", "desktop", "chrome")),
    (("chrome", "https://www.google.com.hk/", "", False), ("google", "", "desktop", "chrome")),
    (("chrome", "https://so.toutiao.com/search?x=1", "", False),
     ("toutiao", "", "desktop", "chrome")),
    (("chrome", "", "utm_source=Weibo&utm_medium=social&utm_campaign=Spring+Sale", False),
     ("weibo", "spring-sale", "desktop", "chrome")),
    (("wechat_ios", "", "utm_source=newsletter&from=timeline", False),
     ("newsletter", "", "mobile", "wechat-browser")),
    (("ipad", "", "", True), ("qr", "", "tablet", "mobile-safari")),
    (("googlebot", "", "", False), ("direct", "", "bot", "googlebot")),
    (("baiduspider", "https://www.baidu.com/", "", False), ("baidu", "", "bot", "baiduspider")),
]  # fmt: skip


async def click(client: TestClient, path: str, agent: str, referrer: str = "") -> str:
    headers = {"User-Agent": agent, **({"Referer": referrer} if referrer else {})}
    response = await client.get(path, allow_redirects=False, headers=headers)
    assert response.status == 302, path
    return response.headers["Location"]


async def get(client: TestClient, path: str, status: int = 200) -> Any:
    await service(client).writer.flush()
    response = await client.get(path, headers=AUTH)
    assert response.status == status, await response.text()
    if status != 200:
        assert response.content_type == "application/problem+json"
    return await response.json()


async def test_click_matrix_gives_each_click_its_source_device_and_browser(
    client: TestClient,
) -> None:
    links = [await create(client, f"{SITE}/m/{n}.html") for n in range(len(MATRIX))]
    for link, ((agent, referrer, query, qr), _) in zip(links, MATRIX, strict=True):
        path = f"/{'S' if qr else 's'}/{link['code']}" + (f"?{query}" if query else "")
        await click(client, path, UAS[agent], referrer)
    body = await get(client, "/api/visits?limit=1000")
    seen = {v["code"]: v for v in body["visits"]}
    for link, (case, (source, campaign, device, browser)) in zip(links, MATRIX, strict=True):
        visit = seen[link["code"]]
        got = (visit["source"], visit["campaign"], visit["device"], visit["browser"])
        assert got == (source, campaign, device, browser), case
        assert visit["bot"] is (device == "bot")
        stats = await get(client, f"/api/links/{link['code']}/stats")
        if device == "bot":
            assert stats["totals"]["bots"] == 1 and stats["totals"]["sources"] == {}
        else:
            assert stats["totals"]["sources"] == {source: 1}, case
        assert stats["totals"]["devices"] == {device: 1}
        assert stats["totals"]["browsers"] == {browser: 1}


async def test_the_query_reaches_the_article_merged_without_wechat_parameters(
    client: TestClient,
) -> None:
    code = (await create(client, f"{SITE}/a.html?id=7"))["code"]
    wechat = "from=timeline&isappinstalled=0&scene=1&clicktime=1716552000&enterid=1716552000"
    location = await click(client, f"/s/{code}?utm_source=weibo&id=9&{wechat}", UAS["chrome"])
    assert location == f"{SITE}/a.html?id=7&utm_source=weibo"
    legacy = f"/html_News/NewsShare.html?infoCode={code}&from=singlemessage&isappinstalled=0"
    assert await click(client, legacy, UAS["wechat_ios"]) == f"{SITE}/a.html?id=7"
    assert await click(client, f"/s/{code}?q=%E6%96%B0+x", UAS["chrome"]) == (
        f"{SITE}/a.html?id=7&q=%E6%96%B0%20x"
    )
    off = await create(client, f"{SITE}/b.html", forward_query=False)
    assert off["forward_query"] is False
    assert await click(client, f"/s/{off['code']}?utm_source=x", UAS["chrome"]) == f"{SITE}/b.html"
    response = await client.patch(
        f"/api/links/{off['code']}", json={"forward_query": True}, headers=AUTH
    )
    assert (await response.json())["forward_query"] is True
    assert await click(client, f"/s/{off['code']}?utm_source=x", UAS["chrome"]) == (
        f"{SITE}/b.html?utm_source=x"
    )
    response = await client.patch(
        f"/api/links/{off['code']}", json={"forward_query": "no"}, headers=AUTH
    )
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == (
        "forward_query"
    )


def test_forward_keeps_the_fragment_and_a_target_without_query() -> None:
    assert forward(f"{SITE}/a.html#top", "x=1&from=timeline") == f"{SITE}/a.html?x=1#top"
    assert forward(f"{SITE}/a.html", "from=timeline&infoCode=NW1") == f"{SITE}/a.html"
    assert forward(f"{SITE}/a.html", "") == f"{SITE}/a.html"


async def test_hourly_series_across_an_hour_boundary(client: TestClient, clock) -> None:
    code = (await create(client))["code"]
    clock.advance(59 * 60 + 30)  # 20:59:30 in Shanghai
    await click(client, f"/s/{code}?from=timeline", UAS["wechat_ios"])
    await click(client, f"/s/{code}", UAS["wechat_ios"])
    await click(client, f"/s/{code}", UAS["googlebot"])
    await service(client).writer.flush()
    clock.advance(60)  # 21:00:30: the next hourly bucket
    await click(client, f"/s/{code}", UAS["wechat_ios"])  # the same reader
    await click(client, f"/s/{code}", UAS["chrome"], "https://weibo.com/1")
    query = "granularity=hour&from=2024-05-24T19:00%2B08:00&to=2024-05-24T21:00%2B08:00"
    body = await get(client, f"/api/links/{code}/stats?{query}")
    assert [
        (r["t"], r["clicks"], r["visitors"], r["bots"], r["sources"]) for r in body["series"]
    ] == [
        ("2024-05-24T19:00:00+08:00", 0, 0, 0, {}),
        ("2024-05-24T20:00:00+08:00", 2, 1, 1, {"wechat-moments": 1, "wechat": 1}),
        ("2024-05-24T21:00:00+08:00", 2, 2, 0, {"wechat": 1, "weibo": 1}),
    ]
    assert body["totals"]["visitors"] == 2  # distinct over the window, not 1 + 2
    assert body["totals"]["clicks"] == 4 and body["totals"]["bots"] == 1
    day = await get(
        client, f"/api/links/{code}/stats?granularity=day&from=2024-05-24&to=2024-05-24"
    )
    assert day["series"] == [
        {
            "t": "2024-05-24T00:00:00+08:00",
            "clicks": 4,
            "visitors": 2,
            "bots": 1,
            "sources": {"wechat-moments": 1, "wechat": 2, "weibo": 1},
        }
    ]
    assert day["totals"]["devices"] == {"mobile": 3, "desktop": 1, "bot": 1}
    assert day["totals"]["os"] == {"ios": 3, "windows": 1, "other": 1}
    ttl = await service(client).store.redis.ttl(keys.hour(code, "2024052413"))
    assert 13 * 86400 < ttl <= 14 * 86400
    for bad in (
        "granularity=minute",
        "granularity=hour&from=yesterday",
        "granularity=hour&from=2024-05-01T00:00%2B08:00&to=2024-05-24T00:00%2B08:00",
    ):
        problem = await get(client, f"/api/links/{code}/stats?{bad}", status=400)
        assert problem["type"].endswith("bad_parameter")  # fmt: skip


async def test_leaderboards_over_windows_and_sources(client: TestClient, clock) -> None:
    a, b, c = [await create(client, f"{SITE}/{n}.html", title=f"标题{n}") for n in "abc"]
    for _ in range(5):
        await click(client, f"/s/{c['code']}", UAS["chrome"])
    await service(client).writer.flush()
    clock.advance(2 * 86400)
    for _ in range(3):
        await click(client, f"/s/{a['code']}?from=timeline", UAS["wechat_ios"])
    await click(client, f"/s/{b['code']}", UAS["chrome"], "https://weibo.com/1")
    await click(client, f"/s/{b['code']}", UAS["ipad"], "https://weibo.com/2")
    await click(client, f"/s/{b['code']}", UAS["googlebot"])  # bots never rank
    await click(client, f"/s/{c['code']}", UAS["chrome"])

    def ranked(body: dict[str, Any]) -> list[tuple[str, int, int]]:
        return [(link["code"], link["clicks"], link["visitors"]) for link in body["links"]]

    day = await get(client, "/api/top?window=24h")
    assert ranked(day) == [(a["code"], 3, 1), (b["code"], 2, 2), (c["code"], 1, 1)]
    assert day["links"][0]["title"] == "标题a" and day["links"][0]["url"] == f"{SITE}/a.html"
    assert ranked(await get(client, "/api/top?window=1h")) == ranked(day)
    week = await get(client, "/api/top?window=7d&limit=2")
    # one reader on two days is two visitors: the daily salt keeps days unlinkable
    assert ranked(week) == [(c["code"], 6, 2), (a["code"], 3, 1)]
    assert ranked(await get(client, "/api/top?window=24h&source=weibo")) == [(b["code"], 2, 2)]
    assert (await get(client, "/api/sources?window=24h"))["sources"] == {
        "wechat-moments": 3, "weibo": 2, "direct": 1,
    }  # fmt: skip
    assert (await get(client, "/api/sources?window=7d"))["sources"]["direct"] == 6
    for bad in ("window=2h", "limit=0", "source=Not%20A%20Source"):
        await get(client, f"/api/top?{bad}", status=400)


async def test_visit_events_page_by_cursor_and_hold_no_address_or_agent(
    client: TestClient, redis_url: str, tmp_path
) -> None:
    code = (await create(client))["code"]
    for agent in ("wechat_ios", "chrome", "ipad", "googlebot"):
        await click(client, f"/s/{code}?utm_source=news&utm_campaign=may", UAS[agent])
    first = await get(client, "/api/visits?limit=3")
    assert [v["device"] for v in first["visits"]] == ["mobile", "desktop", "tablet"]
    rest = await get(client, f"/api/visits?since={first['next']}")
    assert [v["bot"] for v in rest["visits"]] == [True]
    assert (await get(client, f"/api/visits?since={rest['next']}"))["visits"] == []
    event = first["visits"][0]
    assert set(event) == {"id", "t", "code", "source", "campaign", "device", "browser", "os", "bot"}
    assert event["t"] == "2024-05-24T20:00:00+08:00" and event["campaign"] == "may"
    raw = json.dumps(first) + json.dumps(rest)
    assert "127.0.0.1" not in raw and "Mozilla" not in raw
    await get(client, "/api/visits?since=yesterday", status=400)
    await get(client, "/api/visits?since=99999999999999999999-0", status=400)  # past 64 bits
    last = await get(client, "/api/visits?since=18446744073709551615-18446744073709551615")
    assert last["visits"] == []

    redis = service(client).store.redis  # a consumer group, as README shows
    await redis.xgroup_create(keys.EVENTS, "warehouse", id="0")
    read = await redis.xreadgroup("warehouse", "loader-1", {keys.EVENTS: ">"}, count=10)
    [(ident, entry)] = read[0][1]  # one entry per link and batch
    assert entry["code"] == code and entry["n"] == "4"
    assert [row[3] for row in json.loads(entry["v"])] == ["mobile", "desktop", "tablet", "bot"]
    assert first["visits"][0]["id"] == f"{ident}-0"

    out = tmp_path / "visits.jsonl"
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "finews", "visits", "export", "--since", first["next"], str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_env(), "FINEWS_SITE__URL": SITE, "FINEWS_REDIS__URL": redis_url},
    )
    assert result.returncode == 0, result.stderr
    assert f"exported: 1 visits to {out}; next: --since {rest['next']}" in result.stdout
    assert [json.loads(line) for line in out.read_text().splitlines()] == rest["visits"]


async def test_a_replayed_batch_adds_its_events_and_leaderboard_once(client: TestClient) -> None:
    code = (await create(client))["code"]
    writer = service(client).writer
    await click(client, f"/s/{code}", UAS["chrome"])
    batch = list(writer.pending)
    writer.pending.clear()
    for _ in range(2):  # the same batch number twice: an unanswered write sent again
        await writer._write(7, batch)
    redis = service(client).store.redis
    assert await redis.xlen(keys.EVENTS) == 1 and await redis.get(keys.EVENTS_HELD) == "1"
    assert ((await get(client, "/api/top?window=1h"))["links"][0]["clicks"]) == 1


@pytest.mark.parametrize("path", ["/api/top", "/api/sources", "/api/visits"])
async def test_new_calls_need_a_key(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 401 and response.content_type == "application/problem+json"
