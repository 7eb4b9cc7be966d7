"""The newsroom console at /console/: share links, their charts and QR codes, the feeds,
users and API keys, in a browser (issue 12).

A root package: it reads the features (shortlinks, feeds) and no feature reads it.
"""

from __future__ import annotations

from aiohttp import web

from finews.console import charts, views
from finews.console.frame import HERE, PREFIX, ROOT, environment, gate, headers
from finews.core.appkeys import SETTINGS


async def charts_css(request: web.Request) -> web.Response:
    return web.Response(text=charts.stylesheet(), content_type="text/css")


def setup(app: web.Application) -> None:
    """Mount the console under /console/ (a sub-application: its headers and sign-in gate
    touch nothing else)."""
    console = web.Application(middlewares=[headers, gate])
    console[ROOT] = app
    environment(console, app[SETTINGS].site.language)
    route = console.router
    route.add_get("/login", views.login_page)
    route.add_post("/login", views.login)
    route.add_post("/logout", views.logout)
    route.add_get("/", views.dashboard)
    route.add_get("/links", views.links)
    route.add_get("/new", views.new_page)
    route.add_post("/new", views.create)
    route.add_get("/links/{code}", views.link_page)
    route.add_post(
        "/links/{code}/{action:retarget|disable|enable|expire|delete|restore}", views.act
    )
    route.add_get("/feeds", views.feeds_page)
    route.add_get("/users", views.users_page)
    route.add_post("/users", views.users_change)
    route.add_get("/keys", views.keys_page)
    route.add_post("/keys", views.keys_change)
    route.add_get("/static/charts.css", charts_css)
    route.add_static("/static", HERE / "static")
    app.add_subapp(PREFIX, console)
