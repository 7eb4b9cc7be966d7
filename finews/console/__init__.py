"""The newsroom console at /console/: share links, their charts and QR codes, the feeds,
users and API keys, in a browser (issue 12).

A root package: it reads the features (shortlinks, feeds) and no feature reads it.
"""

from __future__ import annotations

from aiohttp import web

from finews.console import charts, views
from finews.console.frame import HERE, PREFIX, ROOT, environment, gated, headers
from finews.core.appkeys import SETTINGS


async def charts_css(request: web.Request) -> web.Response:
    return web.Response(text=charts.stylesheet(), content_type="text/css")


def setup(app: web.Application) -> None:
    """Mount the console under /console/ (a sub-application: its headers and sign-in gate
    touch nothing else)."""
    console = web.Application()
    console[ROOT] = app
    console.on_response_prepare.append(headers)
    environment(console, app[SETTINGS].site.language)
    console.router.add_routes(
        [
            web.get("/login", gated(views.login_page)),
            web.post("/login", gated(views.login)),
            web.post("/logout", gated(views.logout)),
            web.get("/", gated(views.dashboard)),
            web.get("/links", gated(views.links)),
            web.get("/new", gated(views.new_page)),
            web.post("/new", gated(views.create)),
            web.get("/links/{code}", gated(views.link_page)),
            web.post(
                "/links/{code}/{action:retarget|disable|enable|expire|delete|restore}",
                gated(views.act),
            ),
            web.get("/feeds", gated(views.feeds_page)),
            web.get("/users", gated(views.users_page)),
            web.post("/users", gated(views.users_change)),
            web.get("/keys", gated(views.keys_page)),
            web.post("/keys", gated(views.keys_change)),
            web.get("/static/charts.css", charts_css),
            web.static("/static", HERE / "static"),
        ]
    )
    app.add_subapp(PREFIX, console)
