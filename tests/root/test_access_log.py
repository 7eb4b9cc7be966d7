"""The access log: one line per request, written in batches off the request path by the
event loop, which never waits for a stalled reader; none lost on a clean shutdown, and the
client address kept only as `log.access_remote` says."""

from __future__ import annotations

import asyncio
import faulthandler
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from finews.app import create_app
from finews.config import load
from finews.core.logs import AccessLogger, AccessSink, milliseconds, truncate
from finews.core.settings import Settings, SettingsError
from tests.envs import clean_env
from tests.root.test_workers import ROOT, SAMPLE_POSTS, free_port, get, until


def access_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " INFO finews.access " in line]


def test_every_request_answered_before_sigterm_has_its_line(tmp_path) -> None:
    port, requests = free_port(), 40
    env = clean_env(
        FINEWS_DATA__DIR=str(tmp_path / "data"),
        FINEWS_POSTS__DIR=str(SAMPLE_POSTS),
        FINEWS_SERVER__SHUTDOWN_TIMEOUT="3",
    )  # log.access is left at its default: on
    server = subprocess.Popen(
        [sys.executable, "-m", "finews", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        until(lambda: get(port, "/healthz") is not None, "the server answers")
        opener = urllib.request.build_opener()
        opener.addheaders = [("User-Agent", "counted/1")]
        for n in range(requests):
            with opener.open(f"http://127.0.0.1:{port}/healthz?n={n}", timeout=5) as resp:
                assert resp.status == 200
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
    counted = [line for line in access_lines(stderr) if 'ua="counted/1"' in line]
    assert [line.split('path="')[1].split('"')[0] for line in counted] == [
        f"/healthz?n={n}" for n in range(requests)
    ]
    assert all("remote=127.0.0.0/24 " in line for line in counted)  # truncated by default


@pytest.mark.parametrize(
    ("remote", "logged"), [("full", "127.0.0.1"), ("truncated", "127.0.0.0/24"), ("none", "-")]
)
async def test_the_client_address_is_kept_as_log_access_remote_says(
    aiohttp_client: Callable[..., TestClient], settings: Settings, remote: str, logged: str
) -> None:
    stream = io.StringIO()
    sink = AccessSink(stream, interval=3600)  # only close() writes: the batch is visible
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server(access_log_class=AccessLogger.keeping(remote), access_log=sink)
    client = await aiohttp_client(server)
    sink.start()
    assert (await client.get("/healthz", headers={"User-Agent": 'say "hi"'})).status == 200
    assert (await client.get("/nowhere")).status == 404
    assert stream.getvalue() == ""  # nothing written on the request path
    sink.close()
    lines = access_lines(stream.getvalue())
    assert len(lines) == 2
    assert f"remote={logged} " in lines[0]
    assert 'method=GET path="/healthz" status=200' in lines[0]
    assert "ua=\"say 'hi'\"" in lines[0]
    assert "status=404" in lines[1]


def test_a_stalled_stream_drops_lines_past_the_buffer_instead_of_growing() -> None:
    sink = AccessSink(io.StringIO(), capacity=3)
    for n in range(5):
        sink.add(("GET", f"/n{n}", 200, 2, 0.001, "127.0.0.1", "full", f"ua/{n}", time.time()))
    assert len(sink.lines) == 3 and sink.dropped == 2
    sink.close()
    assert [line.rsplit(" ", 1)[1] for line in sink.stream.getvalue().splitlines()] == [
        'ua="ua/0"',
        'ua="ua/1"',
        'ua="ua/2"',
    ]


def test_a_line_is_stamped_when_its_request_was_answered_not_when_written() -> None:
    sink = AccessSink(io.StringIO(), interval=3600)
    answered = 1_000_000_000.0  # 2001-09-09
    sink.add(("GET", '/a"b?q=1', 304, None, 0.00042, "::1", "full", None, answered))
    sink.add(("HEAD", "/c", 200, 5, 1.25, None, "truncated", "x", answered + 1))
    sink.close()
    first, second = sink.stream.getvalue().splitlines()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(answered))
    assert first == (
        f"{stamp} INFO finews.access "
        'method=GET path="/a%22b?q=1" status=304 bytes=None ms=0.4 remote=::1 ua="-"'
    )
    assert second.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(answered + 1)))
    assert second.endswith('method=HEAD path="/c" status=200 bytes=5 ms=1250.0 remote=- ua="x"')


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12:34::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("/run/finews.sock", "-"),
    ],
)
def test_truncation_keeps_the_network_not_the_client(address: str, kept: str) -> None:
    assert truncate(address) == kept


def test_access_remote_accepts_only_its_three_words() -> None:
    assert load(env={}).log.access_remote == "truncated"
    assert load(env={"FINEWS_LOG__ACCESS_REMOTE": "none"}).log.access_remote == "none"
    with pytest.raises(SettingsError, match=r"log\.access_remote: expected full, truncated"):
        load(env={"FINEWS_LOG__ACCESS_REMOTE": "partial"})


@hypothesis_settings(derandomize=True, max_examples=500, deadline=None)
@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_milliseconds_are_cut_to_one_decimal(seconds: float) -> None:
    assert milliseconds(seconds) == f"{int(seconds * 10_000) / 10:.1f}"


def test_repeated_lines_differ_only_where_their_requests_did() -> None:
    """Each distinct line's text is made once (access_parts): a repeat must still carry
    its own time, and a different agent its own text."""
    stream = io.StringIO()
    sink = AccessSink(stream)
    base = ("GET", '/s/A"B', 302, 0, 0.0123, "203.0.113.9", "truncated", 'x"y', 1.0)
    sink.add(base)
    sink.add((*base[:4], 0.5, *base[5:]))
    sink.add((*base[:7], "other", 1.0))
    sink.close()
    lines = [line.split(" finews.access ")[1] for line in stream.getvalue().splitlines()]
    assert lines == [
        'method=GET path="/s/A%22B" status=302 bytes=0 ms=12.3 remote=203.0.113.0/24 ua="x\'y"',
        'method=GET path="/s/A%22B" status=302 bytes=0 ms=500.0 remote=203.0.113.0/24 ua="x\'y"',
        'method=GET path="/s/A%22B" status=302 bytes=0 ms=12.3 remote=203.0.113.0/24 ua="other"',
    ]


async def test_a_stalled_pipe_never_holds_the_event_loop_and_loses_no_line() -> None:
    """Nobody reads the pipe while ten times what it holds is logged: the loop keeps
    running (its timers fire on time), and once the reader comes back every line arrives
    whole and in order."""
    faulthandler.dump_traceback_later(60, exit=True)  # a held loop cannot fail by itself
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w", encoding="utf-8") as stream:
        sink = AccessSink(stream, interval=0.01)
        sink.start()
        record = ("GET", "/s/CODE", 302, 0, 0.001, "203.0.113.9", "truncated")
        count = 8_000  # about 130 bytes a line: ten times a 64 KiB pipe
        loop = asyncio.get_running_loop()
        for n in range(count):
            sink.add((*record, f"agent/{n}", 1_000_000_000.0))
            if n % 500 == 0:
                started = loop.time()
                await asyncio.sleep(0.02)
                assert loop.time() - started < 1.0, "the event loop was held"
        await asyncio.sleep(0.2)
        assert sink.pending and sink.held < count  # the pipe took what it could, no more

        got = bytearray()
        reader = loop.run_in_executor(None, read_all, read_end, got)
        sink.close()
        stream.close()  # the reader sees the end
        await reader
    faulthandler.cancel_dump_traceback_later()
    agents = [line.rsplit('ua="', 1)[1][:-1] for line in got.decode().splitlines()]
    assert agents == [f"agent/{n}" for n in range(count)]


def read_all(fd: int, into: bytearray) -> None:
    with open(fd, "rb") as pipe:
        while chunk := pipe.read(65536):
            into += chunk
