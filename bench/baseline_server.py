"""The bare aiohttp baseline: what the same framework does with no work at all.

    python -m bench.baseline_server --port P [--location URL] [--body FILE] [--etag ETAG]
                                    [--headers FILE] [--reuse-port]

GET /s/{code}      a fixed 302 to --location
GET /feed          the bytes of --body, sent as they are (give it the gzip bytes our
                   server sent, and it answers with `Content-Encoding: gzip`)
GET /not-modified  a fixed 304 carrying --etag

--headers names a JSON file {"redirect": {...}, "feed": {...}, "not-modified": {...}}:
the headers each answer carries instead (aiohttp adds Date, Server and Content-Length).
The figures give it the headers our server sent, so that both send the same bytes.

Started like `finews serve` (aiohttp's run_app, one process, no access log), so a ratio
against it measures only what finews adds per request.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from aiohttp import web


def make_app(
    location: str, body: bytes, etag: str, headers: Mapping[str, Mapping[str, str]] | None = None
) -> web.Application:
    given = headers or {}
    redirect_headers = dict(given.get("redirect") or {"Location": location})
    feed_headers = dict(
        given.get("feed")
        or {
            "Content-Type": "application/rss+xml; charset=utf-8",
            "ETag": etag,
            "Vary": "Accept-Encoding",
            **({"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {}),
        }
    )
    not_modified_headers = dict(given.get("not-modified") or {"ETag": etag})

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers=redirect_headers)

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=feed_headers)

    async def not_modified(request: web.Request) -> web.Response:
        return web.Response(status=304, headers=not_modified_headers)

    app = web.Application()
    app.router.add_get("/s/{code}", redirect)
    app.router.add_get("/feed", feed)
    app.router.add_get("/not-modified", not_modified)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.baseline_server", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--location", default="http://127.0.0.1/")
    ap.add_argument("--body", type=Path, help="file whose bytes /feed returns")
    ap.add_argument("--etag", default='"bench"')
    ap.add_argument("--headers", type=Path, help="JSON file: each answer's headers (see above)")
    ap.add_argument(
        "--reuse-port", action="store_true", help="SO_REUSEPORT: several processes, one port"
    )
    a = ap.parse_args(argv)
    body = a.body.read_bytes() if a.body else b"<rss/>"
    headers = json.loads(a.headers.read_text(encoding="utf-8")) if a.headers else None
    web.run_app(
        make_app(a.location, body, a.etag, headers),
        host=a.host,
        port=a.port,
        access_log=None,
        print=None,
        reuse_port=a.reuse_port,
    )


if __name__ == "__main__":
    main()
