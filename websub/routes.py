"""POST /websub: subscription requests (W3C WebSub, section 5.1), checked, then verified later.

A request that cannot succeed is answered at once with a 4xx JSON error naming the field
and the rule; an acceptable one gets 202 and its intent is verified in the background.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from multidict import MultiDictProxy
from redis.exceptions import RedisError
from yarl import URL

from finews.appkeys import REDIS, REDIS_BYTES, SETTINGS
from finews.settings import Settings
from websub.guard import Refused
from websub.hub import Hub, Intent

HUB = web.AppKey("websub_hub", Hub)
FORM = "application/x-www-form-urlencoded"
MODES = ("subscribe", "unsubscribe")
MAX_URL = 2048
MAX_SECRET_BYTES = 200  # the spec: hub.secret MUST be less than 200 bytes


class BadRequest(ValueError):
    """A malformed request; the message names the field."""


def error(status: int, message: str, retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.json_response({"error": message}, status=status, headers=headers)


def field(form: MultiDictProxy[str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise BadRequest(f"{name}: missing")
    if len(value) > MAX_URL or any(c.isspace() or not c.isprintable() for c in value):
        raise BadRequest(f"{name}: longer than {MAX_URL} characters, or holds spaces or "
                         "control characters")
    return value


def topic_problem(topic: str, settings: Settings) -> str | None:
    """Why `topic` is not one of this site's feeds, or None."""
    site = URL(settings.site.url)
    base = site.path.rstrip("/")
    allowed = [base + path for path in settings.websub.topic_paths]
    expected = ", ".join(str(site.with_path(path)) for path in allowed)
    try:
        url = URL(topic)
        same_site = url.is_absolute() and url.origin() == site.origin()
    except ValueError:
        same_site = False
    if not same_site:
        return f"not a feed of this site: expected a URL under {expected}"
    if url.fragment:
        return "must not have a #fragment"
    for path in allowed:
        below = path.endswith("/") and url.path.startswith(path) and url.path != path
        if below or url.path == path and not path.endswith("/"):
            return None
    return f"not a feed of this site: expected a URL under {expected}"


def parse(form: MultiDictProxy[str], settings: Settings, hub: Hub) -> Intent:
    mode = field(form, "hub.mode")
    if mode not in MODES:
        raise BadRequest(f"hub.mode: expected subscribe or unsubscribe, got {mode!r}")
    topic = field(form, "hub.topic")
    problem = topic_problem(topic, settings)
    if problem:
        raise BadRequest(f"hub.topic: {problem}")
    callback = field(form, "hub.callback")
    requested = form.get("hub.lease_seconds", "")
    if requested and not (requested.isascii() and requested.isdigit() and int(requested) > 0):
        raise BadRequest(f"hub.lease_seconds: expected a whole number of seconds above 0, "
                         f"got {requested[:40]!r}")
    secret = form.get("hub.secret", "")
    if len(secret.encode()) >= MAX_SECRET_BYTES:
        raise BadRequest(f"hub.secret: must be shorter than {MAX_SECRET_BYTES} bytes")
    lease = hub.lease(int(requested) if requested else None)
    return Intent(mode, topic, callback, lease, secret)


async def subscribe(request: web.Request) -> web.Response:
    """Check a subscribe/unsubscribe request; 202 and verify it later, or a 4xx saying why."""
    hub = request.app[HUB]
    if request.content_type != FORM:
        return error(415, f"expected a {FORM} body with hub.mode, hub.topic and hub.callback")
    form = await request.post()
    try:
        intent = parse(form, request.app[SETTINGS], hub)  # type: ignore[arg-type]
        started = await hub.admit(intent)
    except BadRequest as exc:
        return error(400, str(exc))
    except Refused as exc:  # the SSRF guard, or the per-address cap
        return error(403, str(exc))
    except RedisError as exc:
        hub.redis_error("subscribe", exc)
        return error(503, "subscriptions are unavailable: Redis is unreachable", 5)
    if not started:
        return error(429, "too many subscriptions waiting for verification; retry later", 30)
    return web.Response(status=202, text="accepted: verification follows\n")


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """Run the hub between the Redis connection's start and its end."""
    hub = Hub(app[SETTINGS], app[REDIS], app[REDIS_BYTES])
    app[HUB] = hub
    try:
        yield
    finally:
        await hub.close()


def setup(app: web.Application) -> None:
    """Register after finews's Redis context: the hub needs app[REDIS] when it starts."""
    app.cleanup_ctx.append(hub_context)
    if app[SETTINGS].websub.enabled:
        app.router.add_post("/websub", subscribe)
