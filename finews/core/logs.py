"""One line per event, `key=value` fields, so logs grep and parse easily.

Loggers are named `finews.<area>`: the feature (feeds, shortlinks, websub) or the root
component (app, cli, workers, server, redis, access); README's Logs section lists them.

The access log does not go through `logging` when serving: a formatted timestamp and a
flush per request cost about half of a redirect's throughput. `AccessLogger` formats its
line with one f-string and hands it to an `AccessSink`, which only appends it to a deque;
one writer thread writes what gathered every `interval` seconds in one write, and
`close()` writes the rest, so a clean shutdown loses no line.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import logging
import sys
import threading
import time
from typing import Literal, TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
DATEFMT = "%Y-%m-%dT%H:%M:%S%z"
ACCESS = "finews.access"
log = logging.getLogger("finews.access")  # the sink's own trouble; its lines name it too
Remote = Literal["full", "truncated", "none"]


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt=DATEFMT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@functools.lru_cache(maxsize=4096)
def truncate(address: str) -> str:
    """The client's network, not the client: IPv4 /24, IPv6 /48 (statistics keep no address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "-"  # a unix socket peer or a name: nothing to keep
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class AccessLogger(AbstractAccessLogger):
    """One line per request with the fields an operator filters on.

    `self.logger` is the AccessSink when serving, or any logging.Logger (aiohttp's test
    server passes one): both take the finished line through `.info(line)`.
    """

    remote: Remote = "truncated"

    @classmethod
    def keeping(cls, remote: Remote) -> type[AccessLogger]:
        """This class logging the client address as `log.access_remote` says."""
        return type(cls.__name__, (cls,), {"remote": remote})

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if self.remote == "none":
            remote = "-"
        else:
            remote = request.remote or "-"
            if self.remote == "truncated":
                remote = truncate(remote)
        agent = request.headers.get("User-Agent", "-").replace('"', "'")
        path = request.path_qs.replace('"', "%22")
        self.logger.info(
            f'method={request.method} path="{path}" status={response.status} '
            f'bytes={response.body_length} ms={time * 1000:.1f} remote={remote} ua="{agent}"'
        )


class AccessSink:
    """Access lines in a deque, written to `stream` in batches by one thread.

    A request only appends; it never waits for the stream. Beyond `capacity` unwritten
    lines (the stream stalls) new lines are dropped and counted, and the count is logged
    once the stream takes writes again, rather than memory growing without bound.
    """

    def __init__(
        self, stream: TextIO | None = None, *, interval: float = 0.2, capacity: int = 100_000
    ) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.capacity = capacity
        self.lines: collections.deque[str] = collections.deque()
        self.dropped = 0
        self.stamp_second = -1
        self.stamp = ""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="access-log", daemon=True)

    def __bool__(self) -> bool:  # aiohttp logs only when its access_log is truthy
        return True

    def info(self, message: str) -> None:
        """Queue one line, prefixed as `logging` would format it, with a cached timestamp."""
        now = int(time.time())
        if now != self.stamp_second:
            self.stamp_second = now
            self.stamp = time.strftime(DATEFMT, time.localtime(now)) + f" INFO {ACCESS} "
        if len(self.lines) >= self.capacity:
            self.dropped += 1
            return
        self.lines.append(self.stamp + message + "\n")

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        """Write every line still queued; call after the server finished its requests."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self._write()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self._write()

    def _write(self) -> None:
        lines, popleft = [], self.lines.popleft
        try:
            while True:
                lines.append(popleft())
        except IndexError:
            pass
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            log.warning("event=access_log_dropped lines=%d", dropped)
        if lines:
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError) as exc:  # a closed stderr must not kill the server
                log.error("event=access_log_failed reason=%s", exc)
