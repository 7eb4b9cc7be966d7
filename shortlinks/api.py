"""The JSON API under /api/links: bearer keys, one JSON error shape, rate-limited creation.

Errors are RFC 9457 problem details (finews.core.errors), `type` ending in the kind:
400 malformed request (malformed_json, malformed_request, bad_parameter, malformed_code),
401 unauthorized, 404 unknown_code, 409 url_taken (a retarget onto a URL that has its
own link), 413 too_large, 422 invalid_field (`errors` lists each field, rule and detail),
429 rate_limited and 503 unavailable (both with Retry-After). Bodies are parsed by
finews.core.strict_json, so no JSON a client sends can fail later as a 500.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from finews.core import strict_json
from finews.core.errors import Problem
from shortlinks import codes, targets
from shortlinks.counting import read_stats
from shortlinks.redirect import client_address
from shortlinks.service import SERVICE, Service
from shortlinks.store import Contended, IssueError, Link, UrlTaken, Want
import contextlib

log = logging.getLogger("finews.shortlinks")

BATCH_MAX = 100
PAGE_MAX = 100
STATS_DAYS_MAX = 366
TITLE_MAX = 500
CREATE_FIELDS = {"url", "date", "prefix", "expires_at", "title"}
PATCH_FIELDS = {"url", "disabled", "expires_at", "title"}

API_KEY = web.RequestKey("api_key", str)
Handler = Callable[[web.Request, Service], Awaitable[web.Response]]


def _too_many(wait: int, what: str) -> Problem:
    return Problem(429, "rate_limited", f"too many {what}; try again in {wait} s", retry_after=wait)


def authenticate(request: web.Request, keys: list[str]) -> str:
    """The caller's key; every configured key is compared in constant time."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # header bytes that are not UTF-8 arrive as surrogate escapes; they match no key
    given = given.strip().encode("utf-8", "surrogateescape")
    matched = ""
    for key in keys:
        if hmac.compare_digest(given, key.encode()):
            matched = key
    if scheme.lower() != "bearer" or not given or not matched:
        reason = (
            "the API is disabled: no api.keys are configured"
            if not keys
            else "send Authorization: Bearer <key> with a valid key"
        )
        raise Problem(
            401, "unauthorized", reason, headers={"WWW-Authenticate": 'Bearer realm="finews"'}
        )
    return matched


def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, run, and turn every failure into problem details."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        try:
            request[API_KEY] = authenticate(request, service.settings.api.keys)
            return await handler(request, service)
        except Problem as exc:
            return exc.response()
        except RedisError as exc:
            log.error("event=api_redis_error path=%s reason=%s", request.path, exc)
            return Problem(503, "unavailable", "storage unavailable", retry_after=1).response()

    return run


async def read_json(request: web.Request, service: Service) -> Any:
    """The request body as JSON, refusing bodies over api_body_max bytes before reading
    them, and documents strict_json refuses (too deep, huge numbers, lone surrogates)."""
    limit = service.settings.shortlinks.api_body_max
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, "too_large", f"request body is over {limit} bytes")
    data = bytearray()
    while chunk := await request.content.read(65536):
        data += chunk
        if len(data) > limit:
            raise Problem(413, "too_large", f"request body is over {limit} bytes")
    conf = service.settings.api
    try:
        return strict_json.loads(
            bytes(data),
            max_depth=conf.json_max_depth,
            max_number_length=conf.json_max_number_length,
        )
    except strict_json.JsonRefused as exc:
        raise exc.problem() from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Problem(400, "malformed_request", f"{what} must be a JSON object")
    return value


def _invalid(field: str, rule: str, detail: str) -> Problem:
    """422 naming the field and the rule it broke."""
    return Problem(
        422,
        "invalid_field",
        f"{field}: {detail}",
        errors=[{"field": field, "rule": rule, "detail": detail}],
    )


def _unknown_fields(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _invalid(
            unknown[0], "unknown_field", f"unknown field; known: {', '.join(sorted(allowed))}"
        )


def _target(service: Service, value: Any) -> str:
    try:
        return targets.check(value, service.hosts)
    except targets.TargetError as exc:
        raise _invalid("url", exc.rule, str(exc)) from None


def _expiry(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
        if when is not None and when.tzinfo is not None:
            when.astimezone(UTC)  # years 1 and 9999 can leave the calendar in UTC
    except (ValueError, OverflowError):
        when = None
    if when is None or when.tzinfo is None:
        raise _invalid(
            "expires_at",
            "iso8601",
            "expected an ISO 8601 time with offset, e.g. 2026-12-31T23:59:59+08:00, or null",
        )
    if when <= now:
        raise _invalid("expires_at", "future", "is in the past")
    return when


def _title(value: Any) -> str:
    if not isinstance(value, str) or len(value) > TITLE_MAX:
        raise _invalid("title", "string", f"expected a string of at most {TITLE_MAX} characters")
    return value


def parse_create(service: Service, data: Any) -> Want:
    data = _object(data, "a link")
    _unknown_fields(data, CREATE_FIELDS)
    day = None
    if data.get("date") is not None:
        with contextlib.suppress(ValueError):
            day = date.fromisoformat(data["date"]) if isinstance(data["date"], str) else None
        if day is None:
            raise _invalid("date", "date", "expected a real date YYYY-MM-DD")
        try:
            codes.check_day(day)
        except codes.DayOutOfRange as exc:
            raise _invalid("date", "year", str(exc)) from None
    prefix = data.get("prefix")
    problem = None if prefix is None else codes.prefix_problem(prefix)
    if problem:
        raise _invalid("prefix", "pattern", problem)
    try:
        return service.want(
            data.get("url"),
            day=day,
            prefix=prefix,
            title=_title(data.get("title", "")),
            expires_at=_expiry(data.get("expires_at"), service.clock.now()),
        )
    except targets.TargetError as exc:
        raise _invalid("url", exc.rule, str(exc)) from None


def link_json(service: Service, link: Link) -> dict[str, Any]:
    return {
        "code": link.code,
        "short_url": service.short_url(link.code),
        "share_url": service.share_url(link.code),
        "qr_svg": service.qr_url(link.code),
        "qr_png": service.qr_url(link.code, "png"),
        "target": link.url,
        "title": link.title,
        "created_at": link.created_at.isoformat(),
        "disabled": link.disabled,
        "expires_at": link.expires_at.isoformat() if link.expires_at else None,
        "status": link.gone(service.clock.now()) or "active",
    }


async def _limit_creation(request: web.Request, service: Service, n: int) -> None:
    conf, limiter = service.settings.shortlinks, service.limiter
    address = client_address(request, service.settings.server.trust_forwarded)
    for scope, ident, limit in (
        ("create-key", limiter.key_id(request[API_KEY]), conf.rate_create_per_key),
        ("create-address", await limiter.address_id(address), conf.rate_create_per_address),
    ):
        wait = await limiter.hit(scope, ident, limit, n)
        if wait:
            raise _too_many(wait, "links created")


def _code(request: web.Request) -> str:
    try:
        return str(codes.parse(request.match_info["code"]))
    except codes.MalformedCode as exc:
        raise Problem(400, "malformed_code", str(exc)) from None


def _unknown(code: str) -> Problem:
    return Problem(404, "unknown_code", codes.unknown_message(code))


async def _existing(service: Service, code: str) -> Link:
    link = await service.store.get(code)
    if link is None:
        raise _unknown(code)
    return link


@endpoint
async def create(request: web.Request, service: Service) -> web.Response:
    data = await read_json(request, service)
    await _limit_creation(request, service, 1)
    [result] = await service.store.issue([parse_create(service, data)])
    if isinstance(result, IssueError):
        raise Problem(503, "unavailable", str(result))
    return web.json_response(link_json(service, result.link), status=201 if result.created else 200)


@endpoint
async def create_batch(request: web.Request, service: Service) -> web.Response:
    data = _object(await read_json(request, service), "body")
    items = data.get("links")
    if not isinstance(items, list) or not 1 <= len(items) <= BATCH_MAX:
        raise _invalid("links", "count", f"expected a list of 1 to {BATCH_MAX} links")
    await _limit_creation(request, service, len(items))
    results: list[dict[str, Any] | None] = [None] * len(items)
    wants: list[tuple[int, Want]] = []
    for index, item in enumerate(items):
        try:
            wants.append((index, parse_create(service, item)))
        except Problem as exc:
            results[index] = {"index": index, **exc.body()}
    issued = await service.store.issue([want for _, want in wants])
    for (index, _), result in zip(wants, issued, strict=False):
        if isinstance(result, IssueError):
            results[index] = {"index": index, **Problem(503, "unavailable", str(result)).body()}
        else:
            results[index] = {
                "index": index,
                "status": 201 if result.created else 200,
                "link": link_json(service, result.link),
            }
    return web.json_response({"results": results})


@endpoint
async def show(request: web.Request, service: Service) -> web.Response:
    return web.json_response(link_json(service, await _existing(service, _code(request))))


@endpoint
async def change(request: web.Request, service: Service) -> web.Response:
    code = _code(request)
    data = _object(await read_json(request, service), "body")
    _unknown_fields(data, PATCH_FIELDS)
    changes: dict[str, Any] = {}
    if "url" in data:
        changes["url"] = _target(service, data["url"])
    if "disabled" in data:
        if not isinstance(data["disabled"], bool):
            raise _invalid("disabled", "boolean", "expected true or false")
        changes["disabled"] = data["disabled"]
    if "expires_at" in data:
        changes["expires_at"] = _expiry(data["expires_at"], service.clock.now())
    if "title" in data:
        changes["title"] = _title(data["title"])
    try:
        link = await service.store.update(code, **changes)
    except UrlTaken as exc:
        raise Problem(409, "url_taken", str(exc), code=exc.code) from None
    except Contended as exc:
        raise Problem(409, "edit_conflict", str(exc), retry_after=1) from None
    if link is None:
        raise _unknown(code)
    service.redirector.forget(code)
    return web.json_response(link_json(service, link))


@endpoint
async def remove(request: web.Request, service: Service) -> web.Response:
    code = _code(request)
    if not await service.store.delete(code):
        raise _unknown(code)
    service.redirector.forget(code)
    return web.Response(status=204)


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Problem(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}")
    return value


@endpoint
async def listing(request: web.Request, service: Service) -> web.Response:
    limit = _query_int(request, "limit", 50, 1, PAGE_MAX)
    cursor = request.query.get("cursor") or None
    if cursor is not None:
        try:
            codes.parse(cursor)
        except codes.MalformedCode:
            raise Problem(400, "bad_parameter", "cursor must be a next_cursor value") from None
    links, after = await service.store.page(cursor, limit)
    return web.json_response(
        {"links": [link_json(service, link) for link in links], "next_cursor": after}
    )


def _query_date(request: web.Request, name: str, default: date) -> date:
    text = request.query.get(name)
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Problem(400, "bad_parameter", f"{name} must be a date YYYY-MM-DD") from None


@endpoint
async def stats(request: web.Request, service: Service) -> web.Response:
    code = _code(request)
    await _existing(service, code)
    last = _query_date(request, "to", service.clock.now(service.zone).date())
    try:
        month_before = last - timedelta(days=29)
    except OverflowError:  # `to` in the first days of year 1
        month_before = date.min
    first = _query_date(request, "from", month_before)
    if first > last or (last - first).days >= STATS_DAYS_MAX:
        raise Problem(
            400,
            "bad_parameter",
            f"from must not be after to, and the range at most {STATS_DAYS_MAX} days",
        )
    return web.json_response(await read_stats(service.store.redis, code, first, last))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/links", create)
    app.router.add_get("/api/links", listing)
    app.router.add_post("/api/links/batch", create_batch)
    app.router.add_get("/api/links/{code}", show)
    app.router.add_patch("/api/links/{code}", change)
    app.router.add_delete("/api/links/{code}", remove)
    app.router.add_get("/api/links/{code}/stats", stats)
