"""The per-address subscription cap over real HTTP and a real Redis.

Every callback is on 127.0.0.1, spelled three ways; the hub runs with
websub.allow_private_callbacks = true, as tests must, so loopback callbacks are allowed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.appkeys import REDIS
from finews.core.clock import FrozenClock
from finews.core.redis_client import connect
from finews.core.settings import Settings
from tests.websub_support import TOPIC, Subscriber, sub_key, wait_until
from websub import keys
from websub.routes import HUB
from websub.store import Subscription, SubscriptionStore

CAP_METRIC = 'finews_websub_deliveries_total{kind="subscribe",outcome="address_full"}'
ADDRESS_KEY = keys.address("127.0.0.1")
LOOPBACKS = ("localhost", "127.0.0.1", "[::ffff:7f00:1]")


def callback(subscriber: Subscriber, name: str, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{subscriber.server.port}/cb/{name}"


async def post(client: TestClient, mode: str, callback: str, **fields: str) -> tuple[int, str]:
    """Status and body text (whatever the error shape): the body names the rule."""
    form = {
        "hub.mode": mode,
        "hub.topic": TOPIC,
        "hub.callback": callback,
        **{f"hub.{key}": value for key, value in fields.items()},
    }
    response = await client.post("/websub", data=form)
    return response.status, await response.text()


async def cap_refusals(client: TestClient) -> float:
    text = await (await client.get("/metrics")).text()
    lines = [line for line in text.splitlines() if line.startswith(CAP_METRIC)]
    return float(lines[0].split()[-1]) if lines else 0.0


async def stored(client: TestClient) -> int:
    return len(await client.app[REDIS].keys(keys.subscription("*")))


async def test_120_concurrent_subscriptions_store_exactly_the_cap(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """All 120 requests are in flight at once, more than the Redis pool holds: commands
    wait for a connection (redis.pool_size), and the cap still admits exactly 50."""
    caplog.set_level(logging.INFO, logger="finews.websub")
    client = await aiohttp_client(create_app(hub_settings(websub__max_subscriptions_per_host=50)))
    before = await cap_refusals(client)
    callbacks = [callback(subscriber, f"n{i}", LOOPBACKS[i % 3]) for i in range(120)]
    answers = await asyncio.gather(*(post(client, "subscribe", url) for url in callbacks))

    statuses = [status for status, _ in answers]
    assert statuses.count(202) == 50
    refused = [body for status, body in answers if status != 202]
    assert len(refused) == 70 and {s for s in statuses if s != 202} <= {403, 429}
    assert all("websub.max_subscriptions_per_host" in body for body in refused)

    async def all_verified() -> bool:
        return await stored(client) == 50 and not client.app[HUB].verifying

    await wait_until(all_verified, "the 50 accepted subscriptions are verified and stored")
    assert await client.app[REDIS].zcard(ADDRESS_KEY) == 50
    assert await cap_refusals(client) == before + 70
    logged = [
        r.getMessage() for r in caplog.records if "event=websub_address_full" in r.getMessage()
    ]
    assert len(logged) == 70
    assert all("stage=subscribe address=127.0.0.1 cap=50" in line for line in logged)
    # Full means full: the 71st still gets no slot, a renewal still does.
    assert (await post(client, "subscribe", callback(subscriber, "late")))[0] == 403
    accepted = [url for url, (status, _) in zip(callbacks, answers, strict=True) if status == 202]
    assert (await post(client, "subscribe", accepted[0], lease_seconds="7200"))[0] == 202


async def test_three_spellings_of_loopback_are_one_address(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    client = await aiohttp_client(create_app(hub_settings(websub__max_subscriptions_per_host=2)))
    assert (await post(client, "subscribe", callback(subscriber, "a", "localhost")))[0] == 202
    assert (await post(client, "subscribe", callback(subscriber, "b", "127.0.0.1")))[0] == 202
    status, body = await post(client, "subscribe", callback(subscriber, "c", "[::ffff:7f00:1]"))
    assert status == 403
    assert "127.0.0.1 already holds 2 subscriptions" in body
    await wait_until(lambda: _count(client, 2), "a and b are stored")
    assert sorted(await client.app[REDIS].keys(keys.address("*"))) == [ADDRESS_KEY]


async def _count(client: TestClient, wanted: int) -> bool:
    return await stored(client) == wanted


@pytest.fixture
async def silent_callback() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A callback on 127.0.0.1 that holds every request without answering until the event
    is set, then hangs up: a verification that waits, then fails."""
    hang_up = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hang_up.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/silent", hang_up
    hang_up.set()
    server.close()
    await server.wait_closed()


async def test_a_subscription_waiting_for_verification_holds_its_slot_until_it_fails(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
    silent_callback: tuple[str, asyncio.Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="finews.websub")
    client = await aiohttp_client(create_app(hub_settings(websub__max_subscriptions_per_host=1)))
    silent, hang_up = silent_callback
    assert (await post(client, "subscribe", silent))[0] == 202
    assert (await post(client, "subscribe", callback(subscriber, "b")))[0] == 403
    hang_up.set()

    async def failed() -> bool:
        return any("event=websub_verify_failed" in r.getMessage() for r in caplog.records)

    await wait_until(failed, "the silent callback's verification fails")
    await wait_until(lambda: _zcard_is(client, 0), "its slot is freed")
    assert (await post(client, "subscribe", callback(subscriber, "b")))[0] == 202
    await wait_until(
        lambda: client.app[REDIS].exists(sub_key(callback(subscriber, "b"))), "b is stored"
    )


async def _zcard_is(client: TestClient, wanted: int) -> bool:
    return await client.app[REDIS].zcard(ADDRESS_KEY) == wanted


async def test_lease_expiry_and_unsubscribe_free_the_slot(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="finews.websub")
    settings = hub_settings(websub__max_subscriptions_per_host=1, websub__min_lease_seconds=1)
    client = await aiohttp_client(create_app(settings))
    redis: Any = client.app[REDIS]
    status, _ = await post(client, "subscribe", callback(subscriber, "a"), lease_seconds="1")
    assert status == 202

    async def a_stored() -> bool:
        return any(
            f"event=websub_subscribe topic={TOPIC} callback={callback(subscriber, 'a')} "
            in r.getMessage()
            for r in caplog.records
        )

    await wait_until(a_stored, "a is stored")
    await wait_until(lambda: _gone(client, sub_key(callback(subscriber, "a"))), "a's lease ends")

    assert (await post(client, "subscribe", callback(subscriber, "b")))[0] == 202
    await wait_until(lambda: redis.exists(sub_key(callback(subscriber, "b"))), "b is stored")
    assert (await post(client, "subscribe", callback(subscriber, "c")))[0] == 403

    assert (await post(client, "unsubscribe", callback(subscriber, "b")))[0] == 202
    await wait_until(lambda: _gone(client, sub_key(callback(subscriber, "b"))), "b is deleted")
    assert await redis.zcard(ADDRESS_KEY) == 0
    assert (await post(client, "subscribe", callback(subscriber, "c")))[0] == 202


async def _gone(client: TestClient, key: str) -> bool:
    return not await client.app[REDIS].exists(key)


async def test_a_renewal_from_a_new_address_frees_the_old_slot(redis_url: str) -> None:
    """A name re-pointed between subscribe and renewal must not hold two slots."""
    redis = await connect(redis_url)
    try:
        clock = FrozenClock()  # the real now: Redis expires the hash at `expires` by its clock
        store = SubscriptionStore(redis, 3600, clock)
        expires = clock.time() + 600
        first = Subscription(TOPIC, "http://reader.test/cb", "", 600, expires, "192.0.2.1")
        assert await store.save(first, cap=1)
        moved = Subscription(TOPIC, "http://reader.test/cb", "", 600, expires, "192.0.2.2")
        assert await store.save(moved, cap=1)
        assert await redis.zcard(keys.address("192.0.2.1")) == 0
        assert await redis.zrange(keys.address("192.0.2.2"), 0, -1) == [moved.id]
        assert (await store.get(TOPIC, "http://reader.test/cb")) == moved
        other = Subscription(TOPIC, "http://reader.test/other", "", 600, expires, "192.0.2.2")
        assert not await store.save(other, cap=1)  # the cap holds at the store too
    finally:
        await redis.aclose()
