"""The HTTP server loop: aiohttp's, plus a deadline for each request head.

aiohttp closes a connection that stays idle past its keep-alive timeout, but it has no
limit on the time a request head takes to arrive once bytes start coming: a client that
sends a byte every few seconds holds its connection, its buffers and a file descriptor
for as long as it likes, and a few thousand such clients exhaust the process
("slowloris"). HeaderTimeoutHandler adds that limit: the head of a request must be complete
`header_timeout` seconds after the connection opens, or after the first bytes of a later
request on the same connection arrive; otherwise the connection is closed.

`run` replaces web.run_app so that connections use that handler: it serves until SIGTERM
or SIGINT, then stops accepting and lets requests in flight finish (bounded by
shutdown_timeout), as run_app does.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from finews.core.logs import AccessSink

log = logging.getLogger("finews.server")


class HeaderTimeoutHandler(RequestHandler):
    """One connection: aiohttp's protocol with a deadline over each request head.

    A head starts at connection_made, and in data_received when bytes come while the
    connection waits for a request (start() is parked on its waiter: no head pending and
    no request being handled, so these bytes begin a head, never a body). It ends as soon
    as the parser yields a complete head. Bytes of a pipelined head that come while an
    earlier request is handled start no deadline: aiohttp's keep-alive timer, started
    after the response, bounds them.

    The timer is lazy, as aiohttp's keep-alive timer is: a head's start and end only set
    `_head_since`, and the one timer of the connection, when it fires, closes the
    connection if a head is still pending past its deadline, or sets itself again for the
    head pending now. Arming and cancelling a timer for every request cost a redirect a
    few percent of its time; now a busy keep-alive connection arms one per
    `header_timeout` at most.
    """

    __slots__ = ("_head_since", "_header_timeout", "_header_timer")

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_since: float | None = None  # loop time the pending head began

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_started()

    def data_received(self, data: bytes) -> None:
        waiting = self._waiter is not None and not self._waiter.done()
        if waiting and data and self._head_since is None:
            self._head_started()
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads:
            self._head_since = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_since = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _head_started(self) -> None:
        self._head_since = self._loop.time()
        if self._header_timer is None:
            self._arm(self._head_since + self._header_timeout)

    def _arm(self, when: float) -> None:
        self._header_timer = self._loop.call_at(when, self._header_check)

    def _header_check(self) -> None:
        self._header_timer = None
        since = self._head_since
        if since is None:
            return  # no head pending: the next one arms the timer again
        deadline = since + self._header_timeout
        if self._loop.time() < deadline:
            self._arm(deadline)  # a later head than the one the timer was set for
            return
        if self.transport is not None:
            peer = self.transport.get_extra_info("peername")
            log.info(
                "event=header_timeout peer=%s seconds=%g",
                peer[0] if peer else "-",
                self._header_timeout,
            )
        self.force_close()


async def _serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool,
    shutdown_timeout: float,
    header_timeout: float,
    handler_args: dict[str, Any],
) -> None:
    loop = asyncio.get_running_loop()
    access_log = handler_args.get("access_log")
    if isinstance(access_log, AccessSink):
        access_log.start()  # its batches are written by this loop
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    manager = runner.server
    assert manager is not None  # set by setup()
    listener = None
    try:
        listener = await loop.create_server(
            lambda: HeaderTimeoutHandler(
                manager, loop=loop, header_timeout=header_timeout, **handler_args
            ),
            host,
            port,
            reuse_port=reuse_port,
            backlog=128,
        )
        await stop.wait()
    finally:
        if listener is not None:
            listener.close()  # stop accepting; open connections finish below
        await runner.cleanup()


def run(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool,
    shutdown_timeout: float,
    header_timeout: float,
    **handler_args: Any,
) -> None:
    """Serve `app` until SIGTERM or SIGINT. `handler_args` go to each connection's
    RequestHandler (keepalive_timeout, access_log_class, access_log)."""
    asyncio.run(
        _serve(
            app,
            host,
            port,
            reuse_port=reuse_port,
            shutdown_timeout=shutdown_timeout,
            header_timeout=header_timeout,
            handler_args=handler_args,
        )
    )
