"""The application factory: settings and Redis in, a wired aiohttp app out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

import feeds
import shortlinks
import websub
from finews import console
from finews.core import hot, metrics
from finews.core.appkeys import CLOCK, REDIS, REDIS_BYTES, SETTINGS
from finews.core.clock import SYSTEM, Clock
from finews.core.errors import problem
from finews.core.redis_client import UNREACHABLE, AnyRedis, Limits, connect, redact
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis, supervised
from finews.migrate import migrate

log = logging.getLogger("finews.app")

# Keys only the root reads: the embedded server it started, and this worker's number
# (0 alone; 0..N-1 under `finews serve --workers N`, from FINEWS_WORKER_INDEX).
EMBEDDED: web.AppKey[EmbeddedRedis | None] = web.AppKey("embedded_redis")
WORKER_INDEX = web.AppKey("worker_index", int)
# Registered last: matches any path no other route took (counted as route "unmatched").
UNMATCHED = "/{unmatched:.*}"


async def redis_context(app: web.Application) -> AsyncIterator[None]:
    """Start the embedded server when no URL is set, connect, and undo both on shutdown."""
    settings = app[SETTINGS]
    async with contextlib.AsyncExitStack() as stack:
        url, embedded = settings.redis.url, None
        if not url:
            embedded = await stack.enter_async_context(
                supervised(
                    Path(settings.data.dir),
                    settings.redis.start_timeout,
                    settings.redis.restart_delay,
                )
            )
            url = embedded.url
        log.info("event=redis_connect url=%s embedded=%s", redact(url), embedded is not None)
        app[EMBEDDED] = embedded
        limits = Limits.of(settings.redis)
        app[REDIS] = await connect(url, limits)
        stack.push_async_callback(app[REDIS].aclose)
        app[REDIS_BYTES] = await connect(url, limits, decode_responses=False)
        stack.push_async_callback(app[REDIS_BYTES].aclose)
        try:
            await migrate(app[REDIS])
        except UNREACHABLE as exc:  # serve 503s meanwhile, as for any outage
            log.warning("event=redis_migration_deferred reason=%s", type(exc).__name__)
            retrying = asyncio.create_task(migrate_when_reachable(app[REDIS]))
            stack.callback(retrying.cancel)
        yield


async def migrate_when_reachable(redis: AnyRedis) -> None:
    """Retry the start's migration each second until Redis answers. Until then no command
    reaches Redis; a write in the moment before this runs is never overwritten by it
    (finews/core/rekey.py keeps both and logs the conflict)."""
    while True:
        await asyncio.sleep(1.0)
        try:
            await migrate(redis)
            return
        except UNREACHABLE:
            continue


def guarded(
    handler: Handler, route: str
) -> Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]:
    """`handler` timed and counted under `route`, with an unreachable Redis as 503 +
    Retry-After.

    Readers and crawlers retry on 503 with Retry-After; a 500 reads as a broken site. A
    wrapper per route, not a middleware: with any middleware aiohttp runs its own wrapper
    chain on every request too, which cost about a tenth of a redirect's time; and the
    route pattern is known here once rather than looked up per request.
    """
    stats = metrics.HTTP

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except UNREACHABLE as exc:
            log.warning(
                "event=redis_unavailable path=%s error=%s", request.path, type(exc).__name__
            )
            metrics.REDIS_ERRORS.labels("request").inc()
            status = 503
            return problem(
                503, "unavailable", "storage is unreachable, retry shortly", retry_after=5
            )
        except asyncio.CancelledError:
            status = 499  # the client went away before the answer
            raise
        finally:
            stats.observe(route, metrics.method(request), status, time.perf_counter() - start)

    return run


async def unmatched(request: web.Request) -> web.StreamResponse:
    """What aiohttp answers when no route matches (404, or 405 naming the allowed
    methods), as a route of its own so that these requests are counted too."""
    allowed: set[str] = set()
    itself = request.match_info.route.resource
    for resource in request.app.router.resources():
        if resource is not itself:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


async def guard_routes(app: web.Application) -> None:
    """Add the catch-all `unmatched` route, wrap every route's handler in `guarded`, and
    put the hot routes (finews/core/hot.py) in front of the router: once, at startup (the
    router is frozen and the request handler read just after), so that a route added to
    the app after create_app is guarded too.

    aiohttp has no public way to wrap a registered route or the router (only middlewares,
    see above), so this sets the route's handler attribute and the application's request
    handler; were either renamed, the app fails at start rather than requests silently
    going uncounted or the hot routes unused."""
    catch_all = app.router.add_route("*", UNMATCHED, unmatched).resource
    for resource in app.router.resources():
        name = "unmatched" if resource is catch_all else resource.canonical
        for route in resource:
            if not hasattr(route, "_handler"):
                raise RuntimeError("aiohttp's ResourceRoute changed: cannot wrap its handler")
            route._handler = guarded(route.handler, name)
    if not callable(getattr(app, "_handle", None)):
        raise RuntimeError("aiohttp's Application changed: cannot put the hot routes first")
    # read by the runner right after startup (Application._make_handler)
    app._handle = hot.routes(app).dispatch(app._handle)  # type: ignore[method-assign,assignment]


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers; pid and worker tell workers apart."""
    return web.json_response(
        {"status": "ok", "pid": os.getpid(), "worker": request.app[WORKER_INDEX]}
    )


async def readyz(request: web.Request) -> web.Response:
    """Redis answers PING: the service can do its work; else 503 problem details."""
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), timeout=2.0)
    except Exception as exc:  # any failure to reach Redis means not ready
        metrics.REDIS_ERRORS.labels("readyz").inc()
        reason = f"redis: {type(exc).__name__}: {exc}".strip(": ")
        return problem(503, "unavailable", reason, retry_after=1)
    return web.json_response({"status": "ok"})


def create_app(
    settings: Settings, worker_index: int = 0, clock: Clock | None = None
) -> web.Application:
    """The app; `worker_index` is this process's number under `serve --workers` (0 alone);
    `clock` is where every feature reads the time (the system clock unless a test gives
    a FrozenClock)."""
    app = web.Application()
    if worker_index > 0 and settings.feeds.role == "builder":  # worker 0 builds; auto elects
        settings = settings.replace(feeds__role="follower")
    app[SETTINGS] = settings
    app[WORKER_INDEX] = worker_index
    app[CLOCK] = clock or SYSTEM
    app.cleanup_ctx.append(redis_context)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    metrics.setup(app)
    shortlinks.setup(app)
    websub.setup(app)
    feeds.setup(
        app,
        share_links=shortlinks.post_share_links,
        on_change=websub.notify,
        subscribers=websub.subscriber_counts,
    )
    console.setup(app)
    app.on_startup.append(guard_routes)
    return app
