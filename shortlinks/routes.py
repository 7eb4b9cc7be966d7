"""HTTP routes of the shortlinks package."""

from __future__ import annotations

from aiohttp import web

ROBOTS = "User-agent: *\nAllow: /\n"


async def robots(request: web.Request) -> web.Response:
    """Social crawlers must reach share links to read the article's preview tags."""
    return web.Response(text=ROBOTS)


def setup(app: web.Application) -> None:
    app.router.add_get("/robots.txt", robots)
