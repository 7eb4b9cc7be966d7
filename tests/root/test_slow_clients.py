"""Slow clients against a real `finews serve` on 127.0.0.1: a connection that sends its
request head slowly is closed after server.header_timeout while everyone else is served;
a slow request body is not cut by it, and an idle keep-alive connection is closed after
server.keepalive_timeout.

Waits are bounded polls with generous limits: these tests say what happens, not how fast.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import SAMPLE_POSTS

ROOT = Path(__file__).resolve().parents[2]
SLOW = 300  # connections that send their head slowly
CLOSE_WAIT = 10.0  # seconds within which the server must have closed them all
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def serve(
    tmp_path: Path, redis_url: str, workers: int, **settings: str
) -> AsyncIterator[int]:
    """`finews serve` with FINEWS_SERVER__<KEY> settings; yields its port once it serves."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINEWS_")}
    env.update(
        FINEWS_DATA__DIR=str(tmp_path / "data"),
        FINEWS_POSTS__DIR=str(SAMPLE_POSTS),
        FINEWS_REDIS__URL=redis_url,
        FINEWS_LOG__ACCESS="false",
        FINEWS_SERVER__SHUTDOWN_TIMEOUT="2",
        **{f"FINEWS_SERVER__{key.upper()}": value for key, value in settings.items()},
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "finews",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/feeds/all.rss") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            else:
                pytest.fail("finews serve never answered /feeds/all.rss")
        yield port
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest.fixture(params=[1, 2], ids=["single", "workers"])
async def port(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str
) -> AsyncIterator[int]:
    async for port in serve(
        tmp_path, redis_url, request.param, header_timeout="1", keepalive_timeout="1"
    ):
        yield port


async def drip(port: int, stop: asyncio.Event) -> bytes:
    """A client sending a request head a byte at a time; what it read before EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(HEAD)
        while not stop.is_set():
            try:
                return await asyncio.wait_for(reader.read(), 0.2)  # the server closed
            except TimeoutError:
                writer.write(b"a")
                await writer.drain()
        return b"still open"
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_slow_heads_are_closed_while_others_are_served(port: int) -> None:
    stop = asyncio.Event()
    slow = [asyncio.create_task(drip(port, stop)) for _ in range(SLOW)]
    await asyncio.sleep(0.3)  # they are connected and dripping
    async with aiohttp.ClientSession() as session:
        for path in ("/healthz", "/feeds/all.rss", "/feeds/all.json"):
            async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
                assert resp.status == 200, path
                await resp.read()
    loop = asyncio.get_running_loop()
    loop.call_later(CLOSE_WAIT, stop.set)
    read = await asyncio.gather(*slow)
    assert read.count(b"") == SLOW, {bytes(r[:20]) for r in read}


async def test_a_slow_body_is_not_cut_and_idle_keepalive_ends(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"hub.mode=nonsense"
    writer.write(
        b"POST /websub HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    for i in range(0, len(body), 3):  # 6 pieces over 2.4 s: past header_timeout
        writer.write(body[i : i + 3])
        await writer.drain()
        await asyncio.sleep(0.4)
    status = await asyncio.wait_for(reader.readline(), CLOSE_WAIT)
    assert status.startswith(b"HTTP/1.1 400"), status
    assert await asyncio.wait_for(reader.read(), CLOSE_WAIT)  # the problem, then EOF
    assert reader.at_eof()
    writer.close()
