"""How each feed is polled: requests per hour, the share answered 304 and the readers'
names, counted in memory, written to a real Redis in one pipeline, read back by
feeds.polling.report and GET /api/feeds over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds import keys
from feeds.inventory import inventory
from feeds.polling import HOUR, NAME_MAX, POLLS, RAW_MAX, PollCounter, reader_name, report
from feeds.routes import MEMO
from finews.app import create_app
from finews.core.appkeys import REDIS, SETTINGS
from finews.core.clock import FrozenClock
from finews.core.redis_client import connect
from finews.core.settings import Settings
from tests.problem_support import check_problem
from tests.serving import free_port
from tests.websub_support import wait_until

KEY = "operator-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
FEED = "/feeds/all.rss"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 5 subscribers; )"
CURL = "curl/8.5.0"


def before_an_hour_ends(seconds: int = 5) -> FrozenClock:
    """A clock near the real time, `seconds` before the next full hour."""
    now = FrozenClock().time()
    return FrozenClock((int(now) // HOUR + 1) * HOUR - seconds)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (FEEDLY, "Feedly"),
        (
            "Mozilla/5.0 (compatible; Inoreader/1.0; https://www.inoreader.com; 12 subscribers)",
            "Inoreader",
        ),
        (
            "NewsBlur Feed Fetcher - 5 subscribers - https://www.newsblur.com/site/1/x",
            "NewsBlur Feed Fetcher",
        ),
        ("FreshRSS/1.23.1 (Linux; https://freshrss.org)", "FreshRSS"),
        ("Mozilla/5.0 (compatible; Miniflux/2.0.50; +https://miniflux.app)", "Miniflux"),
        ("Tiny Tiny RSS/23.01 (Unsupported) (https://tt-rss.org/)", "Tiny Tiny RSS"),
        ("NetNewsWire (RSS Reader; https://netnewswire.com/)", "NetNewsWire"),
        (CURL, "curl"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Chrome",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari",
        ),
        ("", "unknown"),
        ("   ", "unknown"),
        ("!!!", "unknown"),
        ("A" * 300 + "/1.0", "A" * NAME_MAX),
    ],
)
def test_a_reader_is_named_by_its_product_token_or_browser_family(agent: str, name: str) -> None:
    assert reader_name(agent) == name


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_no_user_agent_gives_a_long_or_unprintable_name(agent: str) -> None:
    name = reader_name(agent)
    assert 0 < len(name) <= NAME_MAX
    assert name.isprintable() and name.isascii() and name == name.strip()


@pytest.fixture
def app_with(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> Callable[..., Any]:
    """A finews app over real HTTP on the test Redis, its clock a FrozenClock."""

    async def make(clock: FrozenClock, **overrides: Any) -> TestClient:
        values = {"api__keys": [KEY], "feeds__poll_stats_interval": 3600.0, **overrides}
        return await aiohttp_client(create_app(make_settings(**values), clock=clock))

    return make


async def poll(client: TestClient, agent: str, etag: str | None = None) -> tuple[int, str]:
    headers = {"User-Agent": agent, **({"If-None-Match": etag} if etag else {})}
    response = await client.get(FEED, headers=headers)
    await response.read()
    return response.status, response.headers["ETag"]


async def flush(client: TestClient) -> int:
    """What the interval's task does, now."""
    ttl = client.app[SETTINGS].feeds.poll_stats_days * 86400
    return await client.app[POLLS].flush(client.app[REDIS], ttl)


async def test_requests_304s_and_readers_are_counted_per_hour_across_the_boundary(
    app_with: Callable[..., Any],
) -> None:
    clock = before_an_hour_ends()
    client = await app_with(clock)
    status, etag = await poll(client, FEEDLY)
    assert status == 200
    assert (await poll(client, FEEDLY, etag))[0] == 304
    assert (await poll(client, FEEDLY, etag))[0] == 304  # the memoised repeat path
    assert client.app[MEMO].answers
    assert await flush(client) == 3
    clock.advance(10)  # into the next hour
    assert (await poll(client, CURL))[0] == 200
    assert (await poll(client, CURL, etag))[0] == 304
    assert await flush(client) == 2
    assert await client.get("/feeds/nothing.rss") is not None  # a 404 is no feed's poll

    [feed] = await report(client.app[REDIS], clock.time(), hours=3)
    assert feed.path == FEED
    assert [(h.requests, h.not_modified) for h in feed.hourly] == [(0, 0), (3, 2), (2, 1)]
    assert [h.start.timestamp() % HOUR for h in feed.hourly] == [0, 0, 0]
    assert feed.hourly[-1].start.timestamp() == int(clock.time()) // HOUR * HOUR
    assert (feed.requests, feed.not_modified) == (5, 3)
    assert feed.share_not_modified == pytest.approx(0.6)
    assert feed.readers == (("Feedly", 3), ("curl", 2))
    [last_hour] = await report(client.app[REDIS], clock.time(), hours=1)
    assert last_hour.readers == (("curl", 2),) and last_hour.requests == 2


async def test_two_workers_add_up(app_with: Callable[..., Any]) -> None:
    clock = before_an_hour_ends(600)
    first, second = await app_with(clock), await app_with(clock)
    for client, agent, times in ((first, FEEDLY, 4), (second, FEEDLY, 3), (second, CURL, 2)):
        for _ in range(times):
            assert (await poll(client, agent))[0] == 200
    await flush(first)
    await flush(second)
    [feed] = await report(first.app[REDIS], clock.time(), hours=1)
    assert feed.requests == 9 and feed.not_modified == 0
    assert feed.readers == (("Feedly", 7), ("curl", 2))


async def test_reader_names_are_capped_per_feed_and_hour(app_with: Callable[..., Any]) -> None:
    clock = before_an_hour_ends(600)
    client = await app_with(clock, feeds__poll_stats_readers=3)
    for n in range(8):
        await poll(client, f"Reader{n}/1.0")
    await flush(client)
    for n in range(8):  # a later flush in the same hour admits no new names either
        await poll(client, f"Reader{n}/1.0")
    await flush(client)
    stored = await client.app[REDIS].hgetall(keys.polls(int(clock.time()) // HOUR, FEED))
    readers = {name: int(n) for name, n in stored.items() if name.startswith("reader:")}
    assert readers == {
        "reader:Reader0": 2,
        "reader:Reader1": 2,
        "reader:Reader2": 2,
        "reader:other": 10,
    }
    clock.advance(600)  # a new hour admits new names
    await poll(client, "Reader7/1.0")
    await flush(client)
    [feed] = await report(client.app[REDIS], clock.time(), hours=1)
    assert feed.readers == (("Reader7", 1),)


async def test_counts_expire_after_poll_stats_days_and_are_flushed_on_the_interval(
    app_with: Callable[..., Any],
) -> None:
    clock = before_an_hour_ends(600)
    client = await app_with(clock, feeds__poll_stats_interval=0.05, feeds__poll_stats_days=2)
    await poll(client, FEEDLY)
    redis, hour = client.app[REDIS], int(clock.time()) // HOUR

    async def written() -> bool:
        return await redis.hget(keys.polls(hour, FEED), "requests") == "1"

    await wait_until(written, "the interval's flush writes the count")
    for key in (keys.polls(hour, FEED), keys.polled(hour)):
        assert 2 * 86400 - 60 < await redis.ttl(key) <= 2 * 86400


async def test_shutdown_flushes_every_count(
    app_with: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    clock = before_an_hour_ends(600)
    client = await app_with(clock)  # the interval (an hour) never comes in this test
    etag = ""
    for n in range(25):
        etag = (await poll(client, FEEDLY if n % 2 else CURL, etag or None))[1]
    redis = client.app[REDIS]
    hour = int(clock.time()) // HOUR
    assert await redis.exists(keys.polls(hour, FEED)) == 0
    await client.close()
    import redis as sync_redis

    reader = sync_redis.Redis.from_url(make_settings().redis.url, decode_responses=True)
    try:
        stored = reader.hgetall(keys.polls(hour, FEED))
    finally:
        reader.close()
    assert stored == {
        "requests": "25",
        "not_modified": "24",
        "reader:curl": "13",
        "reader:Feedly": "12",
    }


async def test_api_feeds_lists_inventory_polling_and_subscribers(
    app_with: Callable[..., Any],
) -> None:
    clock = before_an_hour_ends(600)
    client = await app_with(clock)
    etag = (await poll(client, FEEDLY))[1]
    await poll(client, FEEDLY, etag)
    await flush(client)

    missing = await client.get("/api/feeds")
    problem = check_problem(401, missing.headers, await missing.read())
    assert problem["type"].endswith("/unauthorized") and missing.status == 401
    for bad in ("0", "abc", "100000000", str(7 * 24 + 1)):
        refused = await client.get(f"/api/feeds?hours={bad}", headers=AUTH)
        problem = check_problem(400, refused.headers, await refused.read())
        assert refused.status == 400 and problem["type"].endswith("/bad_parameter")
    response = await client.get("/api/feeds?hours=2", headers=AUTH)
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["hours"] == 2
    by_path = {feed["path"]: feed for feed in body["feeds"]}
    documents = {doc.path: doc for doc in inventory(client.app)}
    assert set(documents) <= set(by_path)
    assert {"/feeds/all.rss", "/feeds/all.atom", "/feeds/all.json"} <= set(documents)
    assert all(path.rpartition(".")[2] in ("rss", "atom", "json") for path in documents)
    all_rss = by_path[FEED]
    assert all_rss["requests"] == 2 and all_rss["not_modified"] == 1
    assert all_rss["share_not_modified"] == 0.5
    assert all_rss["readers"] == [{"name": "Feedly", "requests": 2}]
    assert [hour["requests"] for hour in all_rss["hourly"]] == [0, 2]
    assert all_rss["subscribers"] == 0
    assert all_rss["format"] == "rss" and 0 < all_rss["gzip_size"] < all_rss["size"]
    body_plain = await (await client.get(FEED, headers={"Accept-Encoding": "identity"})).read()
    assert all_rss["size"] == len(body_plain)
    assert all_rss["items"] == body_plain.count(b"<item>") > 0
    json_feed = await (await client.get("/feeds/all.json")).json()
    assert by_path["/feeds/all.json"]["items"] == len(json_feed["items"])
    assert by_path["/feeds/all.atom"]["items"] == all_rss["items"]
    assert all_rss["modified"].endswith("+00:00")
    untouched = by_path["/feeds/all.atom"]
    assert untouched["requests"] == 0 and untouched["readers"] == []
    assert [hour["requests"] for hour in untouched["hourly"]] == [0, 0]


async def test_flush_and_report_on_a_cluster(cluster_url: str) -> None:
    """The flush's one pipeline and the report work on Redis Cluster (keys share `{polls}`)."""
    clock = before_an_hour_ends(600)
    redis = await connect(cluster_url)
    try:
        counter = PollCounter(clock, readers_max=5)
        for path, agent in ((FEED, FEEDLY), (FEED, CURL), ("/feeds/all.json", FEEDLY)):
            counter.count(path, 304, agent)
        assert await counter.flush(redis, 3600) == 3
        polls = await report(redis, clock.time(), hours=1)
        assert [(feed.path, feed.requests, feed.not_modified) for feed in polls] == [
            (FEED, 2, 2),
            ("/feeds/all.json", 1, 1),
        ]
    finally:
        await redis.aclose()


async def test_counts_a_flush_could_not_write_are_written_by_the_next(redis_url: str) -> None:
    clock = before_an_hour_ends(600)
    counter = PollCounter(clock, readers_max=5)
    for _ in range(3):
        counter.count(FEED, 304, FEEDLY)
    down = await connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    up = await connect(redis_url)
    try:
        assert await counter.flush(down, 3600) == 0
        counter.count(FEED, 200, CURL)
        assert await counter.flush(up, 3600) == 4
        [feed] = await report(up, clock.time(), hours=1)
        assert (feed.requests, feed.not_modified) == (4, 3)
        assert feed.readers == (("Feedly", 3), ("curl", 1))
    finally:
        await down.aclose()
        await up.aclose()


async def test_a_flood_of_distinct_agents_is_folded_and_capped_with_exact_totals(
    redis_url: str,
) -> None:
    """More distinct user agents than the raw counts hold (RAW_MAX) are folded into the
    tallies as they come: memory stays bounded, the first names are kept, the rest are
    `other`, and every request is counted."""
    clock = before_an_hour_ends(600)
    counter = PollCounter(clock, readers_max=5)
    flood = RAW_MAX + 500
    counter.count(FEED, 304, FEEDLY)
    for n in range(flood):
        counter.count(FEED, 200, f"Scraper{n}/1.0")
        assert len(counter.raw) < RAW_MAX
    redis = await connect(redis_url)
    try:
        assert await counter.flush(redis, 3600) == flood + 1
        [feed] = await report(redis, clock.time(), hours=1)
    finally:
        await redis.aclose()
    assert (feed.requests, feed.not_modified) == (flood + 1, 1)
    readers = dict(feed.readers)
    assert readers["Feedly"] == 1 and readers["other"] == flood - 4
    assert set(readers) == {"Feedly", "Scraper0", "Scraper1", "Scraper2", "Scraper3", "other"}
