"""The head deadline on a kept-alive connection (finews/server.py's lazy timer): a later
request's head that drips past server.header_timeout is cut, while heads that complete
in time, one after another on the same connection, are all served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.root.test_slow_clients import CLOSE_WAIT, HEAD, serve

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
async def port(tmp_path: Path, redis_url: str) -> AsyncIterator[int]:
    # keepalive_timeout above the test's length: only the head deadline can close
    async for port in serve(tmp_path, redis_url, 1, header_timeout="1", keepalive_timeout="30"):
        yield port


async def answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLOSE_WAIT)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await asyncio.wait_for(reader.readexactly(length), CLOSE_WAIT)
    return head.split(b"\r\n", 1)[0]


async def test_a_later_slow_head_is_cut_and_timely_heads_are_served(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(5):  # over 1.5 s, past one header_timeout: the timer re-arms
            writer.write(REQUEST)
            assert await answer(reader) == b"HTTP/1.1 200 OK"
            await asyncio.sleep(0.3)
        writer.write(HEAD)  # a head started late in the timer's period, then drips
        for _ in range(40):  # up to 4 s, far past the second's deadline
            await asyncio.sleep(0.1)
            if reader.at_eof():
                break
            try:
                writer.write(b"a")
                await writer.drain()
            except ConnectionError:
                break
        try:  # the server closed it: EOF with no answer, or a reset seen first
            rest = await asyncio.wait_for(reader.read(), CLOSE_WAIT)
        except ConnectionError:
            rest = b""
        assert rest == b""
    finally:
        writer.close()
