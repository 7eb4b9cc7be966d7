"""The JSON API under /api/links: bearer keys, one JSON error shape, rate-limited creation.

Errors are RFC 9457 problem details (finews.core.errors), `type` ending in the kind:
400 malformed request (malformed_json, malformed_request, bad_parameter, malformed_code),
401 unauthorized, 403 forbidden (a console-made key without the scope the call needs),
404 unknown_code, 409 url_taken (a retarget onto a URL that has its own link),
410 deleted (a change to a deleted link: restore it first), 413 too_large,
422 invalid_field (`errors` lists each field, rule and detail), 429 rate_limited and
503 unavailable (both with Retry-After). Bodies are parsed by
finews.core.strict_json, so no JSON a client sends can fail later as a 500.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from redis.exceptions import RedisError

from finews.core import access, strict_json
from finews.core.errors import Problem
from shortlinks import boards, codes, events, listing, targets, timeline
from shortlinks.counting import read_stats
from shortlinks.redirect import client_address
from shortlinks.service import SERVICE, Service
from shortlinks.store import Contended, Deleted, Issued, Link, NotIssued, UrlTaken, Want

log = logging.getLogger("finews.shortlinks")

BATCH_MAX = 100
PAGE_MAX = 100
STATS_DAYS_MAX = 366
EVENTS_PAGE_MAX = 1000
SOURCE_RE = re.compile(r"[a-z0-9.-]{1,40}")
TITLE_MAX = 500
CREATE_FIELDS = {"url", "date", "prefix", "expires_at", "title", "forward_query"}
PATCH_FIELDS = {"url", "disabled", "expires_at", "title", "forward_query"}
LIST_PARAMETERS = {"limit", "cursor", "q", "sort", "order"}
Q_MAX = 200

API_KEY = web.RequestKey("api_key", str)
Handler = Callable[[web.Request, Service], Awaitable[web.Response]]


def _too_many(wait: int, what: str) -> Problem:
    return Problem(429, "rate_limited", f"too many {what}; try again in {wait} s", retry_after=wait)


def required_scope(request: web.Request) -> str:
    """The scope a stored key (finews.core.access) needs for this request."""
    if request.method not in ("GET", "HEAD"):
        return "links:write"
    if request.path.startswith("/api/links") and not request.path.endswith("/stats"):
        return "links:read"
    return "stats:read"


def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Authenticate, run, and turn every failure into problem details."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.Response:
        service = request.app[SERVICE]
        try:
            request[API_KEY] = await access.authorize(
                request, service.store.redis, service.settings.api.keys, required_scope(request)
            )
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


def target_field(service: Service, value: Any) -> str:
    try:
        return targets.check(value, service.hosts)
    except targets.TargetError as exc:
        raise _invalid("url", exc.rule, str(exc)) from None


def expiry_field(value: Any, now: datetime) -> datetime | None:
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


def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise _invalid(name, "boolean", "expected true or false")
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
            expires_at=expiry_field(data.get("expires_at"), service.clock.now()),
            forward_query=_flag(data, "forward_query", True),
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
        "forward_query": link.forward_query,
    }


async def limit_creation(request: web.Request, service: Service, n: int) -> None:
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
    await limit_creation(request, service, 1)
    want = parse_create(service, data)
    [result] = await service.store.issue([want])
    if isinstance(result, NotIssued):
        raise Problem(503, "unavailable", str(result))
    return web.json_response(
        _issued_json(service, result, data, want), status=201 if result.created else 200
    )


def ignored(data: dict[str, Any], want: Want, link: Link) -> list[str]:
    """The fields of a create request that the URL's existing link does not have: a create
    never changes a link (PATCH does), so they are named rather than silently dropped."""
    code = codes.parse(link.code)
    differs = {
        "title": want.title != link.title,
        "expires_at": want.expires_at != link.expires_at,
        "prefix": want.prefix != code.prefix,
        "date": want.day != code.day,
    }
    return [name for name, different in differs.items() if name in data and different]


def _issued_json(service: Service, result: Issued, data: Any, want: Want) -> dict[str, Any]:
    body = link_json(service, result.link)
    if not result.created:
        body["ignored"] = ignored(data, want, result.link)
    return body


@endpoint
async def create_batch(request: web.Request, service: Service) -> web.Response:
    data = _object(await read_json(request, service), "body")
    items = data.get("links")
    if not isinstance(items, list) or not 1 <= len(items) <= BATCH_MAX:
        raise _invalid("links", "count", f"expected a list of 1 to {BATCH_MAX} links")
    await limit_creation(request, service, len(items))
    results: list[dict[str, Any] | None] = [None] * len(items)
    wants: list[tuple[int, Want]] = []
    for index, item in enumerate(items):
        try:
            wants.append((index, parse_create(service, item)))
        except Problem as exc:
            results[index] = {"index": index, **exc.body()}
    issued = await service.store.issue([want for _, want in wants])
    for (index, want), result in zip(wants, issued, strict=False):
        if isinstance(result, NotIssued):
            results[index] = {"index": index, **Problem(503, "unavailable", str(result)).body()}
        else:
            results[index] = {
                "index": index,
                "status": 201 if result.created else 200,
                "link": _issued_json(service, result, items[index], want),
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
        changes["url"] = target_field(service, data["url"])
    if "disabled" in data:
        if not isinstance(data["disabled"], bool):
            raise _invalid("disabled", "boolean", "expected true or false")
        changes["disabled"] = data["disabled"]
    if "expires_at" in data:
        changes["expires_at"] = expiry_field(data["expires_at"], service.clock.now())
    if "title" in data:
        changes["title"] = _title(data["title"])
    if "forward_query" in data:
        changes["forward_query"] = _flag(data, "forward_query", True)
    try:
        link = await service.change(code, **changes)
    except UrlTaken as exc:
        raise Problem(409, "url_taken", str(exc), code=exc.code) from None
    except Contended as exc:
        raise Problem(409, "edit_conflict", str(exc), retry_after=1) from None
    except Deleted as exc:
        raise Problem(410, "deleted", str(exc)) from None
    if link is None:
        raise _unknown(code)
    return web.json_response(link_json(service, link))


@endpoint
async def remove(request: web.Request, service: Service) -> web.Response:
    """Soft delete (410, statistics kept for shortlinks.retention_days), or with
    `?purge=true` erase the link, its URL binding, all its statistics, its place in the
    leaderboards and its visit events."""
    code = _code(request)
    purge = request.query.get("purge", "false")
    if purge not in ("true", "false") or set(request.query) - {"purge"}:
        raise Problem(400, "bad_parameter", "the only parameter is purge=true|false")
    if not await service.remove(code, purge=purge == "true"):
        raise _unknown(code)
    return web.Response(status=204)


@endpoint
async def restore(request: web.Request, service: Service) -> web.Response:
    code = _code(request)
    link = await service.restore(code)
    if link is None:
        raise _unknown(code)
    return web.json_response(link_json(service, link))


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Problem(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}")
    return value


def _query_choice(request: web.Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    if value not in choices:
        raise Problem(400, "bad_parameter", f"{name} must be one of {', '.join(choices)}")
    return value


def _list_query(request: web.Request) -> listing.Query:
    unknown = sorted(set(request.query) - LIST_PARAMETERS)
    if unknown:
        raise Problem(
            400,
            "bad_parameter",
            f"unknown parameter {unknown[0]}; known: {', '.join(sorted(LIST_PARAMETERS))}",
        )
    sort = _query_choice(request, "sort", listing.SORTS, "code")
    default_order = "desc" if sort.startswith("clicks") else "asc"
    q = request.query.get("q", "").strip()
    if len(q) > Q_MAX:
        raise Problem(400, "bad_parameter", f"q must be at most {Q_MAX} characters")
    return listing.Query(
        q=q,
        sort=sort,
        order=_query_choice(request, "order", listing.ORDERS, default_order),
        cursor=request.query.get("cursor") or None,
        limit=_query_int(request, "limit", 50, 1, PAGE_MAX),
    )


@endpoint
async def listing_handler(request: web.Request, service: Service) -> web.Response:
    """Links with their counts; `q` searches code, URL and title (see shortlinks.listing)."""
    query = _list_query(request)
    if query.cursor is not None and not query.q and query.sort == "code":
        try:
            codes.parse(query.cursor)
        except codes.MalformedCode:
            raise Problem(400, "bad_parameter", "cursor must be a next_cursor value") from None
    try:
        result = await service.listing(query)
    except listing.BadCursor:
        raise Problem(400, "bad_parameter", "cursor must be a next_cursor value") from None
    items = [
        {**link_json(service, item.link), **dataclasses.asdict(item.counts)}
        for item in result.items
    ]
    body: dict[str, Any] = {"links": items, "next_cursor": result.next_cursor}
    if query.q or query.sort != "code":
        body["truncated"] = result.truncated
    return web.json_response(body)


def _query_date(request: web.Request, name: str, default: date) -> date:
    text = request.query.get(name)
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Problem(400, "bad_parameter", f"{name} must be a date YYYY-MM-DD") from None


def _query_time(request: web.Request, name: str, zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 time (a date alone is its midnight in the site's zone)."""
    text = request.query.get(name)
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        when.timestamp()  # years 1 and 9999 can leave the calendar
    except (ValueError, OverflowError):
        raise Problem(
            400, "bad_parameter", f"{name} must be an ISO 8601 time, e.g. 2024-05-24T20:00+08:00"
        ) from None
    return when


async def _hourly_stats(request: web.Request, service: Service, code: str) -> web.Response:
    limit = service.settings.shortlinks.hourly_days * 24
    first, last = timeline.hour_range(
        service.clock.time(),
        _query_time(request, "from", service.zone),
        _query_time(request, "to", service.zone),
    )
    if first > last or last - first >= limit:
        raise Problem(
            400,
            "bad_parameter",
            f"from must not be after to, and an hourly range at most {limit} hours "
            "(shortlinks.hourly_days)",
        )
    return web.json_response(
        await timeline.hourly(service.store.redis, code, service.zone, first, last)
    )


@endpoint
async def stats(request: web.Request, service: Service) -> web.Response:
    code = _code(request)
    await _existing(service, code)
    granularity = request.query.get("granularity", "day")
    if granularity not in ("day", "hour"):
        raise Problem(400, "bad_parameter", "granularity must be hour or day")
    if granularity == "hour":
        return await _hourly_stats(request, service, code)
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
    redis = service.store.redis
    body = await read_stats(redis, code, first, last)
    return web.json_response(await timeline.daily(redis, body, service.zone))


def _window(request: web.Request) -> str:
    window = request.query.get("window", "24h")
    if window not in boards.WINDOWS:
        raise Problem(400, "bad_parameter", f"window must be one of {', '.join(boards.WINDOWS)}")
    return window


@endpoint
async def top(request: web.Request, service: Service) -> web.Response:
    window = _window(request)
    limit = _query_int(request, "limit", 10, 1, PAGE_MAX)
    source = request.query.get("source") or None
    if source is not None and not SOURCE_RE.fullmatch(source):
        raise Problem(400, "bad_parameter", "source must be a source name, e.g. wechat or weibo")
    return web.json_response({"links": await service.top(window, source, limit)})


@endpoint
async def sources(request: web.Request, service: Service) -> web.Response:
    hours = boards.window_hours(service.clock.time(), _window(request))
    return web.json_response({"sources": await boards.sources(service.store.redis, hours)})


@endpoint
async def visits(request: web.Request, service: Service) -> web.Response:
    since = request.query.get("since", "")
    problem = events.cursor_problem(since)
    if problem:
        raise Problem(400, "bad_parameter", problem)
    limit = _query_int(request, "limit", 100, 1, EVENTS_PAGE_MAX)
    found, after = await events.read(service.store.redis, since, limit)
    return web.json_response({"visits": found, "next": after})


def setup(app: web.Application) -> None:
    app.router.add_post("/api/links", create)
    app.router.add_get("/api/links", listing_handler)
    app.router.add_post("/api/links/batch", create_batch)
    app.router.add_get("/api/links/{code}", show)
    app.router.add_patch("/api/links/{code}", change)
    app.router.add_delete("/api/links/{code}", remove)
    app.router.add_post("/api/links/{code}/restore", restore)
    app.router.add_get("/api/links/{code}/stats", stats)
    app.router.add_get("/api/top", top)
    app.router.add_get("/api/sources", sources)
    app.router.add_get("/api/visits", visits)
