"""`finews serve` as a real process: workers sharing a port, restarts, graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.envs import clean_env

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_POSTS = ROOT / "content" / "posts"
STOP_WAIT = 60  # seconds a stopping server may take before the test fails


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(tmp_path: Path) -> dict[str, str]:
    env = clean_env()
    env.update(
        FINEWS_DATA__DIR=str(tmp_path / "data"),
        FINEWS_POSTS__DIR=str(SAMPLE_POSTS),
        FINEWS_LOG__ACCESS="false",
        FINEWS_SERVER__SHUTDOWN_TIMEOUT="3",
    )
    return env


def get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes] | None:
    """One request on a new connection; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def until(check: Callable[[], bool], what: str, tries: int = 400) -> None:
    for _ in range(tries):
        if check():
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"never happened: {what}")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_workers_share_the_port_are_restarted_and_stop_cleanly(tmp_path: Path) -> None:
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "finews", "serve", "--workers", "2", "--port", str(port)],
        cwd=ROOT,
        env=environment(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        workers: dict[int, int] = {}  # pid -> worker index
        answered = 0

        def both_answer() -> bool:
            nonlocal answered
            response = get(port, "/healthz")
            if response is not None:
                answered += 1
                body = json.loads(response[1])
                workers[body["pid"]] = body["worker"]
            return len(workers) == 2

        until(both_answer, "two worker processes answer /healthz")
        assert sorted(workers.values()) == [0, 1]
        assert master.pid not in workers

        feeds_served = 0  # each 200 is a feed answered from cache, in either worker

        def same_feed_everywhere() -> bool:  # 10 requests reach both workers
            nonlocal feeds_served
            replies = [get(port, "/feeds/all.json") for _ in range(10)]
            feeds_served += sum(1 for reply in replies if reply and reply[0] == 200)
            answers = set(replies)
            return len(answers) == 1 and (answers.pop() or (0,))[0] == 200

        until(same_feed_everywhere, "both workers serve the same feed", tries=100)

        # Every worker's requests are in one scrape (multiprocess mode): exact for the
        # worker answering it, the other's at most a mirror interval (1 s) behind.
        scraped: dict[str, float] = {}

        def every_count_scraped() -> bool:
            status, text = get(port, "/metrics") or (0, b"")
            samples = [
                sample
                for family in text_string_to_metric_families(text.decode())
                for sample in family.samples
            ]
            scraped["status"] = status
            scraped["healthz"] = sum(
                s.value
                for s in samples
                if s.name == "finews_http_requests_total" and s.labels["route"] == "/healthz"
            )
            scraped["hits"] = sum(
                s.value for s in samples if s.name == "finews_feed_cache_hits_total"
            )
            return scraped["healthz"] == answered and scraped["hits"] == feeds_served

        until(every_count_scraped, f"one scrape counts {answered} /healthz and {feeds_served} hits")
        assert scraped["status"] == 200

        valkey = int((tmp_path / "data" / "valkey.pid").read_text())
        assert alive(valkey)
        victim = next(pid for pid, index in workers.items() if index == 1)
        os.kill(victim, signal.SIGKILL)
        replaced: dict[int, int] = {}

        def replacement_answers() -> bool:
            response = get(port, "/healthz")
            if response is not None:
                body = json.loads(response[1])
                if body["pid"] not in workers:
                    replaced[body["pid"]] = body["worker"]
            return bool(replaced)

        until(replacement_answers, "the master starts a new worker 1")
        assert list(replaced.values()) == [1]
        assert not alive(victim)

        master.send_signal(signal.SIGTERM)
        assert master.wait(STOP_WAIT) == 0
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
    log = master.stderr.read().decode()
    assert "event=worker_exit index=1" in log and "event=master_stop" in log
    # One process reads the posts and builds; worker 1 (twice started) only follows Redis.
    assert log.count("event=posts_loaded") == 2  # the reader's line and the publisher's
    assert "event=feeds_followed" in log
    for pid in [*workers, *replaced, valkey]:
        assert not alive(pid), f"process {pid} outlived the master"
    assert get(port, "/healthz", timeout=1) is None


SLOW_SERVER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from aiohttp import web
    from finews import workers
    from finews.app import create_app
    from finews.config import load

    async def slow(request):
        Path(request.query["mark"]).touch()  # tells the test this request is in flight
        await asyncio.sleep(float(request.query["seconds"]))
        return web.Response(text="done")

    settings = load()
    app = create_app(settings)
    app.router.add_get("/slow", slow)
    sys.exit(workers.serve(app, settings, "127.0.0.1", int(sys.argv[1])))
""")


def test_sigterm_finishes_requests_in_flight_within_the_bound_and_exits_0(
    tmp_path: Path, redis_url: str
) -> None:
    port = free_port()
    env = {**environment(tmp_path), "FINEWS_REDIS__URL": redis_url}
    server = subprocess.Popen(
        [sys.executable, "-c", SLOW_SERVER, str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        until(lambda: get(port, "/healthz") is not None, "the server answers")
        results: dict[str, tuple[int, bytes] | None] = {}
        requests = {"short": 1.0, "endless": 600.0}  # shutdown_timeout is 3 seconds
        threads = [
            threading.Thread(
                target=lambda name=name, seconds=seconds: results.update(
                    {
                        name: get(
                            port, f"/slow?seconds={seconds}&mark={tmp_path / name}", timeout=120
                        )
                    }
                )
            )
            for name, seconds in requests.items()
        ]
        for thread in threads:
            thread.start()
        until(lambda: all((tmp_path / name).exists() for name in requests), "both in flight")
        server.send_signal(signal.SIGTERM)
        assert server.wait(STOP_WAIT) == 0
        for thread in threads:
            thread.join(STOP_WAIT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert results["short"] == (200, b"done")  # finished although SIGTERM came first
    assert results["endless"] is None  # cut off when the bound ran out


def test_bad_worker_counts_stop_with_exit_2(tmp_path: Path) -> None:
    for args, message in [
        (["--workers", "0"], "--workers: expected 1 or more, got 0"),
        (["--workers", "2", "--port", "0"], "workers share one port"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "finews", "serve", *args],
            cwd=ROOT,
            env=environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=STOP_WAIT,
        )
        assert done.returncode == 2
        assert message in done.stderr
