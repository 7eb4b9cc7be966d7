"""GET /api/feeds: every feed with its size, items, subscribers and how it is polled.

For operators (bearer key from `api.keys`, as /api/links): one JSON object per feed
document, merging the inventory (feeds/inventory.py), the polling statistics of the last
`hours` hours (feeds/polling.py, `?hours=` 1 up to feeds.poll_stats_days * 24, default 24)
and, when the root wired a counter, the WebSub subscribers of each feed. A path polled
but no longer built (an archive page, a feed whose posts are gone) is listed with its
polling only. Errors are problem details (finews.core.errors).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from feeds.catalog import Site
from feeds.inventory import FeedDocument, inventory
from feeds.polling import FeedPolling, report
from finews.core.appkeys import CLOCK, REDIS, SETTINGS
from finews.core.bearer import authenticate
from finews.core.errors import Problem

log = logging.getLogger("finews.feeds")

# app, absolute topic URLs -> verified WebSub subscribers of each (websub.subscriber_counts)
Subscribers = Callable[[web.Application, Sequence[str]], Awaitable[dict[str, int]]]
SUBSCRIBERS: web.AppKey[Subscribers] = web.AppKey("feeds_subscribers")
DEFAULT_HOURS = 24
TOP_READERS = 10


def _hours(request: web.Request) -> int:
    most = request.app[SETTINGS].feeds.poll_stats_days * 24
    given = request.query.get("hours", str(DEFAULT_HOURS))
    if not (given.isascii() and given.isdigit() and len(given) <= 6 and 1 <= int(given) <= most):
        raise Problem(
            400, "bad_parameter", f"hours must be a whole number from 1 to {most}, got {given!r}"
        )
    return int(given)


async def feeds_view(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    try:
        authenticate(request, settings.api.keys)
        hours = _hours(request)
        docs = {doc.path: doc for doc in inventory(app)}
        polls = await report(app[REDIS], app[CLOCK].time(), hours, TOP_READERS, docs)
        site = Site.from_settings(settings)
        topics = [site.absolute(feed.path) for feed in polls]
        counter = app.get(SUBSCRIBERS)
        subscribers = await counter(app, topics) if counter else {}
    except Problem as exc:
        return exc.response()
    except RedisError as exc:
        log.error("event=api_redis_error path=%s reason=%s", request.path, exc)
        return Problem(503, "unavailable", "storage unavailable", retry_after=1).response()
    feeds = [
        _feed(feed, docs.get(feed.path), subscribers.get(site.absolute(feed.path)))
        for feed in sorted(polls, key=lambda feed: feed.path)
    ]
    return web.json_response(
        {"hours": hours, "feeds": feeds}, headers={"Cache-Control": "no-store"}
    )


def _feed(polls: FeedPolling, doc: FeedDocument | None, subscribers: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"path": polls.path, "subscribers": subscribers}
    if doc is not None:
        out.update(
            format=doc.format,
            items=doc.items,
            modified=doc.modified.isoformat(),
            size=doc.size,
            gzip_size=doc.gzip_size,
            br_size=doc.br_size,
        )
    out.update(
        requests=polls.requests,
        not_modified=polls.not_modified,
        share_not_modified=round(polls.share_not_modified, 4),
        hourly=[
            {
                "t": hour.start.isoformat(),
                "requests": hour.requests,
                "not_modified": hour.not_modified,
            }
            for hour in polls.hourly
        ],
        readers=[{"name": name, "requests": n} for name, n in polls.readers],
    )
    return out


def setup(app: web.Application, subscribers: Subscribers | None = None) -> None:
    """Register GET /api/feeds; `subscribers` counts each feed's WebSub subscribers."""
    if subscribers is not None:
        app[SUBSCRIBERS] = subscribers
    app.router.add_get("/api/feeds", feeds_view)
