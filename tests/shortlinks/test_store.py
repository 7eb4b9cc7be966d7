"""Issuance against one real Redis: concurrency, idempotency, collisions, post hooks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from finews.core.settings import Settings
from shortlinks import code_conflicts, keys
from shortlinks.service import Service
from shortlinks.share import share_links
from shortlinks.store import LinkStore, NotIssued, Want
from tests.shortlinks_support import ARTICLE, SITE

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2022, 5, 24)


def want(url: str = ARTICLE, **fields: object) -> Want:
    return Want(url=url, day=DAY, prefix="NW", **fields)  # type: ignore[arg-type]


async def test_many_workers_asking_at_once_get_one_code_per_url(redis_url: str) -> None:
    """Eight 'processes' (own connections) x 25 tasks, for 10 URLs, all at the same moment."""
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(8)]
    stores = [LinkStore(c, ZONE) for c in clients]
    urls = [f"{SITE}/{n}.html" for n in range(10)]
    start = asyncio.Event()

    async def ask(store: LinkStore, url: str) -> str:
        await start.wait()
        [result] = await store.issue([want(url)])
        assert not isinstance(result, NotIssued)
        return result.link.code

    tasks = [asyncio.create_task(ask(stores[n % 8], urls[n % 10])) for n in range(200)]
    start.set()
    got = await asyncio.gather(*tasks)
    by_url: dict[str, set[str]] = {}
    for n, code in enumerate(got):
        by_url.setdefault(urls[n % 10], set()).add(code)
    assert all(len(found) == 1 for found in by_url.values())
    assert len({next(iter(found)) for found in by_url.values()}) == 10
    redis = clients[0]
    assert await redis.zcard(keys.CODES) == 10
    assert len([k async for k in redis.scan_iter(match=keys.link("*"))]) == 10
    assert [await redis.ttl(keys.link(c)) for c in set(got)] == [-1] * 10
    for c in clients:
        await c.aclose()


async def test_a_taken_code_is_retried_with_a_fresh_one(redis_url: str, caplog) -> None:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    taken = "NW202205241111111111"
    first = LinkStore(redis, ZONE, digits=lambda: "1111111111")
    [held] = await first.issue([want(f"{SITE}/first.html")])
    assert held.link.code == taken
    draws = iter(["1111111111", "1111111111", "2222222222"])
    store = LinkStore(redis, ZONE, digits=lambda: next(draws))
    [result] = await store.issue([want()])
    assert result.link.code == "NW202205242222222222" and result.created
    assert (await store.get(taken)).url == f"{SITE}/first.html"
    assert any("event=code_collision" in r.getMessage() for r in caplog.records)
    # retries are bounded: a generator that always collides gives up with an error
    stuck = LinkStore(redis, ZONE, attempts=3, digits=lambda: "1111111111")
    [failed] = await stuck.issue([want(f"{SITE}/third.html")])
    assert isinstance(failed, NotIssued) and "3 attempts" in str(failed)
    assert await redis.get(keys.url(f"{SITE}/third.html")) is None
    await redis.aclose()


async def test_a_dangling_url_binding_heals(redis_url: str) -> None:
    """A claimer that died after binding the URL but before keeping its claim."""
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await redis.set(keys.url(ARTICLE), "NW202205249999999999")
    [result] = await LinkStore(redis, ZONE).issue([want()])
    assert result.created and result.link.code != "NW202205249999999999"
    assert await redis.get(keys.url(ARTICLE)) == result.link.code
    await redis.aclose()


@dataclass(frozen=True)
class FakePost:
    key: str
    url: str
    published: datetime
    info_code: str | None = None
    title: str = "标题"
    summary: str = ""


def _post(n: int, code: str | None = None, url: str | None = None) -> FakePost:
    when = datetime(2022, 6, 10, 23, 30, tzinfo=timezone(timedelta(hours=8))) + timedelta(days=n)
    return FakePost(f"2022/{n:06d}.md", url or f"{SITE}/{n}.html", when, code)


async def test_posts_get_codes_and_legacy_codes_are_kept(
    redis_url: str, sl_settings: Settings
) -> None:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    service = Service(redis, sl_settings)
    legacy = "NW202206107720481936"
    posts = [_post(0, legacy), _post(1), _post(2, "NW20220610", None)]
    shared = await share_links(service, posts)
    assert shared[posts[0].url] == f"{SITE}/html_News/NewsShare.html?infoCode={legacy}"
    code1 = shared[posts[1].url].rpartition("=")[2]
    assert code1.startswith("NW20220611")  # 23:30 +08:00 on the 11th: the site's day
    assert posts[2].url in shared  # a malformed legacy code: a fresh code instead
    assert await share_links(service, posts) == shared
    # a URL that had a random code before its infoCode was known now shares the legacy code
    late = _post(1, "NW202206118888888888")
    again = await share_links(service, [late])
    assert again[late.url].endswith("NW202206118888888888")
    assert (await service.store.get(code1)).url == late.url  # the old code still works
    await redis.aclose()


async def test_a_legacy_code_claimed_twice_stays_with_the_first(
    redis_url: str, sl_settings: Settings, caplog
) -> None:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    service = Service(redis, sl_settings)
    legacy = "NW202206107720481936"
    first, second = _post(0, legacy), _post(5, legacy)
    shared = await share_links(service, [second, first])  # order given does not matter
    assert shared[first.url].endswith(legacy)
    assert not shared[second.url].endswith(legacy)
    assert any(
        "event=code_conflict" in r.getMessage() and legacy in r.getMessage() for r in caplog.records
    )
    assert code_conflicts([second, first]) == [
        f"infoCode {legacy} is claimed by {first.key} and {second.key}; {first.key} keeps it"
    ]
    assert code_conflicts([first, _post(1)]) == []
    assert code_conflicts([_post(3, "NW2022")])[0].startswith(
        f"{_post(3).key}: infoCode is malformed"
    )
    await redis.aclose()


async def test_thousands_of_posts_in_pipelined_rounds(
    redis_url: str, sl_settings: Settings
) -> None:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    service = Service(redis, sl_settings)
    posts = [_post(n % 400, url=f"{SITE}/bulk/{n}.html") for n in range(2500)]
    shared = await share_links(service, posts)
    assert len(shared) == 2500 and len(set(shared.values())) == 2500
    assert await redis.zcard(keys.CODES) == 2500
    assert await share_links(service, posts) == shared
    await redis.aclose()
