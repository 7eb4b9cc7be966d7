"""Canned answers (finews/core/canned.py) send the bytes aiohttp's Response sends for the
same status, headers, body and request, but for the Date, over a real connection: a
keep-alive HTTP/1.1 request (written by Canned), HTTP/1.0 and `Connection: close` (handed
to aiohttp), GET and HEAD. The connection stays usable after a canned answer, and a
header aiohttp would refuse is refused when the answer is made."""

from __future__ import annotations

import asyncio
import re
import string

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from finews.core.canned import Canned, CannedResponse

STATUSES = [200, 201, 204, 301, 302, 303, 304, 307, 308, 404, 410, 503]
FORMS = {
    "keep-alive": "HTTP/1.1\r\nHost: t",
    "close": "HTTP/1.1\r\nHost: t\r\nConnection: close",
    "1.0": "HTTP/1.0",
}
DATE = re.compile(rb"\r\nDate: [^\r]*")

# the headers aiohttp writes itself, or frames the body by, are not an answer's own
FRAMING = {"content-length", "content-type", "transfer-encoding", "date", "server", "connection"}
names = st.text(string.ascii_letters + "-", min_size=1, max_size=12).filter(
    lambda name: name.lower() not in FRAMING
)
values = st.text(string.printable.strip("\t\n\r\x0b\x0c"), max_size=40)
bodies = st.one_of(st.none(), st.just(b""), st.binary(min_size=1, max_size=3000))


async def exchange(port: int, raw: bytes, method: str, follow: bytes | None) -> list[bytes]:
    """The answers to `raw` and then `follow` on one connection: each its head without the
    Date line, and its body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for request in (raw, follow):
            if request is None:
                break
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = re.search(rb"\r\nContent-Length: (\d+)", head)
            size = int(length.group(1)) if length and method != "HEAD" else 0
            body = await asyncio.wait_for(reader.readexactly(size), 5)
            answers += [DATE.sub(b"", head), body]
        if b"Connection: close" in raw or b"HTTP/1.0" in raw:
            answers.append(await asyncio.wait_for(reader.read(), 5))  # closed: nothing more
    finally:
        writer.close()
        await writer.wait_closed()
    return answers


async def compare(status: int, headers: dict[str, str], body: bytes | None) -> None:
    async def plain(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers=headers, body=body)

    async def canned(request: web.Request) -> web.StreamResponse:
        return Canned(status, headers, body, request.method).response(request)

    app = web.Application()
    app.router.add_route("*", "/plain", plain)
    app.router.add_route("*", "/canned", canned)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        assert server.port is not None
        for method in ("GET", "HEAD"):
            for form, line in FORMS.items():
                got = {}
                for path in ("/plain", "/canned"):
                    raw = f"{method} {path} {line}\r\n\r\n".encode()
                    again = raw if form == "keep-alive" else None
                    answers = await exchange(server.port, raw, method, again)
                    got[path] = [part.replace(b"/canned", b"/plain") for part in answers]
                assert got["/canned"] == got["/plain"], (method, form, status, headers, body)
    finally:
        await server.close()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    status=st.sampled_from(STATUSES),
    headers=st.dictionaries(names, values, max_size=5),
    body=bodies,
)
def test_canned_bytes_are_aiohttps_bytes(
    status: int, headers: dict[str, str], body: bytes | None
) -> None:
    if body:
        headers["Content-Type"] = "application/rss+xml; charset=utf-8"
    asyncio.run(compare(status, headers, body))


def test_the_answers_finews_cans_are_aiohttps() -> None:
    """The feeds' 304 and gzip 200 and the share links' 302, as they are sent."""
    feed = {
        "ETag": '"11d1492c32586262714818b31539b781-gzip"',
        "Last-Modified": "Wed, 02 Dec 2026 16:12:21 GMT",
        "Vary": "Accept, Accept-Encoding",
        "Cache-Control": "public, max-age=300",
    }
    asyncio.run(compare(304, feed, None))
    body = b"\x1f\x8b" + bytes(range(256)) * 40
    typed = feed | {"Content-Type": "application/rss+xml; charset=utf-8"}
    asyncio.run(compare(200, typed | {"Content-Encoding": "gzip"}, body))
    location = {"Cache-Control": "no-store", "Location": "https://example.com/a/b.html?x=%E6%B0"}
    asyncio.run(compare(302, location, None))


def test_only_a_keep_alive_http_11_request_is_canned() -> None:
    kinds: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = Canned(200, {"Content-Type": "text/plain"}, b"ok", request.method).response(
            request
        )
        kinds.append(type(response).__name__)
        return response

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            assert server.port is not None
            for line in FORMS.values():
                await exchange(server.port, f"GET / {line}\r\n\r\n".encode(), "GET", None)
        finally:
            await server.close()

    asyncio.run(scenario())
    assert kinds == [CannedResponse.__name__, "Response", "Response"]


@pytest.mark.parametrize(
    "headers",
    [{"Location": "https://example.com/\r\nSet-Cookie: a=b"}, {"X\nY": "1"}, {"A": "\x00"}],
)
def test_a_header_aiohttp_would_refuse_is_refused_when_canned(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="control character"):
        Canned(302, headers, None, "GET")
