"""A Redis Cluster master dies (SIGKILL) under traffic; its replica takes over.

The service recovers by itself; every link acknowledged 201 still resolves; redirects of
cached links never fail; other requests fail only in the failover window, with 503 and
Retry-After; feeds are served from memory throughout and the builder holds the lease again
afterwards. Visits: the writer retries its batches until the new master takes them, and a
replayed batch counts once, so clicks are lost only when the dead master had acknowledged
a batch it had not yet replicated (asynchronous replication): at most the visits of one
batch, stated and checked here.

The test kills a node, so it has a cluster of its own (not the session's shared one).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from feeds import keys as feed_keys
from feeds.routes import PUBLISHER
from finews.app import create_app
from finews.core.settings import Settings
from shortlinks import keys as link_keys
from shortlinks.service import SERVICE
from tests.cluster import Cluster, valkey_cluster
from tests.shortlinks_support import AUTH, CHROME_UA, KEY, SITE

TRAFFIC_SECONDS = 25.0  # at most; traffic stops 3 s after the cluster is whole again
LOST_VISITS_BOUND = 1000  # one batch (shortlinks.visit_batch): acknowledged, not replicated


@pytest.fixture
def failover_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with valkey_cluster(tmp_path / "cluster") as cluster:
        yield cluster


def replica_of(master: int) -> int:
    client = redis.Redis(port=master)
    try:
        return int(client.info("replication")["slave0"]["port"])
    finally:
        client.close()


def promoted(cluster: Cluster, dead: int) -> bool:
    """A surviving node sees a healthy cluster in which `dead` masters nothing."""
    alive = next(port for port in cluster.procs if port != dead)
    client = redis.Redis(port=alive, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        if client.cluster("info")["cluster_state"] != "ok":
            return False
        return all(master[1] != dead for slots in client.cluster("slots") for master in [slots[2]])
    except redis.RedisError:
        return False
    finally:
        client.close()


async def test_a_master_dies_under_traffic_and_nothing_acknowledged_is_lost(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    failover_cluster: Cluster,
) -> None:
    cluster = failover_cluster
    settings = make_settings(
        site__url=SITE,
        api__keys=[KEY],
        redis__url=cluster.url,
        shortlinks__cache_ttl=120.0,
        shortlinks__replica_wait=0.5,  # the links redirected below stay cached throughout
        feeds__watch=False,
    )
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/feeds/all.atom")).status == 200
    cached = []
    for n in range(9):
        response = await client.post("/api/links", json={"url": f"{SITE}/c{n}.html"}, headers=AUTH)
        assert response.status == 201
        cached.append((await response.json())["code"])
        await client.get(
            f"/s/{cached[-1]}", allow_redirects=False, headers={"User-Agent": CHROME_UA}
        )
    dead = cluster.master_of(feed_keys.LEASE)  # the feeds' master: the lease must move too

    # A creation is acknowledged only once a replica has it: with the replica of the
    # master of the codes index paused, creations answer 503 until it is back.
    paused = replica_of(cluster.master_of(link_keys.CODES))
    cluster.procs[paused].send_signal(signal.SIGSTOP)
    try:
        response = await client.post("/api/links", json={"url": f"{SITE}/p.html"}, headers=AUTH)
        assert response.status == 503 and response.headers["Retry-After"]
    finally:
        cluster.procs[paused].send_signal(signal.SIGCONT)
    response = await client.post("/api/links", json={"url": f"{SITE}/p.html"}, headers=AUTH)
    assert response.status in (200, 201)  # 200: the link was made, now it is replicated too

    created: list[tuple[float, str]] = []  # when, code
    failed: list[tuple[float, int, str | None]] = []  # when, status, Retry-After
    redirected: Counter[str] = Counter()
    redirect_failures: list[int] = []
    feed_failures: list[int] = []
    started = time.monotonic()
    killed_at = recovered_at = 0.0

    def going() -> bool:
        now = time.monotonic()
        return now - started < TRAFFIC_SECONDS and not (recovered_at and now > recovered_at + 3)

    async def creations() -> None:
        n = 0
        while going():
            n += 1
            response = await client.post(
                "/api/links", json={"url": f"{SITE}/new{n}.html"}, headers=AUTH
            )
            if response.status == 201:
                created.append((time.monotonic(), (await response.json())["code"]))
            else:
                failed.append(
                    (time.monotonic(), response.status, response.headers.get("Retry-After"))
                )
            await asyncio.sleep(0.01)

    async def redirects() -> None:
        n = 0
        while going():
            code = cached[n % len(cached)]
            n += 1
            response = await client.get(
                f"/s/{code}", allow_redirects=False, headers={"User-Agent": CHROME_UA}
            )
            if response.status == 302:
                redirected[code] += 1
            else:
                redirect_failures.append(response.status)
            await asyncio.sleep(0.005)

    async def feeds() -> None:
        while going():
            response = await client.get("/feeds/all.atom")
            if response.status != 200:
                feed_failures.append(response.status)
            await asyncio.sleep(0.05)

    async def failover() -> None:
        nonlocal killed_at, recovered_at
        await asyncio.sleep(1.0)
        cluster.procs[dead].kill()
        killed_at = time.monotonic()
        while going():
            if await asyncio.to_thread(promoted, cluster, dead):
                recovered_at = time.monotonic()
                return
            await asyncio.sleep(0.1)

    await asyncio.gather(creations(), redirects(), feeds(), failover())
    assert recovered_at, "the replica was never promoted"
    window = recovered_at - killed_at

    assert redirect_failures == []
    assert feed_failures == []
    assert all(status == 503 and retry for _, status, retry in failed), failed[:5]
    assert all(killed_at <= when <= recovered_at + 3 for when, _, _ in failed)
    assert any(when > recovered_at for when, _ in created)  # creations work again by themselves

    check = redis.RedisCluster.from_url(
        cluster.url.replace(f":{dead}/", f":{next(iter(set(cluster.procs) - {dead}))}/")
    )
    try:
        codes = cached + [code for _, code in created]
        missing = [code for code in codes if not check.exists(link_keys.link(code))]
        assert missing == [], f"{len(missing)} acknowledged links lost"
        for _, code in created[-3:]:
            response = await client.get(f"/s/{code}", allow_redirects=False)
            assert response.status == 302

        await client.app[SERVICE].writer.flush()
        counted = {}
        for code in cached:
            stats = await (await client.get(f"/api/links/{code}/stats", headers=AUTH)).json()
            counted[code] = stats["totals"]["clicks"] - 1  # the warm-up redirect
        lost = sum(redirected.values()) - sum(counted.values())
        assert 0 <= lost <= LOST_VISITS_BOUND, (redirected, counted)

        for _ in range(100):  # the builder holds the lease again (the same or a new epoch)
            if client.app[PUBLISHER].epoch and check.get(feed_keys.LEASE):
                break
            await asyncio.sleep(0.1)
        assert client.app[PUBLISHER].epoch and check.get(feed_keys.LEASE)
        # The stored editions came through on the promoted replica: followers can load them.
        assert check.hlen(feed_keys.ETAGS) == len(client.app[PUBLISHER].edition.docs)
        assert int(check.get(feed_keys.VERSION) or 0) >= 1
    finally:
        check.close()
    print(
        f"failover: window={window:.1f}s created={len(created)} failed={len(failed)}"
        f" redirects={sum(redirected.values())} lost_visits={lost}"
    )
