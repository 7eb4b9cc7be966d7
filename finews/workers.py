"""Serving: one process, or N workers sharing the port (SO_REUSEPORT) under a master.

A worker is a plain `finews serve` process started with FINEWS_WORKER_INDEX=0..N-1 and
FINEWS_REDIS__URL set. Every worker runs `feeds.role = "auto"` like any other process on
the same Redis, so one of them (or a process on another host) holds the builder lease
(feeds/lease.py) and a dead builder is replaced by another worker within the lease time;
with `feeds.role = "builder"` set by hand, worker 0 builds and the others follow.
The master starts the embedded Redis once when redis.url is empty,
restarts a worker that dies, and on SIGTERM or SIGINT stops the workers, each finishing
its requests in flight, then Redis, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

from aiohttp import web
from prometheus_client import multiprocess as prometheus_multiprocess

from finews import server
from finews.core import logs, metrics
from finews.core.settings import Settings
from finews.embedded_redis import die_with_parent, supervised

log = logging.getLogger("finews.workers")

WORKER_ENV = "FINEWS_WORKER_INDEX"
RESTART_DELAY = 0.5  # first restart of a dead worker; doubles while workers die young
MAX_RESTART_DELAY = 30.0
YOUNG = 10.0  # seconds: a worker that dies sooner is crash-looping
KILL_GRACE = 5.0  # seconds past server.shutdown_timeout before a worker is killed


def worker_index() -> int | None:
    """This process's worker number when a master started it, else None."""
    value = os.environ.get(WORKER_ENV)
    return int(value) if value else None


def serve(
    app: web.Application, settings: Settings, host: str, port: int, reuse_port: bool = False
) -> int:
    """Serve until SIGTERM or SIGINT: stop accepting, finish requests in flight (bounded).
    Slow or idle clients are closed after server.header_timeout / keepalive_timeout."""
    conf = settings.log
    sink = logs.AccessSink(capacity=conf.access_buffer) if conf.access else None
    try:
        server.run(
            app,
            host,
            port,
            reuse_port=reuse_port,
            shutdown_timeout=settings.server.shutdown_timeout,
            header_timeout=settings.server.header_timeout,
            keepalive_timeout=settings.server.keepalive_timeout,
            access_log_class=logs.AccessLogger.keeping(conf.access_remote),
            access_log=sink,
        )
    finally:
        if sink is not None:
            sink.close()  # after the requests in flight: every answered request has its line
    log.info("event=stopped pid=%d", os.getpid())
    return 0


class Master:
    """Keeps `count` worker processes running until told to stop."""

    def __init__(self, settings: Settings, command: list[str], count: int) -> None:
        self.settings = settings
        self.command = command
        self.count = count
        self.stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        data_dir = Path(self.settings.data.dir)
        metrics.prepare_multiprocess(data_dir / "metrics")
        env = dict(os.environ)
        async with contextlib.AsyncExitStack() as stack:
            if not self.settings.redis.url:
                embedded = await stack.enter_async_context(
                    supervised(
                        data_dir,
                        self.settings.redis.start_timeout,
                        self.settings.redis.restart_delay,
                    )
                )
                env["FINEWS_REDIS__URL"] = embedded.url
            log.info("event=master_start pid=%d workers=%d", os.getpid(), self.count)
            await asyncio.gather(*(self._keep(index, env) for index in range(self.count)))
        log.info("event=master_stop pid=%d", os.getpid())
        return 0

    async def _keep(self, index: int, env: dict[str, str]) -> None:
        """Run worker `index`, restart it whenever it dies, stop it when the master stops."""
        delay = RESTART_DELAY
        while not self.stopping.is_set():
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                *self.command,
                env={**env, WORKER_ENV: str(index)},
                preexec_fn=die_with_parent,
                start_new_session=True,
            )
            log.info("event=worker_start index=%d pid=%d", index, process.pid)
            exited = asyncio.ensure_future(process.wait())
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not exited.done():
                await self._stop(index, process)
                return
            # Its live gauges (finews_feeds_builder) leave the scrape with it.
            prometheus_multiprocess.mark_process_dead(process.pid)
            if time.monotonic() - started > YOUNG:
                delay = RESTART_DELAY
            log.error(
                "event=worker_exit index=%d pid=%d code=%s restart_in=%gs",
                index,
                process.pid,
                process.returncode,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.stopping.wait()
            delay = min(delay * 2, MAX_RESTART_DELAY)

    async def _stop(self, index: int, process: asyncio.subprocess.Process) -> None:
        process.terminate()
        try:
            async with asyncio.timeout(self.settings.server.shutdown_timeout + KILL_GRACE):
                await process.wait()
        except TimeoutError:
            log.error("event=worker_kill index=%d pid=%d", index, process.pid)
            process.kill()
            await process.wait()
        log.info(
            "event=worker_stop index=%d pid=%d code=%s", index, process.pid, process.returncode
        )


def run_master(settings: Settings, config: str | None, host: str, port: int, count: int) -> int:
    """Start `count` workers on host:port and keep them running until SIGTERM or SIGINT."""
    command = [
        sys.executable,
        "-m",
        "finews",
        "serve",
        "--workers",
        "1",
        "--host",
        host,
        "--port",
        str(port),
    ]
    if config:
        command += ["--config", config]
    return asyncio.run(Master(settings, command, count).run())
