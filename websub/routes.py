"""POST /websub: subscription requests (W3C WebSub, section 5.1), checked, then verified later.

A request that cannot succeed is answered at once with a 4xx in RFC 9457 problem details
(finews.core.errors) whose `errors` name the field and the rule; an acceptable one gets 202
and its intent is verified in the background.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from multidict import MultiDictProxy
from redis.exceptions import RedisError
from yarl import URL

from finews.core.appkeys import CLOCK, REDIS, REDIS_BYTES, SETTINGS
from finews.core.errors import Problem, problem
from finews.core.settings import Settings
from websub.guard import Refused
from websub.hub import AddressFull, Hub, Intent

HUB = web.AppKey("websub_hub", Hub)
FORM = "application/x-www-form-urlencoded"
MODES = ("subscribe", "unsubscribe")
MAX_URL = 2048
MAX_SECRET_BYTES = 200  # the spec: hub.secret MUST be less than 200 bytes
LEASE_DIGITS = 18  # longer leases are clamped to websub.max_lease_seconds anyway
CHARSETS = ("utf-8", "utf8", "us-ascii")


class BadRequest(ValueError):
    """A malformed request: `field` and `rule` name what to fix."""

    def __init__(self, field: str, rule: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field, self.rule, self.detail = field, rule, detail

    def problem(self) -> Problem:
        return Problem(
            400,
            "invalid_field",
            str(self),
            errors=[{"field": self.field, "rule": self.rule, "detail": self.detail}],
        )


def field(form: MultiDictProxy[str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise BadRequest(name, "required", "missing")
    if len(value) > MAX_URL or any(c.isspace() or not c.isprintable() for c in value):
        raise BadRequest(
            name, "text", f"longer than {MAX_URL} characters, or holds spaces or control characters"
        )
    return value


def lease_seconds(requested: str) -> int | None:
    """The lease asked for, None when absent; a number of thousands of digits is simply
    very long (the hub clamps it), never an int() that fails."""
    if not requested:
        return None
    digits = requested.lstrip("0")
    if not (requested.isascii() and requested.isdigit() and digits):
        raise BadRequest(
            "hub.lease_seconds",
            "positive_integer",
            f"expected a whole number of seconds above 0, got {requested[:40]!r}",
        )
    return int(digits) if len(digits) <= LEASE_DIGITS else 10**LEASE_DIGITS


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
        if below or (url.path == path and not path.endswith("/")):
            return None
    return f"not a feed of this site: expected a URL under {expected}"


def parse(form: MultiDictProxy[str], settings: Settings, hub: Hub) -> Intent:
    mode = field(form, "hub.mode")
    if mode not in MODES:
        raise BadRequest("hub.mode", "mode", f"expected subscribe or unsubscribe, got {mode!r}")
    topic = field(form, "hub.topic")
    why = topic_problem(topic, settings)
    if why:
        raise BadRequest("hub.topic", "topic", why)
    callback = field(form, "hub.callback")
    lease = hub.lease(lease_seconds(form.get("hub.lease_seconds", "")))
    secret = form.get("hub.secret", "")
    if len(secret.encode("utf-8", "replace")) >= MAX_SECRET_BYTES:
        raise BadRequest("hub.secret", "length", f"must be shorter than {MAX_SECRET_BYTES} bytes")
    return Intent(mode, topic, callback, lease, secret)


async def subscribe(request: web.Request) -> web.Response:
    """Check a subscribe/unsubscribe request; 202 and verify it later, or a 4xx saying why."""
    hub = request.app[HUB]
    if request.content_type != FORM or (request.charset or "utf-8").lower() not in CHARSETS:
        return problem(
            415,
            "unsupported_media_type",
            f"expected a {FORM} body (UTF-8) with hub.mode, hub.topic and hub.callback",
        )
    try:
        form = await request.post()
    except UnicodeDecodeError as exc:
        return problem(400, "malformed_request", f"the form is not UTF-8: {exc.reason}")
    try:
        intent = parse(form, request.app[SETTINGS], hub)  # type: ignore[arg-type]
        started = await hub.admit(intent)
    except BadRequest as exc:
        return exc.problem().response()
    except AddressFull as exc:
        return problem(403, "address_full", str(exc))
    except Refused as exc:  # the SSRF guard
        return problem(403, "callback_refused", str(exc))
    except RedisError as exc:
        hub.redis_error("subscribe", exc)
        return problem(
            503, "unavailable", "subscriptions are unavailable: Redis is unreachable", retry_after=5
        )
    if not started:
        return problem(
            429,
            "rate_limited",
            "too many subscriptions waiting for verification; retry later",
            retry_after=30,
        )
    return web.Response(status=202, text="accepted: verification follows\n")


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """Run the hub between the Redis connection's start and its end."""
    hub = Hub(app[SETTINGS], app[REDIS], app[REDIS_BYTES], app[CLOCK])
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
