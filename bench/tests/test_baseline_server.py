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


async def test_given_headers_replace_each_answers_own(aiohttp_client) -> None:
    """The figures give the baseline the headers our answers carried: the same bytes."""
    sent = {
        "redirect": {"Location": "https://news.example/a.html", "Cache-Control": "no-store"},
        "feed": {"Content-Type": "application/rss+xml", "ETag": '"g1"', "Link": "<x>; rel=hub"},
        "not-modified": {"ETag": '"e1"', "Vary": "Accept, Accept-Encoding"},
    }
    client = await aiohttp_client(make_app("http://127.0.0.1/", b"<rss/>", '"e1"', sent))
    own = {"date", "server", "content-length"}  # what aiohttp adds to every answer

    for path, name in (("/s/NW202205242389705455", "redirect"), ("/feed", "feed"),
                       ("/not-modified", "not-modified")):  # fmt: skip
        resp = await client.get(path, allow_redirects=False)
        got = {k.lower(): v for k, v in resp.headers.items() if k.lower() not in own}
        assert got == {k.lower(): v for k, v in sent[name].items()}, path
