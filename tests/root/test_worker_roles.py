"""`finews serve --workers 2`: every worker runs `feeds.role = "auto"`; one builds, and when
it is killed another worker takes over. /metrics (all workers' samples) says which."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.envs import clean_env
from tests.serving import ROOT, free_port, request, until


def builders(port: int) -> dict[str, float]:
    """pid -> finews_feeds_builder, as scraped through any worker."""
    try:
        body = request(port, "/metrics").body.decode()
    except OSError:
        return {}
    return {
        line.split('pid="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("finews_feeds_builder{")
    }


def test_workers_elect_one_builder_and_replace_a_killed_one(tmp_path: Path) -> None:
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "finews", "serve", "--workers", "2", "--port", str(port)],
        cwd=ROOT,
        env=clean_env(
            FINEWS_DATA__DIR=str(tmp_path / "data"),
            FINEWS_LOG__ACCESS="false",
            FINEWS_FEEDS__LEASE_SECONDS="1",
            FINEWS_SERVER__SHUTDOWN_TIMEOUT="2",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until(lambda: sorted(builders(port).values()) == [0.0, 1.0], "one builder of two", 30)
        [first] = [pid for pid, value in builders(port).items() if value == 1.0]
        os.kill(int(first), signal.SIGKILL)
        until(
            lambda: first not in builders(port) and 1.0 in builders(port).values(),
            "another worker builds",
            30,
        )
        assert (request(port, "/feeds/all.atom")).status == 200
    finally:
        master.terminate()
        master.wait(30)
