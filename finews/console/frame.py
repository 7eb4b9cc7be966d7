"""The console's frame: its sub-application, security headers, sign-in gate, CSRF check,
templates (jinja2, autoescaped, in `site.language` through gettext) and the page helper.

Every answer under /console/ carries a Content-Security-Policy that allows scripts, styles
and images from this site only (no 'unsafe-inline'), so nothing a post, a visitor or a
referrer supplied can run even if it slipped past the templates' escaping.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from finews.console import sessions, users
from finews.core.appkeys import CLOCK, REDIS, SETTINGS
from finews.core.i18n import translations
from shortlinks.redirect import client_address

HERE = Path(__file__).resolve().parent
LOCALE = HERE / "locale"
PREFIX = "/console"
LOGIN_COOKIE = "finews_console_login"  # the sign-in form's CSRF token, before any session
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
OPEN = (f"{PREFIX}/login", f"{PREFIX}/static/")  # reachable without a session

USER = web.RequestKey("console_user", users.User)
SESSION = web.RequestKey("console_session", sessions.Session)
ROOT: web.AppKey[web.Application] = web.AppKey("console_root")


def words(language: str) -> Any:
    return translations(LOCALE, "console", language)


def environment(app: web.Application, language: str) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.filters["localtime"] = localtime
    env.install_gettext_translations(words(language), newstyle=True)  # type: ignore[attr-defined]


def localtime(seconds: float, zone: Any) -> str:
    """Unix seconds as the site's local time, to the minute."""
    return f"{datetime.fromtimestamp(seconds, zone):%Y-%m-%d %H:%M}"


def secure_cookie(request: web.Request) -> bool:
    return str(request.config_dict[SETTINGS].site.url).startswith("https://")


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path=PREFIX + "/",
        httponly=True,
        samesite="Strict",
        secure=secure_cookie(request),
    )


def page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A console page: the layout's context (user, CSRF token, language) and `context`."""
    session = request.get(SESSION)
    say = words(request.config_dict[SETTINGS].site.language).gettext
    base = {
        "role_names": {
            "viewer": say("Viewer"),
            "editor": say("Editor"),
            "admin": say("Admin"),
        },
        "user": request.get(USER),
        "csrf": session.csrf if session else "",
        "lang": request.config_dict[SETTINGS].site.language,
        "path": request.path,
        "notice": None,
        "error": None,
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    return page(request, "refused.html", {"status": status, "error": message}, status)


def address(request: web.Request) -> str:
    return client_address(request, request.config_dict[SETTINGS].server.trust_forwarded)


async def headers(request: web.Request, response: web.StreamResponse) -> None:
    """The security headers on every answer under /console/, errors and files included
    (an on_response_prepare signal of the console's sub-application)."""
    response.headers.update(SECURITY)


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    form = await request.post()
    given = form.get("csrf")
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(given, expected)


def gated(handler: Handler) -> Handler:
    """`handler` behind the gate: a wrapper per route, not a middleware, since a middleware
    on this sub-application would make aiohttp run its middleware chain on every request
    of the whole site, redirects included (see finews/app.py, guarded)."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        return await gate(request, handler)

    return run


async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pages need a live session; every POST a matching CSRF token, and at least an editor
    (the users and keys pages check for an admin themselves)."""
    if request.path.startswith(OPEN):
        if request.method == "POST" and not await _csrf_ok(
            request, request.cookies.get(LOGIN_COOKIE, "")
        ):
            return refuse(request, 403, _(request, "The form has expired. Reload and try again."))
        return await handler(request)
    redis, clock = request.config_dict[REDIS], request.config_dict[CLOCK]
    session = await sessions.find(redis, request.cookies.get(sessions.COOKIE, ""), clock.time())
    user = await users.get(redis, session.name) if session else None
    if session is None or user is None:
        raise web.HTTPSeeOther(f"{PREFIX}/login")
    request[SESSION], request[USER] = session, user
    if request.method == "POST":
        if not await _csrf_ok(request, session.csrf):
            return refuse(request, 403, _(request, "The form has expired. Reload and try again."))
        if not user.can("editor") and request.path != f"{PREFIX}/logout":
            return refuse(request, 403, _(request, "Your role may read but not change anything."))
    return await handler(request)


def _(request: web.Request, message: str, **values: Any) -> str:
    """`message` in the site's language, `{name}` fields filled in."""
    text: str = words(request.config_dict[SETTINGS].site.language).gettext(message)
    return text.format(**values) if values else text


def login_token() -> str:
    return secrets.token_urlsafe(24)
