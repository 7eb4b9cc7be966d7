"""The bare aiohttp baseline answers what the figures compare against, over real HTTP."""

from __future__ import annotations

import gzip

from bench.baseline_server import make_app


async def test_fixed_redirect_feed_bytes_and_304(aiohttp_client) -> None:
    body = gzip.compress(b"<rss>feed</rss>")
    client = await aiohttp_client(make_app("http://127.0.0.1:8080/a.html", body, '"e1"'))

    resp = await client.get("/s/NW202205242389705455", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "http://127.0.0.1:8080/a.html"

    resp = await client.get("/feed", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert await resp.read() == body

    resp = await client.get("/not-modified", headers={"If-None-Match": '"e1"'})
    assert resp.status == 304 and resp.headers["ETag"] == '"e1"'
    assert await resp.read() == b""
