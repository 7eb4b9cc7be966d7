"""The embedded Valkey: started when no URL is set, persistent, supervised, never orphaned."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from finews.app import EMBEDDED, create_app
from finews.core.appkeys import REDIS
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis, ping, server_binary
from tests.envs import clean_env

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return state != "Z"


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


async def poll_status(client: TestClient, path: str, status: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await client.get(path)).status == status:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_killed_server_is_restarted_with_its_data(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(redis__url="", redis__restart_delay=0.5)
    app = create_app(settings)
    client = await aiohttp_client(app)
    assert (await client.get("/readyz")).status == 200
    await app[REDIS].set("finews:test:kept", "before-crash")
    embedded = app[EMBEDDED]
    assert embedded is not None
    old_pid = embedded.pid
    os.kill(old_pid, signal.SIGKILL)

    assert await poll_status(client, "/readyz", 503), "readyz never reported the dead server"
    assert await poll_status(client, "/readyz", 200), "the server was not restarted"
    assert embedded.pid != old_pid
    assert await app[REDIS].get("finews:test:kept") == "before-crash"


def test_data_survives_a_restart_and_nothing_is_left_behind(tmp_path: Path) -> None:
    import redis

    server = EmbeddedRedis(tmp_path)
    server.start()
    pid = server.pid
    redis.Redis.from_url(server.url).set("k", "v")
    server.stop()
    assert not alive(pid)
    assert not server.socket_path.exists()

    again = EmbeddedRedis(tmp_path)
    again.start()
    try:
        assert redis.Redis.from_url(again.url).get("k") == b"v"
    finally:
        again.stop()


def test_leftover_server_from_a_killed_run_is_stopped(tmp_path: Path) -> None:
    # A server started outside finews (as one left by a `kill -9`) with the same pid file.
    leftover = subprocess.Popen(
        [
            str(server_binary()),
            "--port",
            "0",
            "--unixsocket",
            str(tmp_path / "valkey.sock"),
            "--dir",
            str(tmp_path),
            "--pidfile",
            str(tmp_path / "valkey.pid"),
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: ping(tmp_path / "valkey.sock"))
        server = EmbeddedRedis(tmp_path)
        server.start()
        assert leftover.wait(10) == 0
        assert ping(server.socket_path)
        server.stop()
    finally:
        if leftover.poll() is None:
            leftover.kill()


def test_long_data_dir_gets_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = EmbeddedRedis(deep)
    assert len(str(server.socket_path)) <= 100
    server.start()
    try:
        assert ping(server.socket_path)
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str) -> int:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status
    except OSError:
        return 0


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_serve_leaves_no_redis_process(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = free_port()
    env = clean_env(
        FINEWS_DATA__DIR=str(tmp_path),
        FINEWS_REDIS__URL="",
        FINEWS_POSTS__DIR=str(ROOT / "content" / "posts"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "finews", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: get(port, "/readyz") == 200, 30), "service never became ready"
        redis_pid = int((tmp_path / "valkey.pid").read_text())
        assert alive(redis_pid)
        proc.send_signal(stop_signal)
        code = proc.wait(20)
        if stop_signal != signal.SIGKILL:
            assert code == 0, proc.stderr.read().decode()
        assert wait_for(lambda: not alive(redis_pid), 10), "embedded Valkey outlived finews"
    finally:
        if proc.poll() is None:
            proc.kill()
