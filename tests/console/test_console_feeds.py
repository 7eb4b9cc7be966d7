"""The console's feeds page over real HTTP: each feed's size and how readers poll it, the same
figures GET /api/feeds gives (feeds.api.feed_report)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from feeds.polling import POLLS
from finews.app import create_app
from finews.core import access
from finews.core.appkeys import REDIS, SETTINGS
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from tests.console.support import HTTP_SITE, as_role
from tests.problem_support import check_problem
from tests.shortlinks_support import KEY

FEED = "/feeds/all.rss"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 5 subscribers; )"


def row_of(html: str, path: str) -> str:
    found = re.search(rf'<tr data-feed="{re.escape(path)}">(.*?)</tr>', html, re.S)
    assert found, f"no row for {path}"
    return found.group(1)


async def test_the_feeds_page_shows_each_feed_and_how_it_is_polled(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    settings = make_settings(
        site__url=HTTP_SITE, api__keys=[KEY], feeds__poll_stats_interval=3600.0
    )
    web: TestClient = await aiohttp_client(create_app(settings, clock=clock))
    first = await web.get(FEED, headers={"User-Agent": FEEDLY})
    body = await first.read()
    etag = first.headers["ETag"]
    for _ in range(3):
        again = await web.get(FEED, headers={"User-Agent": FEEDLY, "If-None-Match": etag})
        assert again.status == 304
    await web.app[POLLS].flush(web.app[REDIS], web.app[SETTINGS].feeds.poll_stats_days * 86400)

    await as_role(web, "viewer")
    page = await web.get("/console/feeds")
    html = await page.text()
    assert page.status == 200
    row = row_of(html, FEED)
    assert re.search(r'class="num requests">0\.2<', row)  # 4 requests over the last 24 hours
    assert re.search(r'class="num not-modified">75 %<', row)  # 3 of the 4 answered 304
    assert "Feedly (4)" in row
    size = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert size[0] == str(body.count(b"<item>"))  # the items the document holds
    row_of(html, "/feeds/all.atom")  # a feed nobody polled is listed too
    assert "Feedly" not in row_of(html, "/feeds/all.atom")


async def test_a_console_key_reads_api_feeds_only_with_stats_read(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings], clock: FrozenClock
) -> None:
    web: TestClient = await aiohttp_client(create_app(make_settings(api__keys=[KEY]), clock=clock))
    redis = web.app[REDIS]
    stats, _ = await access.create(redis, "dashboards", {"stats:read"}, clock.now())
    links, _ = await access.create(redis, "cms", {"links:read", "links:write"}, clock.now())
    allowed = await web.get("/api/feeds", headers={"Authorization": f"Bearer {stats}"})
    assert allowed.status == 200 and "feeds" in await allowed.json()
    refused = await web.get("/api/feeds", headers={"Authorization": f"Bearer {links}"})
    problem = check_problem(refused.status, refused.headers, await refused.read())
    assert refused.status == 403 and problem["type"].endswith("/forbidden")
    assert problem["scope"] == "stats:read"
