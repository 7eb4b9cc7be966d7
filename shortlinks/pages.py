"""Small answers for people and programs: error pages (HTML, or problem details when asked).

A browser gets a small HTML page; a client whose Accept names `application/json` or
`application/problem+json` (and not `text/html`) gets RFC 9457 problem details, the shape
every JSON error of the service has.
"""

from __future__ import annotations

import html
from http import HTTPStatus

from aiohttp import web

from finews.core.errors import Problem

NO_STORE = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}
PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


JSON_TYPES = ("application/json", "application/problem+json")


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" not in accept and any(kind in accept for kind in JSON_TYPES)


def page(
    title: str, body: str, lang: str, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """An HTML page; `body` is trusted HTML, `title` is escaped here."""
    return web.Response(
        text=PAGE.format(lang=html.escape(lang), title=html.escape(title), body=body),
        content_type="text/html",
        status=status,
        headers=headers,
    )


def error(
    request: web.Request,
    status: int,
    kind: str,
    message: str,
    *,
    home: str,
    lang: str = "en",
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A small error page linking to the site's home, or problem details (with `home`)
    when the client asks for JSON. A Retry-After in `headers` goes to both."""
    all_headers = {**NO_STORE, **(headers or {})}
    if wants_json(request):
        retry = all_headers.pop("Retry-After", None)
        return Problem(
            status,
            kind,
            message,
            headers=all_headers,
            home=home,
            retry_after=int(retry) if retry else None,
        ).response()
    body = (
        f'<p>{html.escape(message)}</p><p><a href="{html.escape(home)}">{html.escape(home)}</a></p>'
    )
    return page(
        f"{status} {HTTPStatus(status).phrase}", body, lang, status=status, headers=all_headers
    )
