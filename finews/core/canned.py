"""Canned answers: a response that is the same for every request that gets it, serialised
once and written straight to the connection.

A hot route's answer (finews/core/hot.py) is a remembered feed 304 or 200, or a share
link's 302: the same status, headers and body each time but for the Date header. Building
aiohttp's Response for it, copying its headers, choosing its length and framing and
serialising the head again was more than anything else finews added to aiohttp's own work:
under callgrind with wrk's load, a feed 304 took 231,000 instructions before and 175,000
after (the bare aiohttp handler sending the same bytes, routed: 196,000).
A Canned keeps the head's bytes, renewed when the second changes (the Date header), and
CannedResponse writes them and the body.

CannedResponse is a StreamResponse that overrides only its public methods (prepare,
write_eof) and properties (keep_alive, body_length), so aiohttp's request handler, access
log and metrics treat it as any response. It answers only a keep-alive HTTP/1.1 request:
for the others aiohttp adds or changes framing headers (Connection), and they get the
same answer as an aiohttp Response. The head follows aiohttp's own rules for
Content-Length (tests/core/test_canned.py compares both byte for byte over HTTP, so an
aiohttp that changes them fails that test rather than answering differently).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from email.utils import formatdate
from http import HTTPStatus

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11

# what aiohttp refuses in a header (http_writer): a canned head must not hold it either
FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
BODYLESS = frozenset({204, 304})  # and 1xx: never a body, never a Content-Length


class Canned:
    """One answer's status, headers and body (None: none), for one request method.

    Raises ValueError for a header aiohttp would refuse to send."""

    __slots__ = ("_before", "_head", "_second", "body", "headers", "length", "payload", "status")

    def __init__(
        self, status: int, headers: Mapping[str, str], body: bytes | None, method: str
    ) -> None:
        self.status, self.headers, self.body = status, headers, body
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        for name, value in headers.items():
            if FORBIDDEN.search(name) or FORBIDDEN.search(value):
                raise ValueError(f"header {name!r}: a control character")
            lines.append(f"{name}: {value}")
        bodyless = status in BODYLESS or status < 200
        if body and not bodyless:
            lines.append(f"Content-Length: {len(body)}")
        elif not bodyless and method != "HEAD":
            lines.append("Content-Length: 0")
        self._before = ("\r\n".join(lines) + "\r\nDate: ").encode()
        # what follows the head: none on a HEAD, a 204 or a 304
        self.payload = None if bodyless or method == "HEAD" or not body else body
        self.length = len(self.payload or b"")
        self._second = -1
        self._head = b""

    def head(self) -> bytes:
        """The head's bytes, with this second's Date."""
        second = int(time.time())
        if second != self._second:
            date = formatdate(second, usegmt=True)
            self._head = b"%s%s\r\nServer: %s\r\n\r\n" % (
                self._before,
                date.encode(),
                SERVER_SOFTWARE.encode(),
            )
            self._second = second
        return self._head

    def response(self, request: web.BaseRequest) -> web.StreamResponse:
        """The answer to `request`: canned when it can be, else an aiohttp Response."""
        if request.version == HttpVersion11 and request.keep_alive:
            return CannedResponse(self)
        return web.Response(status=self.status, headers=self.headers, body=self.body)


class CannedResponse(web.StreamResponse):
    """A Canned answer's bytes, written on prepare."""

    def __init__(self, canned: Canned) -> None:
        super().__init__(status=canned.status)
        self.canned = canned
        self.sent = False

    @property
    def keep_alive(self) -> bool:
        return True

    @property
    def body_length(self) -> int:
        return self.canned.length

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.sent:
            return None
        self.sent = True
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        body = self.canned.payload
        if body is None:
            transport.write(self.canned.head())
            return None
        transport.writelines((self.canned.head(), body))
        # a client that sends requests and reads no answer holds the next one here, as
        # aiohttp's writer would, rather than the answers piling up in memory
        await request.writer.drain()
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None
