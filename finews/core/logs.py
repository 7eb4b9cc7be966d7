"""One line per event, `key=value` fields, so logs grep and parse easily.

Loggers are named `finews.<area>`: the feature (feeds, shortlinks, websub) or the root
component (app, cli, workers, server, redis, access); README's Logs section lists them.

The access log does not go through `logging` when serving: a formatted timestamp and a
flush per request cost about half of a redirect's throughput. Its line is made on the
request path from parts made once (`access_parts`: under load most lines repeat all but
their time, so each distinct text is quoted once; the timestamp once a second), about 1.5 µs,
and queued; one writer thread takes what gathered every `interval` seconds and writes it
in one write, so a request never waits for the stream, and `close()` writes the rest, so a
clean shutdown loses no line. Each line is stamped with the second its request was
answered, not when it was written.

Until 2026-12-02 the writer thread also formatted the lines, from tuples of raw fields.
Measured against the log switched off (a feed 304, server and wrk each pinned to one
core, 10 alternating rounds, three runs): that cost 7-12% of the throughput, this 5-11%.
README "Serving with the defaults on" has bench figure f and what is left.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Literal, TextIO

from aiohttp import hdrs, web
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


# What a request's line is made from: method, target (path and query as sent), status, body bytes,
# seconds taken, client address (None: none known), `log.access_remote`, User-Agent, and
# the wall time it was answered.
Record = tuple[str, str, int, int | None, float, str | None, Remote, str | None, float]


# Milliseconds to one decimal as text, 0.0 to 999.9, made once: formatting a float costs
# about 0.5 µs, a quarter of a line.
TENTHS_MAX = 10_000
TENTHS = tuple(f"{n // 10}.{n % 10}" for n in range(TENTHS_MAX))


def milliseconds(seconds: float) -> str:
    """`seconds` as milliseconds with one decimal; the tenth is cut, not rounded."""
    tenths = int(seconds * 10_000)
    return TENTHS[tenths] if 0 <= tenths < TENTHS_MAX else f"{tenths // 10}.{tenths % 10}"


def access_line(record: Record) -> str:
    """The message of one access-log line (after the `logging`-style prefix)."""
    method, target, status, length, seconds, address, remote, agent, _ = record
    head, tail = access_parts(method, target, status, length, address, remote, agent)
    return f"{head}{milliseconds(seconds)}{tail}"


@functools.lru_cache(maxsize=4096)
def access_parts(
    method: str,
    target: str,
    status: int,
    length: int | None,
    address: str | None,
    remote: Remote,
    agent: str | None,
) -> tuple[str, str]:
    """A line's text before and after its milliseconds. Under load most lines repeat all
    but their time (the same link, agent and network), so each is quoted once: about 0.6 µs
    a line rather than 2."""
    if remote == "none" or not address:
        address = "-"
    elif remote == "truncated":
        address = truncate(address)
    agent = "-" if agent is None else agent.replace('"', "'")
    path = target.replace('"', "%22")
    return (
        f'method={method} path="{path}" status={status} bytes={length} ms=',
        f' remote={address} ua="{agent}"',
    )


class AccessLogger(AbstractAccessLogger):
    """One line per request with the fields an operator filters on.

    `self.logger` is the AccessSink when serving: it gets the raw fields, formatted later
    in its writer thread. Any other logger (a logging.Logger, as aiohttp's test server
    passes) gets the finished line through `.info(line)`.

    aiohttp makes one per connection, so the client's address is read once per connection
    (about 1.5 µs a request otherwise), and not at all when `log.access_remote` is none.
    """

    remote: Remote = "truncated"

    def __init__(self, logger: logging.Logger | AccessSink, log_format: str) -> None:
        super().__init__(logger, log_format)  # type: ignore[arg-type]  # a sink, duck-typed
        self.add: Callable[[Record], None] = (
            logger.add if isinstance(logger, AccessSink) else self._line
        )
        self.address: str | None = None  # this connection's client, once read

    @classmethod
    def keeping(cls, remote: Remote) -> type[AccessLogger]:
        """This class logging the client address as `log.access_remote` says."""
        return type(cls.__name__, (cls,), {"remote": remote})

    def log(self, request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> None:
        address = self.address
        if address is None and self.remote != "none":
            address = self.address = request.remote
        self.add(
            (
                request.method,
                request.raw_path,
                response.status,
                response.body_length,
                seconds,
                address,
                self.remote,
                request.headers.get(hdrs.USER_AGENT),
                time.time(),
            )
        )

    def _line(self, record: Record) -> None:
        self.logger.info(access_line(record))


class AccessSink:
    """Access lines in a deque, written to `stream` in batches by one thread.

    A request only formats and appends; it never waits for the stream. Beyond `capacity` unwritten
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

    def add(self, record: Record) -> None:
        """Queue one request's line (deque.append is atomic: no lock on the request path)."""
        if len(self.lines) >= self.capacity:
            self.dropped += 1
            return
        method, target, status, length, seconds, address, remote, agent, when = record
        head, tail = access_parts(method, target, status, length, address, remote, agent)
        self.lines.append(f"{self._prefix(when)}{head}{milliseconds(seconds)}{tail}\n")

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

    def _prefix(self, when: float) -> str:
        """The line's start as `logging` would format it; the timestamp made once a second."""
        second = int(when)
        if second != self.stamp_second:
            self.stamp_second = second
            self.stamp = time.strftime(DATEFMT, time.localtime(second)) + f" INFO {ACCESS} "
        return self.stamp

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
