"""The hot path: share code in, redirect out, with at most one Redis read.

Each process keeps recently used links in a small LRU cache whose entries live a few
seconds (`shortlinks.cache_ttl`), so a popular article costs no Redis round trip at all,
and a retarget or disable made elsewhere shows within that time. The target is checked
again when a link enters the cache: a bad target that reached Redis answers 410 and is
logged, it never redirects. Counting is a queue append; the writer does the rest later.
A click's query string is passed on to the target (shortlinks.forward) unless the link
says `forward_query: false`.

Concurrent requests for one uncached code share one Redis read. When Redis fails or
stalls (`redis.command_timeout`), the process's breaker opens: a known link then
redirects from memory at once (its last known target beats a 503), and a background read
every `redis.breaker_interval` finds out when Redis is back.

Unknown and malformed codes are rate limited per client address (scanning for codes);
an address over the limit is also remembered in the process. Only those answers are
limited: a known code redirects whoever asks, since readers behind carrier NAT share one
address with whoever scans.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import hdrs, web
from cachetools import LRUCache
from multidict import CIMultiDict
from redis.exceptions import RedisError

from finews.core.breaker import BreakerOpen
from finews.core.canned import Canned
from finews.core.metrics import REDIS_ERRORS
from finews.core.redis_client import UNREACHABLE
from shortlinks import codes, pages, targets
from shortlinks.forward import forward
from shortlinks.metrics import REDIRECTS
from shortlinks.visits import Visit, prefetch

if TYPE_CHECKING:
    from finews.core.breaker import Breaker
    from finews.core.clock import Clock
    from finews.core.settings import Settings
    from shortlinks.counting import VisitWriter
    from shortlinks.limits import RateLimiter
    from shortlinks.store import LinkStore

log = logging.getLogger("finews.shortlinks")

BLOCKED_MAX = 10_000
PERMANENT = {301, 308}


@dataclass(frozen=True, slots=True)
class Entry:
    code: str
    location: str | None  # None: the stored target is not allowed
    disabled: bool
    expires: float | None  # epoch seconds
    forward_query: bool = True


def client_address(request: web.Request, trust_forwarded: bool) -> str:
    """The client's address; behind a trusted proxy, the last X-Forwarded-For hop."""
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.remote or "-"


class Redirector:
    """Given only what a redirect needs (not the whole service, which builds it)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: LinkStore,
        writer: VisitWriter,
        limiter: RateLimiter,
        breaker: Breaker,
        hosts: frozenset[str],
        home: str,
        clock: Clock,
    ) -> None:
        conf = settings.shortlinks
        self.clock = clock
        self.store, self.writer, self.limiter = store, writer, limiter
        self.hosts, self.home = hosts, home
        # code -> (monotonic time read, entry): fresh for cache_ttl, kept (LRU) beyond it
        # so that a known link still redirects while Redis is unreachable.
        self.cache: LRUCache[str, tuple[float, Entry]] = LRUCache(conf.cache_size)
        # (raw code, method) -> the entry and its redirect, serialised (finews/core/canned.py)
        self.canned: LRUCache[tuple[str, str], tuple[Entry, Canned]] = LRUCache(conf.cache_size)
        self.ttl = conf.cache_ttl
        self.status = conf.redirect_status
        self.counted = REDIRECTS.labels(str(self.status))
        self.trust_forwarded = settings.server.trust_forwarded
        self.scan_limit = conf.rate_scan_per_address
        self.lang = settings.site.language
        cache_control = (
            conf.cache_control_permanent
            if self.status in PERMANENT
            else conf.cache_control_temporary
        )
        # a CIMultiDict: aiohttp copies it into each response faster than it builds one
        self.headers = CIMultiDict(
            {
                "Cache-Control": cache_control,
                "Referrer-Policy": conf.referrer_policy,
                "X-Robots-Tag": "noindex",
                "X-Content-Type-Options": "nosniff",
            }
        )
        self.blocked: dict[str, float] = {}  # address -> monotonic time it may come back
        self.breaker = breaker
        self.reading: dict[str, asyncio.Task[Entry | None]] = {}  # raw code -> its one read

    def forget(self, code: str) -> None:
        """Drop a changed link from this process's cache."""
        self.cache.pop(code, None)

    def fresh(self, raw: str) -> Entry | None:
        """The cached entry while it is fresh: the hot path, with no coroutine and no Redis."""
        cached = self.cache.get(raw)
        if cached is not None and self.clock.monotonic() - cached[0] < self.ttl:
            return cached[1]
        return None

    async def lookup(self, raw: str) -> Entry | None:
        """The link for a code, from Redis unless the breaker is open and the link known.
        Raises MalformedCode, and RedisError when Redis cannot answer for an unknown link."""
        code = str(codes.parse(raw))
        cached = self.cache.get(raw)
        if cached is not None and not self.breaker.closed:
            if self.breaker.allow():  # probe (and refresh) in the background
                self.read(raw, code)
            return cached[1]
        if not self.breaker.allow():
            raise BreakerOpen(f"Redis failed within {self.breaker.interval:g}s")
        # Shielded: a client that goes away does not cancel the read others wait for.
        return await asyncio.shield(self.read(raw, code))

    def read(self, raw: str, code: str) -> asyncio.Task[Entry | None]:
        """The one read of `code` in flight, started if none is."""
        task = self.reading.get(raw)
        if task is None:
            task = asyncio.ensure_future(self._read(raw, code))
            self.reading[raw] = task
            task.add_done_callback(lambda done: self._read_done(raw, done))
        return task

    def _read_done(self, raw: str, task: asyncio.Task[Entry | None]) -> None:
        del self.reading[raw]
        if not task.cancelled():
            task.exception()  # retrieved: a background read may have had no one awaiting it

    async def _read(self, raw: str, code: str) -> Entry | None:
        """One Redis read; the stale cached entry when Redis is unreachable."""
        try:
            link = await self.store.get(code)
        except UNREACHABLE as exc:
            self.breaker.failed(f"{type(exc).__name__}:{exc}")
            REDIS_ERRORS.labels("shortlinks").inc()
            cached = self.cache.get(raw)
            if cached is None:
                raise
            return cached[1]
        self.breaker.succeeded()
        if link is None:
            self.cache.pop(raw, None)  # deleted: never answered from memory again
            return None
        try:
            location: str | None = targets.location_header(targets.check(link.url, self.hosts))
        except targets.TargetError as exc:
            log.error("event=redirect_blocked code=%s rule=%s reason=%s", code, exc.rule, exc)
            location = None
        entry = Entry(
            code,
            location,
            link.disabled or link.deleted_at is not None,
            link.expires_at.timestamp() if link.expires_at else None,
            link.forward_query,
        )
        self.cache[raw] = (self.clock.monotonic(), entry)
        return entry

    def error(
        self,
        request: web.Request,
        status: int,
        kind: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        return pages.error(
            request, status, kind, message, home=self.home, lang=self.lang, headers=headers
        )

    async def handle(self, request: web.Request, raw: str, *, qr: bool) -> web.StreamResponse:
        try:
            entry = self.fresh(raw) or await self.lookup(raw)
        except RedisError as exc:
            log.error("event=redirect_redis_error path=%s reason=%s", request.path, exc)
            return self.error(
                request,
                503,
                "unavailable",
                "share links are unavailable for a moment",
                headers={"Retry-After": "1"},
            )
        except codes.MalformedCode as exc:
            return await self.miss(request, 400, "malformed_code", str(exc))
        if entry is None:
            return await self.miss(request, 404, "unknown_code", codes.unknown_message(raw))
        return self.answer(request, raw, entry, qr)

    def hot(self, request: web.Request, raw: str, qr: bool) -> web.StreamResponse | None:
        """The answer for a code whose link is fresh in the cache, or None (finews/core/hot.py):
        with no coroutine, no routing and no Redis."""
        entry = self.fresh(raw)
        return None if entry is None else self.answer(request, raw, entry, qr)

    def answer(self, request: web.Request, raw: str, entry: Entry, qr: bool) -> web.StreamResponse:
        """The redirect (or 410) for a known link; a GET is counted."""
        if entry.disabled or entry.location is None:
            return self.error(request, 410, "gone", f"share link {raw} is disabled")
        now = self.clock.time()
        if entry.expires is not None and entry.expires <= now:
            return self.error(request, 410, "gone", f"share link {raw} has expired")
        query = request.rel_url.raw_query_string
        if request.method == "GET" and not prefetch(request.headers):
            headers = request.headers
            address = client_address(request, self.trust_forwarded)
            self.writer.record(
                Visit(
                    entry.code,
                    now,
                    address,
                    headers.get(hdrs.USER_AGENT, ""),
                    headers.get(hdrs.REFERER, ""),
                    query,
                    qr,
                )
            )
        self.counted.inc()
        location = forward(entry.location, query) if entry.forward_query else entry.location
        if location != entry.location:  # the click's own query: this redirect only
            response = web.Response(status=self.status, headers=self.headers)
            response.headers["Location"] = location
            return response
        return self.redirect(raw, entry, location, request.method).response(request)

    def redirect(self, raw: str, entry: Entry, location: str, method: str) -> Canned:
        """The redirect to the entry's own location, made once per entry and method."""
        key = (raw, method)
        got = self.canned.get(key)
        if got is None or got[0] is not entry:
            headers = CIMultiDict(self.headers)
            headers["Location"] = location
            got = self.canned[key] = (entry, Canned(self.status, headers, None, method))
        return got[1]

    async def miss(
        self, request: web.Request, status: int, kind: str, message: str
    ) -> web.Response:
        """An unknown or malformed code: count it against the address, then answer. An
        address already over the limit gets 429 without another count in Redis."""
        address = client_address(request, self.trust_forwarded)
        wait = self.blocked.get(address, 0) - self.clock.monotonic()
        if wait > 0:
            return self.too_many(request, wait)
        self.blocked.pop(address, None)
        wait = await self.count_scan(address)
        if wait:
            if len(self.blocked) >= BLOCKED_MAX:
                self.blocked.clear()
            self.blocked[address] = self.clock.monotonic() + wait
            log.warning("event=scan_blocked seconds=%d", wait)
            return self.too_many(request, wait)
        return self.error(request, status, kind, message)

    async def count_scan(self, address: str) -> int:
        """Count one unknown code against the address: the seconds it must wait, or 0.
        Not counted while the breaker is open: a limiter outage must not delay a 404."""
        if not self.breaker.closed:
            return 0
        try:
            limiter = self.limiter
            return await limiter.hit("scan", await limiter.address_id(address), self.scan_limit)
        except Exception as exc:  # nor turn it into a 500
            log.error("event=rate_limit_failed scope=scan reason=%s", exc)
            if isinstance(exc, UNREACHABLE):
                self.breaker.failed(f"{type(exc).__name__}:{exc}")
            return 0

    def too_many(self, request: web.Request, wait: float) -> web.Response:
        seconds = max(1, int(wait + 0.999))
        return self.error(
            request,
            429,
            "rate_limited",
            f"too many unknown share codes; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
