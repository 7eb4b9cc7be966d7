"""HTTP routes of the feeds package."""

from __future__ import annotations

import html
from aiohttp import web

from feeds.posts import load_posts
from finews.appkeys import SETTINGS


async def index(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    result = load_posts(settings)
    items = "".join(f"<li>{html.escape(post.title)}</li>" for post in result.posts())
    page = (f'<!doctype html><html lang="{html.escape(settings.site.language)}"><meta charset="utf-8">'
            f"<title>{html.escape(settings.site.name)}</title><ul>{items}</ul></html>")
    return web.Response(text=page, content_type="text/html")


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
