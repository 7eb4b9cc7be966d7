"""The console's pages. Every change goes through the same functions the JSON API uses
(shortlinks.api's checks, shortlinks.service.Service's changes), so the rules and the
messages cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from feeds import lookup
from feeds.api import feed_report
from finews.console import charts, sessions, users
from finews.console.frame import (
    LOGIN_COOKIE,
    PREFIX,
    ROOT,
    SESSION,
    USER,
    _,
    address,
    login_token,
    page,
    refuse,
    set_cookie,
)
from finews.core import access
from finews.core.appkeys import CLOCK, REDIS, SETTINGS
from finews.core.errors import Problem
from shortlinks import api, boards, codes, listing, paths, timeline
from shortlinks.counting import read_stats
from shortlinks.service import SERVICE, Service
from shortlinks.store import Contended, Deleted, Issued, Link, UrlTaken

SORTS = ("created", "clicks_24h", "clicks")
QR_PRINT = {"png": 20, "svg": 10, "pdf": 10, "eps": 10}  # module size: pixels or points
POSTS_SHOWN = 20
FEED_HOURS = 24  # the feeds page shows how each feed was polled over the last day


def _service(request: web.Request) -> Service:
    return request.config_dict[SERVICE]


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


# -- signing in and out


async def login_form(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    token = login_token()
    response = page(request, "login.html", {"csrf": token, "error": error}, status)
    set_cookie(request, response, LOGIN_COOKIE, token)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    return await login_form(request)


async def login(request: web.Request) -> web.StreamResponse:
    """Sign in, counting the attempt against the name's and the address's limits first."""
    form = await _form(request)
    name, password = form.get("name", "").strip(), form.get("password", "")
    conf, service = request.config_dict[SETTINGS].console, _service(request)
    limiter = service.limiter
    for scope, ident, limit in (
        ("login-name", limiter.key_id(name.casefold()), conf.login_per_name),
        ("login-address", await limiter.address_id(address(request)), conf.login_per_address),
    ):
        wait = await limiter.hit(scope, ident, limit)
        if wait:
            message = _(
                request, "Too many sign-in attempts. Try again in {seconds} s.", seconds=wait
            )
            response = await login_form(request, message, 429)
            response.headers["Retry-After"] = str(wait)
            return response
    user = await users.verify(request.config_dict[REDIS], name, password)
    if user is None:
        return await login_form(request, _(request, "Wrong name or password."), 401)
    session = await sessions.start(
        request.config_dict[REDIS],
        user.name,
        request.config_dict[CLOCK].time(),
        conf.session_seconds,
    )
    response = web.Response(status=303, headers={"Location": f"{PREFIX}/"})
    set_cookie(request, response, sessions.COOKIE, session.token)
    response.del_cookie(LOGIN_COOKIE, path=PREFIX + "/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    await sessions.end(request.config_dict[REDIS], request[SESSION].token)
    response = web.Response(status=303, headers={"Location": f"{PREFIX}/login"})
    response.del_cookie(sessions.COOKIE, path=PREFIX + "/")
    return response


# -- reading


def _hour_labels(service: Service, first: int, last: int) -> list[str]:
    return [
        f"{datetime.fromtimestamp(n * 3600, UTC).astimezone(service.zone):%H:00}"
        for n in range(first, last + 1)
    ]


async def dashboard(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    redis, now = service.store.redis, service.clock.time()
    tops = {
        window: await boards.top(redis, service.store, boards.window_hours(now, window), None, 10)
        for window in boards.WINDOWS
    }
    hours = boards.window_hours(now, "24h")
    per_hour = [await boards.sources(redis, [hour]) for hour in hours]
    totals: dict[str, int] = {}
    for counts in per_hour:
        for name, n in counts.items():
            totals[name] = totals.get(name, 0) + n
    names = sorted(totals, key=lambda name: -totals[name])
    last = int(now // 3600)
    chart = charts.series(
        _(request, "Clicks per hour by source"),
        _hour_labels(service, last - len(hours) + 1, last),
        {name: [counts.get(name, 0) for counts in per_hour] for name in names},
        kind="stacked",
        major_every=3,
    )
    return page(request, "dashboard.html", {"tops": tops, "chart": chart, "totals": totals})


async def links(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    q = request.query.get("q", "").strip()[: api.Q_MAX]
    sort = request.query.get("sort", "created")
    sort = sort if sort in SORTS else "created"
    query = listing.Query(
        q=q,
        sort=sort,
        order="desc",
        cursor=request.query.get("cursor") or None,
        limit=request.config_dict[SETTINGS].console.page_size,
    )
    try:
        result = await service.listing(query)
    except listing.BadCursor:
        return refuse(request, 400, _(request, "This page of the list no longer exists."))
    return page(request, "links.html", {"result": result, "q": q, "sort": sort, "sorts": SORTS})


async def new_page(request: web.Request) -> web.StreamResponse:
    post_q = request.query.get("post_q", "").strip()
    found = lookup.find_posts(request.app[ROOT], post_q, POSTS_SHOWN) if post_q else []
    return page(request, "new.html", {"post_q": post_q, "posts": found})


async def create(request: web.Request) -> web.StreamResponse:
    """A link for a pasted URL or a picked post: the API's checks and limits, the store's
    issue; lands on the link's page."""
    service, form = _service(request), await _form(request)
    data = {"url": form.get("url", "").strip(), "title": form.get("title", "")}
    try:
        request[api.API_KEY] = f"console:{request[USER].name}"  # the creation limit's key
        await api.limit_creation(request, service, 1)
        want = api.parse_create(service, data)
    except Problem as exc:
        return page(
            request, "new.html", {"post_q": "", "posts": [], "error": exc.detail}, exc.status
        )
    [result] = await service.store.issue([want])
    if not isinstance(result, Issued):
        return page(request, "new.html", {"post_q": "", "posts": [], "error": str(result)}, 503)
    done = "created" if result.created else "existing"
    raise web.HTTPSeeOther(f"{PREFIX}/links/{result.link.code}?done={done}")


async def _link_or_404(request: web.Request) -> Link | web.Response:
    raw = request.match_info["code"]
    try:
        code = str(codes.parse(raw))
    except codes.MalformedCode as exc:
        return refuse(request, 404, str(exc))
    link = await _service(request).store.get(code)
    return link if link is not None else refuse(request, 404, codes.unknown_message(code))


async def _link_context(request: web.Request, link: Link) -> dict[str, Any]:
    service = _service(request)
    redis, code = service.store.redis, link.code
    today = service.clock.now(service.zone).date()
    [counts] = await listing.counts(redis, [code], today)
    last = int(service.clock.time() // 3600)
    hourly = await timeline.hourly(redis, code, service.zone, last - 47, last)
    daily = await timeline.daily(
        redis, await read_stats(redis, code, today - timedelta(days=29), today), service.zone
    )
    people, bots = _(request, "People"), _(request, "Bots")
    days = [row["t"][5:10] for row in daily["series"]]
    return {
        "link": link,
        "status": link.gone(service.clock.now()) or "active",
        "counts": counts,
        "share_url": service.share_url(code),
        "short_url": service.short_url(code),
        "qr": {kind: paths.qr(code, kind) + f"?scale={scale}" for kind, scale in QR_PRINT.items()},
        "qr_image": paths.qr(code, "svg"),
        "sources": sorted(daily["totals"]["sources"].items(), key=lambda kv: -kv[1]),
        "devices": daily["totals"]["devices"],
        "hourly_chart": charts.series(
            _(request, "Last 48 hours"),
            _hour_labels(service, last - 47, last),
            {
                people: [row["clicks"] for row in hourly["series"]],
                bots: [row["bots"] for row in hourly["series"]],
            },
            major_every=6,
        ),
        "daily_chart": charts.series(
            _(request, "Last 30 days"),
            days,
            {
                people: [row["clicks"] for row in daily["series"]],
                bots: [row["bots"] for row in daily["series"]],
            },
            kind="bar",
            major_every=5,
        ),
        "sources_chart": charts.shares(_(request, "Sources, 30 days"), daily["totals"]["sources"]),
        "devices_chart": charts.shares(_(request, "Devices, 30 days"), daily["totals"]["devices"]),
    }


DONE = {
    "created": "The share link is ready.",
    "existing": "This URL already had a share link: here it is.",
    "retarget": "The link now leads to the new address.",
    "disable": "The link is disabled: it answers 410.",
    "enable": "The link works again.",
    "expire": "The expiry is set.",
    "delete": "The link is deleted: it answers 410; its statistics are kept.",
    "restore": "The link is restored with its statistics.",
}


async def link_page(request: web.Request) -> web.StreamResponse:
    link = await _link_or_404(request)
    if isinstance(link, web.Response):
        return link
    done = DONE.get(request.query.get("done", ""))
    context = await _link_context(request, link)
    return page(request, "link.html", {**context, "notice": _(request, done) if done else None})


async def _apply(service: Service, link: Link, action: str, form: dict[str, str]) -> Link | None:
    """One change by name, through the API's checks and the service's changes; raises
    Problem with the API's status and message."""
    code = link.code
    if action == "retarget":
        return await service.change(
            code, url=api.target_field(service, form.get("url", "").strip())
        )
    if action in ("disable", "enable"):
        return await service.change(code, disabled=action == "disable")
    if action == "expire":
        text = form.get("expires_at", "").strip()
        when = None
        if text:
            parsed = _local_time(text, service)
            when = api.expiry_field(parsed.isoformat() if parsed else text, service.clock.now())
        return await service.change(code, expires_at=when)
    if action == "delete":
        return link if await service.remove(code) else None
    if action == "restore":
        return await service.restore(code)
    raise Problem(404, "not_found", f"no action {action}")


def _local_time(text: str, service: Service) -> datetime | None:
    """A browser's datetime-local value (no offset) in the site's zone."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=service.zone) if when.tzinfo is None else when


async def act(request: web.Request) -> web.StreamResponse:
    link = await _link_or_404(request)
    if isinstance(link, web.Response):
        return link
    service, action = _service(request), request.match_info["action"]
    try:
        changed = await _apply(service, link, action, await _form(request))
    except Problem as exc:
        status, message = exc.status, exc.detail
    except UrlTaken as exc:
        status, message = 409, str(exc)
    except Contended as exc:
        status, message = 409, str(exc)
    except Deleted as exc:
        status, message = 410, str(exc)
    else:
        if changed is None:
            return refuse(request, 404, codes.unknown_message(link.code))
        raise web.HTTPSeeOther(f"{PREFIX}/links/{link.code}?done={action}")
    fresh = await service.store.get(link.code) or link
    context = await _link_context(request, fresh)
    return page(request, "link.html", {**context, "error": message}, status)


async def feeds_page(request: web.Request) -> web.StreamResponse:
    reports = await feed_report(request.app[ROOT], FEED_HOURS)
    zone = request.config_dict[SETTINGS].zone
    return page(request, "feeds.html", {"reports": reports, "zone": zone, "hours": FEED_HOURS})


# -- admins


def _admin(request: web.Request) -> web.Response | None:
    if request[USER].can("admin"):
        return None
    return refuse(request, 403, _(request, "Only admins manage users and keys."))


async def users_page(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    if refused := _admin(request):
        return refused
    found = await users.all_users(request.config_dict[REDIS])
    context = {"users": found, "roles": users.ROLES, "error": error}
    return page(request, "users.html", context, status)


async def users_change(request: web.Request) -> web.StreamResponse:
    if refused := _admin(request):
        return refused
    form, redis = await _form(request), request.config_dict[REDIS]
    name = form.get("name", "").strip()
    try:
        if form.get("action") == "remove":
            if name == request[USER].name:
                raise users.UserError(_(request, "You cannot remove yourself."))
            await users.remove(redis, name)
        else:
            await users.add(redis, name, form.get("role", ""), form.get("password", ""))
    except users.UserError as exc:
        return await users_page(request, str(exc), 422)
    raise web.HTTPSeeOther(f"{PREFIX}/users")


async def keys_page(
    request: web.Request, made: str | None = None, error: str | None = None, status: int = 200
) -> web.Response:
    if refused := _admin(request):
        return refused
    found = await access.all_keys(request.config_dict[REDIS])
    context = {"keys": found, "scopes": access.SCOPES, "made": made, "error": error}
    return page(request, "keys.html", context, status)


async def keys_change(request: web.Request) -> web.StreamResponse:
    """Make a key (its token shown this once) or revoke one."""
    if refused := _admin(request):
        return refused
    form, redis = await request.post(), request.config_dict[REDIS]
    if form.get("action") == "revoke":
        await access.revoke(redis, str(form.get("id", "")))
        raise web.HTTPSeeOther(f"{PREFIX}/keys")
    name = str(form.get("name", "")).strip()
    scopes = {str(s) for s in form.getall("scope", [])}
    if not name or not scopes:
        return await keys_page(
            request, error=_(request, "Give the key a name and a scope."), status=422
        )
    try:
        token, _key = await access.create(redis, name, scopes, request.config_dict[CLOCK].now())
    except ValueError as exc:
        return await keys_page(request, error=str(exc), status=422)
    return await keys_page(request, made=token)
