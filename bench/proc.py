"""Child processes for the figures: timed runs with peak memory, and servers that always stop.

Every child runs in its own session (process group), so stopping it stops everything it
started (finews' embedded Valkey, Jekyll's helpers), and its memory is summed over that
group while it runs.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

PAGE = os.sysconf("SC_PAGE_SIZE")
NOT_FOUND_PATIENCE = 10.0
AIOHTTP_404 = b"404: Not Found"  # the body of an unrouted path


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_bytes: int  # the larger of the group's sampled PSS sum and wait4's ru_maxrss
    returncode: int | None  # None: killed at the timeout
    log: Path

    def tail(self, lines: int = 3) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(line.strip()[:200] for line in text[-lines:]) or "no output"


def _pss(pid: str, rss_pages: int) -> int:
    """Proportional set size: shared pages split among the processes sharing them, so a
    forked worker is not counted again for the pages it shares with its parent."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss_pages * PAGE


def group_memory(sid: int) -> int:
    """Memory of every live process of session `sid`: the sum of their PSS."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after the command: state ppid pgrp session ...
            total += _pss(entry.name, int(fields[21]))
    return total


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the leader (it stops its own children, as on a real shutdown); then SIGTERM
    and finally SIGKILL whatever is left of its process group."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(proc.pid):
            break
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 2.0
        while proc.poll() is None or _group_alive(proc.pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    proc.wait()


def _spawn(
    cmd: Sequence[str], out: IO[bytes], cwd: Path | None, env: Mapping[str, str] | None
) -> subprocess.Popen[bytes]:
    """A child in a session of its own (so its whole tree can be measured and stopped),
    output to `out`, no stdin."""
    return subprocess.Popen(
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_measured(
    cmd: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1200.0,
) -> Run:
    """Run to completion (or stop at `timeout`), timing it and tracking its tree's peak memory."""
    with open(log, "wb") as out:
        start = time.monotonic()
        proc = _spawn(cmd, out, cwd, env)
    peak, code, maxrss = 0, None, 0
    try:
        while time.monotonic() - start < timeout:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:  # reaped here, for its rusage: tell Popen
                code = proc.returncode = os.waitstatus_to_exitcode(status)
                maxrss = usage.ru_maxrss * 1024
                break
            peak = max(peak, group_memory(proc.pid))
            time.sleep(0.05)
    finally:
        elapsed = time.monotonic() - start
        stop_group(proc, grace=2.0)  # the timed-out run, or leftovers of a finished one
    return Run(elapsed, max(peak, maxrss), code, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> Response:
    """One GET, redirects not followed, body not decompressed: what a client sees on the wire."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request(
            "GET",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            headers=dict(headers or {}),
        )
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class ServerError(RuntimeError):
    """The server exited or did not answer in time."""


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT
    proc: subprocess.Popen[bytes]
    log: Path
    started: float  # time.monotonic() at spawn

    def tail(self, lines: int = 3) -> str:
        return Run(0, 0, None, self.log).tail(lines)

    def wait_for(
        self,
        path: str,
        timeout: float,
        accept: Callable[[Response], bool] = lambda r: r.status == 200,
    ) -> float:
        """Seconds from spawn until `path` gives an accepted answer (polled every 50 ms).

        aiohttp's own 404 lasting NOT_FOUND_PATIENCE seconds means no such route: give up
        then rather than at `timeout`, which is sized for a cold start at 100,000 posts.
        """
        deadline = time.monotonic() + timeout
        last, first_404 = "no answer", None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"server exited with {self.proc.returncode}: {self.tail()}")
            try:
                got = http_get(self.base + path, timeout=30.0)
                if got.status == 200 and accept(got):
                    return time.monotonic() - self.started
                last = f"HTTP {got.status}"
                unrouted = got.status == 404 and got.body == AIOHTTP_404
                first_404 = (first_404 or time.monotonic()) if unrouted else None
                if first_404 and time.monotonic() - first_404 > NOT_FOUND_PATIENCE:
                    raise ServerError(f"no route {path} (404 for {NOT_FOUND_PATIENCE:g} s)")
            except OSError as exc:
                last = type(exc).__name__
            time.sleep(0.05)
        raise ServerError(
            f"{path} gave no accepted answer within {timeout:g}s ({last}): {self.tail()}"
        )


@contextmanager
def serving(
    cmd: Sequence[str],
    port: int,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Server]:
    """Start a server in its own process group; always stop the whole group on exit."""
    with open(log, "ab") as out:
        started = time.monotonic()
        proc = _spawn(cmd, out, cwd, env)
    try:
        yield Server(f"http://127.0.0.1:{port}", proc, log, started)
    finally:
        stop_group(proc)
