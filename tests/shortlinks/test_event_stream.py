"""The visit event stream holds one entry per link and visit batch. Whatever the page sizes
and wherever a cursor points, every event is read once and in order; the stream keeps at
most `events_max` events, the newest; a purge takes a link's events and their count out;
entries written by an earlier release (one event each) read, trim and purge alongside."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finews.core.redis_client import connect
from shortlinks import events, keys
from shortlinks.counting import Keep, Salts, VisitWriter
from shortlinks.visits import Visit

CODES = ["NW202405241000000001", "NW202405241000000002", "NW202405241000000003"]
AT = 1716552000.0  # 2024-05-24 20:00 in Asia/Shanghai
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"


async def write(redis: Any, batches: list[list[str]], events_max: int = 100_000) -> None:
    """Each list of codes is one batch of visits, in that order."""
    writer = VisitWriter(
        redis,
        Salts(redis),
        ZoneInfo("Asia/Shanghai"),
        "news.example",
        window=1800,
        batch=1000,
        interval=60,
        max_pending=10_000,
        sources_max=50,
        keep=Keep(events_max=events_max),
    )
    for number, batch in enumerate(batches):
        for place, code in enumerate(batch):
            query = f"utm_source=news&utm_campaign=b{number}v{place}"
            writer.record(Visit(code, AT + number, "10.0.0.1", PHONE, "", query, False))
        await writer.flush()


def expected(batches: list[list[str]]) -> list[tuple[str, str]]:
    """(code, campaign) of every event in stream order: per batch, one entry per link in
    the order the links first came, each with its visits in order."""
    order: list[tuple[str, str]] = []
    for number, batch in enumerate(batches):
        for code in dict.fromkeys(batch):
            order += [(code, f"b{number}v{p}") for p, c in enumerate(batch) if c == code]
    return order


async def read_all(redis: Any, limits: list[int], since: str = "0") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for turn in range(10_000):
        limit = limits[turn % len(limits)]
        found, since = await events.read(redis, since, limit)
        out += found
        if len(found) < limit:
            return out
    raise AssertionError("the pages never ended")


def on_redis(redis_url: str, scenario: Callable[[Any], Awaitable[None]]) -> None:
    async def run() -> None:
        redis = await connect(redis_url)
        try:
            await redis.delete(keys.EVENTS, keys.EVENTS_HELD)
            await scenario(redis)
        finally:
            await redis.aclose()

    asyncio.run(run())


@settings(derandomize=True, max_examples=25, deadline=None)
@given(
    batches=st.lists(st.lists(st.sampled_from(CODES), min_size=1, max_size=12), max_size=5),
    limits=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=4),
)
def test_every_event_is_read_once_in_order_whatever_the_pages(
    redis_url: str, batches: list[list[str]], limits: list[int]
) -> None:
    async def scenario(redis: Any) -> None:
        await write(redis, batches)
        whole = await read_all(redis, [1000])
        assert [(e["code"], e["campaign"]) for e in whole] == expected(batches)
        assert await read_all(redis, limits) == whole
        assert len({e["id"] for e in whole}) == len(whole)
        for place, event in enumerate(whole):  # a cursor resumes just after its event
            assert await read_all(redis, [1000], since=event["id"]) == whole[place + 1 :]
        assert int(await redis.get(keys.EVENTS_HELD) or 0) == len(whole)

    on_redis(redis_url, scenario)


def test_the_stream_keeps_at_most_events_max_events_the_newest(redis_url: str) -> None:
    batches = [["NW202405241000000001"] * 4, CODES, ["NW202405241000000002"] * 3]

    async def scenario(redis: Any) -> None:
        await write(redis, batches, events_max=5)
        kept = await read_all(redis, [1000])
        # whole entries go, oldest first (4 events, then 1), until at most 5 are left
        assert [(e["code"], e["campaign"]) for e in kept] == expected(batches)[-5:]
        assert int(await redis.get(keys.EVENTS_HELD)) == 5
        await write(redis, [CODES[:1] * 2], events_max=5)  # 2 more: the 2 oldest go
        assert [(e["code"], e["campaign"]) for e in await read_all(redis, [1000])] == [
            *expected(batches)[-3:],
            *[(CODES[0], "b0v0"), (CODES[0], "b0v1")],
        ]

    on_redis(redis_url, scenario)


def test_a_purge_takes_out_the_links_events_and_their_count(redis_url: str) -> None:
    batches = [CODES * 2, CODES[:2], CODES[1:] * 3]
    gone = CODES[1]

    async def scenario(redis: Any) -> None:
        await write(redis, batches)
        assert await events.forget(redis, gone) == sum(b.count(gone) for b in batches)
        left = await read_all(redis, [1000])
        assert [(e["code"], e["campaign"]) for e in left] == [
            pair for pair in expected(batches) if pair[0] != gone
        ]
        assert int(await redis.get(keys.EVENTS_HELD)) == len(left)

    on_redis(redis_url, scenario)


def test_entries_of_an_earlier_release_read_trim_and_purge_alongside(redis_url: str) -> None:
    def legacy(code: str) -> dict[str, str]:
        return {"t": "2024-05-23T09:00:00+08:00", "code": code, "source": "weibo",
                "campaign": "", "device": "mobile", "browser": "weibo", "os": "ios",
                "bot": "0"}  # fmt: skip

    async def scenario(redis: Any) -> None:
        await redis.xadd(keys.EVENTS, legacy(CODES[2]), id="1000-0")  # older than events_days
        olds = [await redis.xadd(keys.EVENTS, legacy(code)) for code in CODES]
        await write(redis, [CODES[:2]], events_max=4)
        kept = await read_all(redis, [1000])
        # 1970's entry is past events_days; of 3 + 2 events the oldest goes for events_max
        assert [e["id"] for e in kept[:2]] == olds[1:]
        assert kept[0] == {**legacy(CODES[1]), "id": olds[1], "bot": False}
        assert [(e["code"], e["campaign"]) for e in kept[2:]] == expected([CODES[:2]])
        assert await read_all(redis, [1], since=olds[1]) == kept[1:]
        assert int(await redis.get(keys.EVENTS_HELD)) == 4
        assert await events.forget(redis, CODES[1]) == 2
        assert [e["code"] for e in await read_all(redis, [1000])] == [CODES[2], CODES[0]]
        assert int(await redis.get(keys.EVENTS_HELD)) == 2

    on_redis(redis_url, scenario)


PART = st.one_of(
    st.integers(min_value=0, max_value=2**64 + 5),
    st.sampled_from([0, 1, 2**64 - 1, 2**64, 10**20 - 1]),
).map(str)


@settings(
    derandomize=True, max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip
@given(
    since=st.one_of(
        st.text(max_size=50),
        st.builds(lambda ms, seq: f"{ms}-{seq}", PART, PART),
        st.builds(lambda ms, seq, place: f"{ms}-{seq}-{place}", PART, PART, PART),
    )
)
def test_any_cursor_a_client_sends_is_refused_or_read(redis_url: str, since: str) -> None:
    """A cursor either has a problem the API answers 400 with, or reads without an error
    from Redis (whose stream ids are two unsigned 64-bit numbers)."""

    async def scenario(redis: Any) -> None:
        if events.cursor_problem(since) is None:
            for _ in range(2):  # on an empty stream, then on one entry
                found, after = await events.read(redis, since, 10)
                assert after == (found[-1]["id"] if found else since or "0")
                await write(redis, [CODES[:1]])

    on_redis(redis_url, scenario)
