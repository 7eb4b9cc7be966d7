"""One line per event, `key=value` fields, so logs grep and parse easily.

Loggers are named `finews.<area>`: the feature (feeds, shortlinks, websub) or the root
component (app, cli, workers, server, redis, access); README's Logs section lists them.

The access log does not go through `logging` when serving: a formatted timestamp and a
flush per request cost about half of a redirect's throughput. Its line is made on the
request path from parts made once (`access_parts`: under load most lines repeat all but
their time, so each distinct text is quoted once; the timestamp once a second), about 1.5 µs,
and queued; the event loop writes what gathered every `interval` seconds in one batch,
never waiting for a stalled reader (`AccessSink`), and `close()` writes the rest, so a
clean shutdown loses no line. Each line is stamped with the second its request was
answered, not when it was written.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import select
import stat
import sys
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


CLOSE_WAIT = 5.0  # seconds close() waits for a stalled reader before it gives the lines up

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

    `self.logger` is the AccessSink when serving: it gets the raw fields, makes the line
    and queues it for the event loop to write. Any other logger (a logging.Logger, as
    aiohttp's test server passes) gets the finished line through `.info(line)`.

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
    """Access lines gathered on the event loop and written to `stream` every `interval`
    seconds, with no thread.

    A request only formats and appends its line. The batch goes
    - to a pipe, socket or terminal when the event loop says it takes bytes, a whole
      number of lines of at most PIPE_BUF bytes at a time: a write that size to a writable
      pipe does not block, and lines of other writers of the same stderr never land inside
      one of ours;
    - to a regular file, or a stream with no file descriptor (a test's StringIO), at once
      through the stream: that does not wait for long.
    So a request never waits for the stream. Beyond `capacity` unwritten lines (the
    reader stalls) new lines are dropped and counted, and the count is logged, rather
    than memory growing without bound. `close()` writes the rest, blocking, once the
    server has finished its requests.

    Why no thread: with a writer thread beside the event loop, even one with nothing to
    write, a feed 304 lost 8-21% of its throughput against the log switched off; with
    none, 0-14% (bench figure f, README "Serving with the defaults on"). Why the thread
    costs that much was not found; a thread waking less often cost less.
    """

    def __init__(
        self, stream: TextIO | None = None, *, interval: float = 0.2, capacity: int = 100_000
    ) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.capacity = capacity
        self.lines: list[str] = []  # made since the last batch
        self.pending = bytearray()  # batches the pipe has not taken yet
        self.held = 0  # lines in `pending`
        self.dropped = 0
        self.stamp_second = -1
        self.stamp = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.fd = _pollable(self.stream)
        self.owned = self.fd is not None and self.fd != self.stream.fileno()

    def __bool__(self) -> bool:  # aiohttp logs only when its access_log is truthy
        return True

    def add(self, record: Record) -> None:
        """Queue one request's line."""
        if len(self.lines) + self.held >= self.capacity:
            self.dropped += 1
            return
        method, target, status, length, seconds, address, remote, agent, when = record
        head, tail = access_parts(method, target, status, length, address, remote, agent)
        self.lines.append(f"{self._prefix(when)}{head}{milliseconds(seconds)}{tail}\n")

    def start(self) -> None:
        """Write a batch every `interval` seconds from now on; call on the serving loop."""
        self.loop = asyncio.get_running_loop()
        self.timer = self.loop.call_later(self.interval, self._batch)

    def close(self) -> None:
        """Write every line still queued, waiting for the stream; call after the server
        finished its requests (its event loop may be closed by then)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        loop, self.loop = self.loop, None
        if self.fd is not None and self.pending and loop is not None and not loop.is_closed():
            loop.remove_writer(self.fd)
        self._report_dropped()
        text, self.lines = "".join(self.lines), []
        try:
            if self.fd is None:
                self._write_stream(text)
                return
            data = bytes(self.pending) + text.encode("utf-8", "backslashreplace")
            self.pending.clear()
            self.held = 0
            self._write_all(data)
        except (OSError, ValueError) as exc:  # a closed stderr must not kill the server
            log.error("event=access_log_failed reason=%s", exc)
        finally:
            if self.fd is not None and self.owned:
                os.close(self.fd)  # the sink's own description of the pipe or terminal
            self.fd = None

    def _write_all(self, data: bytes) -> None:
        """Write `data`, waiting for a slow reader up to CLOSE_WAIT seconds in all."""
        assert self.fd is not None
        deadline = time.monotonic() + CLOSE_WAIT
        while data:
            try:
                data = data[os.write(self.fd, data) :]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    lines = data.count(b"\n")
                    log.error("event=access_log_failed reason=stalled lines=%d", lines)
                    return
                select.select([], [self.fd], [], left)

    def _batch(self) -> None:
        assert self.loop is not None
        self.timer = self.loop.call_later(self.interval, self._batch)
        self._report_dropped()
        if not self.lines:
            return
        text, count, self.lines = "".join(self.lines), len(self.lines), []
        if self.fd is None:
            try:
                self._write_stream(text)
            except (OSError, ValueError) as exc:
                log.error("event=access_log_failed reason=%s", exc)
            return
        if not self.pending:
            self.loop.add_writer(self.fd, self._drain)
        self.pending += text.encode("utf-8", "backslashreplace")
        self.held += count

    def _drain(self) -> None:
        """The pipe takes bytes: give it whole lines, at most PIPE_BUF of them."""
        assert self.loop is not None and self.fd is not None
        chunk = self.pending[: select.PIPE_BUF]
        end = chunk.rfind(b"\n") + 1 or len(chunk)  # one line longer than PIPE_BUF: cut it
        try:
            written = os.write(self.fd, chunk[:end])
        except BlockingIOError:
            return  # the reader fell behind again: the loop calls back when it can take more
        except OSError as exc:
            log.error("event=access_log_failed reason=%s lines=%d", exc, self.held)
            written = len(self.pending)
        self.held -= self.pending.count(b"\n", 0, written)
        del self.pending[:written]
        if not self.pending:
            self.loop.remove_writer(self.fd)

    def _write_stream(self, text: str) -> None:
        if text:
            self.stream.write(text)
            self.stream.flush()

    def _report_dropped(self) -> None:
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            log.warning("event=access_log_dropped lines=%d", dropped)

    def _prefix(self, when: float) -> str:
        """The line's start as `logging` would format it; the timestamp made once a second."""
        second = int(when)
        if second != self.stamp_second:
            self.stamp_second = second
            self.stamp = time.strftime(DATEFMT, time.localtime(second)) + f" INFO {ACCESS} "
        return self.stamp


def _pollable(stream: TextIO) -> int | None:
    """A descriptor of the stream the event loop can wait on (a pipe, socket or terminal),
    else None: a regular file, or no descriptor at all.

    A pipe or terminal is opened again, non-blocking: an open file description of the
    sink's own, so that a full pipe or a stopped terminal answers EAGAIN rather than
    holding the loop, while the descriptor the process shares (with `logging`, with the
    other workers) keeps its flags. A socket cannot be opened again; it is written as it
    is, PIPE_BUF bytes at most when the loop says it takes bytes."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None
    if stat.S_ISREG(mode):
        return None
    try:
        path = os.ttyname(fd) if os.isatty(fd) else f"/proc/self/fd/{fd}"
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return fd
