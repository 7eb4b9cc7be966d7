"""Small answers for people and programs: error pages (HTML, or JSON when asked)."""

from __future__ import annotations

import html
from http import HTTPStatus

from aiohttp import web

NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex",
            "X-Content-Type-Options": "nosniff"}
PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def page(title: str, body: str, lang: str, *, status: int = 200,
         headers: dict[str, str] | None = None) -> web.Response:
    """An HTML page; `body` is trusted HTML, `title` is escaped here."""
    return web.Response(text=PAGE.format(lang=html.escape(lang), title=html.escape(title),
                                         body=body),
                        content_type="text/html", status=status, headers=headers)


def error(request: web.Request, status: int, kind: str, message: str, *, home: str,
          lang: str = "en", headers: dict[str, str] | None = None) -> web.Response:
    """A small error page linking to the site's home, or JSON when the client asks."""
    all_headers = {**NO_STORE, **(headers or {})}
    if wants_json(request):
        return web.json_response({"error": kind, "message": message, "home": home},
                                 status=status, headers=all_headers)
    body = (f"<p>{html.escape(message)}</p>"
            f'<p><a href="{html.escape(home)}">{html.escape(home)}</a></p>')
    return page(f"{status} {HTTPStatus(status).phrase}", body, lang, status=status,
                headers=all_headers)
