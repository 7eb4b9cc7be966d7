"""The hot path: share code in, redirect out, with at most one Redis read.

Each process keeps recently used links in a small LRU cache whose entries live a few
seconds (`shortlinks.cache_ttl`), so a popular article costs no Redis round trip at all,
and a retarget or disable made elsewhere shows within that time. The target is checked
again when a link enters the cache: a bad target that reached Redis answers 410 and is
logged, it never redirects. Counting is a queue append; the writer does the rest later.

Unknown and malformed codes are rate limited per client address (scanning for codes);
an address over the limit is also remembered in the process, so its next requests get
429 without touching Redis.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from cachetools import LRUCache
from redis.exceptions import RedisError

from finews.metrics import REDIRECTS, REDIS_ERRORS
from finews.redis_client import UNREACHABLE
from shortlinks import codes, pages, targets
from shortlinks.visits import Visit, prefetch

if TYPE_CHECKING:
    from shortlinks.service import Service

log = logging.getLogger("finews.shortlinks")

BLOCKED_MAX = 10_000
PERMANENT = {301, 308}


@dataclass(frozen=True, slots=True)
class Entry:
    code: str
    location: str | None     # None: the stored target is not allowed
    disabled: bool
    expires: float | None    # epoch seconds


def client_address(request: web.Request, trust_forwarded: bool) -> str:
    """The client's address; behind a trusted proxy, the last X-Forwarded-For hop."""
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.remote or "-"


class Redirector:
    def __init__(self, service: Service) -> None:
        conf = service.settings.shortlinks
        self.service = service
        # code -> (monotonic time read, entry): fresh for cache_ttl, kept (LRU) beyond it
        # so that a known link still redirects while Redis is unreachable.
        self.cache: LRUCache[str, tuple[float, Entry]] = LRUCache(conf.cache_size)
        self.ttl = conf.cache_ttl
        self.status = conf.redirect_status
        self.counted = REDIRECTS.labels(str(self.status))
        self.trust_forwarded = conf.trust_forwarded
        self.scan_limit = conf.rate_scan_per_address
        self.lang = service.settings.site.language
        cache_control = (conf.cache_control_permanent if self.status in PERMANENT
                         else conf.cache_control_temporary)
        self.headers = {"Cache-Control": cache_control,
                        "Referrer-Policy": conf.referrer_policy,
                        "X-Robots-Tag": "noindex", "X-Content-Type-Options": "nosniff"}
        self.blocked: dict[str, float] = {}   # address -> monotonic time it may come back

    def forget(self, code: str) -> None:
        """Drop a changed link from this process's cache."""
        self.cache.pop(code, None)

    def fresh(self, raw: str) -> Entry | None:
        """The cached entry while it is fresh: the hot path, with no coroutine and no Redis."""
        cached = self.cache.get(raw)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        return None

    async def lookup(self, raw: str) -> Entry | None:
        """One Redis read for a code; the stale cached entry when Redis is unreachable (the
        last known answer beats a 503). Raises MalformedCode."""
        cached = self.cache.get(raw)
        code = str(codes.parse(raw))
        try:
            link = await self.service.store.get(code)
        except UNREACHABLE:
            if cached is None:
                raise
            REDIS_ERRORS.labels("shortlinks").inc()
            return cached[1]
        if link is None:
            return None
        try:
            location: str | None = targets.location_header(
                targets.check(link.url, self.service.hosts))
        except targets.TargetError as exc:
            log.error("event=redirect_blocked code=%s rule=%s reason=%s", code, exc.rule, exc)
            location = None
        entry = Entry(code, location, link.disabled,
                      link.expires_at.timestamp() if link.expires_at else None)
        self.cache[raw] = (time.monotonic(), entry)
        return entry

    def error(self, request: web.Request, status: int, kind: str, message: str,
              headers: dict[str, str] | None = None) -> web.Response:
        return pages.error(request, status, kind, message, home=self.service.home(),
                           lang=self.lang, headers=headers)

    async def handle(self, request: web.Request, raw: str, *, qr: bool) -> web.StreamResponse:
        address = client_address(request, self.trust_forwarded)
        if self.blocked and address in self.blocked:
            wait = self.blocked[address] - time.monotonic()
            if wait > 0:
                return self.too_many(request, wait)
            del self.blocked[address]
        try:
            entry = self.fresh(raw) or await self.lookup(raw)
        except RedisError as exc:
            log.error("event=redirect_redis_error path=%s reason=%s", request.path, exc)
            return self.error(request, 503, "unavailable",
                              "share links are unavailable for a moment",
                              headers={"Retry-After": "1"})
        except codes.MalformedCode as exc:
            return await self.miss(request, address, 400, "malformed_code", str(exc))
        if entry is None:
            return await self.miss(request, address, 404, "unknown_code",
                                   f"no share link has the code {raw}")
        if entry.disabled or entry.location is None:
            return self.error(request, 410, "gone", f"share link {raw} is disabled")
        now = time.time()
        if entry.expires is not None and entry.expires <= now:
            return self.error(request, 410, "gone", f"share link {raw} has expired")
        if request.method == "GET" and not prefetch(request.headers):
            headers = request.headers
            self.service.writer.record(Visit(
                entry.code, now, address, headers.get("User-Agent", ""),
                headers.get("Referer", ""), request.query.get("from", "") if request.query_string
                else "", qr))
        self.counted.inc()
        return web.Response(status=self.status, headers={**self.headers,
                                                         "Location": entry.location})

    async def miss(self, request: web.Request, address: str, status: int, kind: str,
                   message: str) -> web.Response:
        """An unknown or malformed code: count it against the address, then answer."""
        try:
            limiter = self.service.limiter
            wait = await limiter.hit("scan", await limiter.address_id(address), self.scan_limit)
        except Exception as exc:  # a limiter outage must not turn a 404 into a 500
            log.error("event=rate_limit_failed scope=scan reason=%s", exc)
            wait = 0
        if wait:
            if len(self.blocked) >= BLOCKED_MAX:
                self.blocked.clear()
            self.blocked[address] = time.monotonic() + wait
            log.warning("event=scan_blocked seconds=%d", wait)
            return self.too_many(request, wait)
        return self.error(request, status, kind, message)

    def too_many(self, request: web.Request, wait: float) -> web.Response:
        seconds = max(1, int(wait + 0.999))
        return self.error(request, 429, "rate_limited",
                          f"too many unknown share codes; try again in {seconds} s",
                          headers={"Retry-After": str(seconds)})
