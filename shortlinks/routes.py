"""HTTP routes of the shortlinks package, and the background visit writer's lifetime."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from finews.core import hot
from finews.core.appkeys import CLOCK, REDIS, SETTINGS
from finews.core.hot import Answer, HotRoutes
from shortlinks import api, pages, paths, preview, qr
from shortlinks.redirect import Redirector
from shortlinks.service import SERVICE, Service

log = logging.getLogger("finews.shortlinks")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Share links must reach social crawlers: they follow the redirect and read the
# article's preview tags. Named groups keep them allowed whatever `*` says.
SOCIAL_CRAWLERS = (
    "Twitterbot",
    "facebookexternalhit",
    "Facebot",
    "WhatsApp",
    "TelegramBot",
    "Slackbot",
    "Slackbot-LinkExpanding",
    "LinkedInBot",
    "Discordbot",
    "Applebot",
    "WeChat",
    "Weibo",
)
ROBOTS = (
    "".join(f"User-agent: {name}\n" for name in SOCIAL_CRAWLERS) + "Allow: /\n\n"
    "User-agent: *\nDisallow: /api/\nAllow: /\n"
)


async def robots(request: web.Request) -> web.Response:
    return web.Response(text=ROBOTS, headers={"Cache-Control": "public, max-age=3600"})


def public(handler: Handler) -> Handler:
    """A Redis outage on a public page is a 503 page with Retry-After, not a trace."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RedisError as exc:
            log.error("event=redirect_redis_error path=%s reason=%s", request.path, exc)
            return request.app[SERVICE].redirector.error(
                request,
                503,
                "unavailable",
                "share links are unavailable for a moment",
                headers={"Retry-After": "1"},
            )

    return run


async def short(request: web.Request) -> web.StreamResponse:
    """`/s/CODE` (typed) and `/S/CODE` (scanned from a QR code); `CODE+` previews.

    Not wrapped in `public`: the redirector answers a Redis outage itself, and the hot
    path is one coroutine layer shorter."""
    raw = request.match_info["code"]
    if raw.endswith("+"):
        return await preview_page(request)
    return await request.app[SERVICE].redirector.handle(
        request, raw, qr=request.path.startswith(paths.SCANNED)
    )


@public
async def preview_page(request: web.Request) -> web.StreamResponse:
    return await preview.handle(request, request.app[SERVICE], request.match_info["code"][:-1])


async def legacy(request: web.Request) -> web.StreamResponse:
    """The form printed and shared for years; extra parameters (WeChat's `from=`) are fine."""
    service = request.app[SERVICE]
    return await service.redirector.handle(
        request, request.query.get(paths.LEGACY_PARAMETER, ""), qr=False
    )


@public
async def qr_code(request: web.Request) -> web.Response:
    return await qr.handle(request, request.app[SERVICE])


def hot_routes(answers: HotRoutes, redirector: Redirector) -> None:
    """A code whose link is fresh in this process's cache redirects without routing
    (finews/core/hot.py); any other request for these paths takes its route below."""

    def coded(prefix: str, qr: bool) -> Answer:
        """`/s/CODE` or `/S/CODE`: the code is the rest of the path."""
        route = prefix + "{code}"

        def answer(request: web.Request) -> tuple[web.StreamResponse, str] | None:
            response = redirector.hot(request, request.path[len(prefix) :], qr=qr)
            return None if response is None else (response, route)

        return answer

    def legacy(request: web.Request) -> tuple[web.StreamResponse, str] | None:
        if request.path != paths.LEGACY:
            return None
        raw = request.query.get(paths.LEGACY_PARAMETER, "")
        response = redirector.hot(request, raw, qr=False)
        return None if response is None else (response, paths.LEGACY)

    answers.add(paths.SHORT, coded(paths.SHORT, qr=False))
    answers.add(paths.SCANNED, coded(paths.SCANNED, qr=True))
    answers.add(paths.LEGACY[: paths.LEGACY.index("/", 1) + 1], legacy)


async def service_context(app: web.Application) -> AsyncIterator[None]:
    """Build the service once Redis is up; run the visit writer; flush it on shutdown."""
    service = Service(app[REDIS], app[SETTINGS], app[CLOCK])
    app[SERVICE] = service
    hot_routes(hot.routes(app), service.redirector)
    service.writer.start()
    try:
        yield
    finally:
        await service.writer.close()
        await service.replicas.aclose()


def setup(app: web.Application) -> None:
    """Routes and the service's cleanup context (after finews's Redis context)."""
    app.cleanup_ctx.append(service_context)
    app.router.add_get("/robots.txt", robots)
    app.router.add_get(paths.SHORT + "{code}", short)
    app.router.add_get(paths.SCANNED + "{code}", short)
    app.router.add_get(paths.LEGACY, legacy)
    app.router.add_get(paths.QR + "{name}", qr_code)
    app.router.add_get(pages.STYLE_PATH, pages.stylesheet)
    api.setup(app)
