"""The share-link service of one process: store, redirect cache, visit writer, limits."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from finews.core.breaker import Breaker
from finews.core.clock import SYSTEM, Clock
from finews.core.redis_client import AnyRedis
from finews.core.settings import Settings
from shortlinks import boards, events, listing, paths, targets
from shortlinks.counting import Keep, Salts, VisitWriter
from shortlinks.limits import RateLimiter
from shortlinks.redirect import Redirector
from shortlinks.replicas import Replicas
from shortlinks.store import Link, LinkStore, Want

log = logging.getLogger("finews.shortlinks")


class Service:
    def __init__(self, redis: AnyRedis, settings: Settings, clock: Clock = SYSTEM) -> None:
        conf = settings.shortlinks
        self.settings = settings
        self.clock = clock
        self.site: str = settings.site.url.rstrip("/")
        self.zone = settings.zone
        self.prefix = conf.prefix
        self.hosts = targets.allowed_hosts(settings.site.url, conf.allowed_hosts)
        self.replicas = Replicas(redis, conf.replica_wait)
        self.store = LinkStore(
            redis, self.zone, attempts=conf.claim_attempts, clock=clock, replicas=self.replicas
        )
        self.salts = Salts(redis)
        # this process's, for redirects
        self.breaker = Breaker(settings.redis.breaker_interval, clock.monotonic)
        self.limiter = RateLimiter(redis, self.salts, self.zone, conf.rate_window, clock)
        self.writer = VisitWriter(
            redis,
            self.salts,
            self.zone,
            (urlsplit(self.site).hostname or "").lower(),
            window=conf.repeat_window,
            batch=conf.visit_batch,
            interval=conf.visit_flush_interval,
            max_pending=conf.visit_queue_max,
            sources_max=conf.sources_max,
            keep=Keep(
                hourly_days=conf.hourly_days,
                retention_days=conf.retention_days,
                events_max=conf.events_max,
                events_days=conf.events_days,
            ),
        )
        self.redirector = Redirector(
            settings,
            store=self.store,
            writer=self.writer,
            limiter=self.limiter,
            breaker=self.breaker,
            hosts=self.hosts,
            home=self.home(),
            clock=clock,
        )

    def home(self) -> str:
        return self.site + "/"

    def short_url(self, code: str) -> str:
        return self.site + paths.short(code)

    def share_url(self, code: str) -> str:
        """The public share URL: the legacy form already printed and shared for years."""
        return self.site + paths.legacy(code)

    def qr_url(self, code: str, kind: str = "svg") -> str:
        return self.site + paths.qr(code, kind)

    def qr_text(self, code: str) -> str:
        """What the QR code holds: `HTTPS://HOST/S/CODE`, all upper case, so it encodes in
        QR's alphanumeric mode (a smaller symbol) and the `/S/` path marks a scan. A site
        path with lower-case letters keeps its case (paths are case-sensitive): then only
        scheme and host are upper-cased and the symbol is in byte mode."""
        parts = urlsplit(self.site)
        if parts.path == parts.path.upper():
            return (self.site + paths.scanned(code)).upper()
        return f"{parts.scheme}://{parts.netloc}".upper() + parts.path + paths.scanned(code)

    def want(
        self,
        url: str,
        *,
        day: date | None = None,
        prefix: str | None = None,
        title: str = "",
        expires_at: datetime | None = None,
        origin: str = "api",
        legacy: str | None = None,
        forward_query: bool = True,
        summary: str = "",
    ) -> Want:
        """A checked request for a link; raises targets.TargetError."""
        return Want(
            url=targets.check(url, self.hosts),
            day=day or self.clock.now(self.zone).date(),
            prefix=prefix or self.prefix,
            title=title,
            expires_at=expires_at,
            origin=origin,
            legacy=legacy,
            forward_query=forward_query,
            summary=summary,
        )

    # The changes every caller (the API, the console) makes the same way: the store's
    # rules, then this process's redirect cache forgets the code.

    async def change(self, code: str, **changes: Any) -> Link | None:
        """Change url, title, disabled, expires_at or forward_query; None for no such
        link. Raises store.UrlTaken, store.Contended and store.Deleted."""
        link = await self.store.update(code, **changes)
        if link is not None:
            self.redirector.forget(code)
        return link

    async def remove(self, code: str, *, purge: bool = False) -> bool:
        """Soft delete (410, statistics kept for shortlinks.retention_days), or erase
        everything with `purge`; whether there was such a link."""
        if purge:
            found = await self.store.purge(code)
            if found:
                held = await boards.forget(self.store.redis, code)
                deleted = await events.forget(self.store.redis, code)
                log.info("event=link_purged_site code=%s boards=%d events=%d", code, held, deleted)
        else:
            days = self.settings.shortlinks.retention_days
            found = await self.store.delete(code, days * 86400) is not None
        if found:
            self.redirector.forget(code)
        return found

    async def restore(self, code: str) -> Link | None:
        link = await self.store.restore(code)
        if link is not None:
            self.redirector.forget(code)
        return link

    async def listing(self, query: listing.Query) -> listing.Result:
        """A page of links with their counts (GET /api/links, the console's list). Raises
        listing.BadCursor."""
        return await listing.listing(
            self.store,
            query,
            scan_max=self.settings.shortlinks.list_scan_max,
            today=self.clock.now(self.zone).date(),
        )

    async def top(self, window: str, source: str | None, limit: int) -> list[dict[str, Any]]:
        """The most clicked links of a window (one of boards.WINDOWS) ending now: what
        `GET /api/top` and `finews links top` answer."""
        hours = boards.window_hours(self.clock.time(), window)
        return await boards.top(self.store.redis, self.store, hours, source, limit)


SERVICE = web.AppKey("shortlinks", Service)
