"""Verified WebSub subscribers per topic, for the operators' feed list: a real subscriber
on 127.0.0.1 verifies, a real Redis holds the subscriptions, /api/feeds shows the count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

import websub
from feeds.catalog import Site
from finews.app import create_app
from finews.core.appkeys import SETTINGS
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from tests.websub_support import OTHER_TOPIC, TOPIC, Subscriber, post, wait_until

KEY = "operator-key"


async def subscribe(client: TestClient, subscriber: Subscriber, name: str, topic: str) -> None:
    status, _ = await post(
        client, mode="subscribe", topic=topic, callback=subscriber.url(name), lease_seconds="600"
    )
    assert status == 202


async def test_only_verified_subscribers_with_a_running_lease_are_counted(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    clock = FrozenClock()
    client = await aiohttp_client(create_app(hub_settings(), clock=clock))
    subscriber.wrong_echo.add("liar")  # never verified: not counted
    for name, topic in (("a", TOPIC), ("b", TOPIC), ("c", OTHER_TOPIC), ("liar", TOPIC)):
        await subscribe(client, subscriber, name, topic)
        await subscriber.verification(name)

    async def settled() -> bool:
        counts = await websub.subscriber_counts(client.app, [TOPIC, OTHER_TOPIC])
        return counts == {TOPIC: 2, OTHER_TOPIC: 1}

    await wait_until(settled, "three verified subscriptions stored")
    unknown = "http://127.0.0.1:8080/feeds/none.rss"
    assert await websub.subscriber_counts(client.app, [unknown]) == {unknown: 0}
    assert await websub.subscriber_counts(client.app, []) == {}
    status, _ = await post(client, mode="unsubscribe", topic=TOPIC, callback=subscriber.url("b"))
    assert status == 202

    async def unsubscribed() -> bool:
        return (await websub.subscriber_counts(client.app, [TOPIC]))[TOPIC] == 1

    await wait_until(unsubscribed, "the unsubscribe verified")
    clock.advance(601)  # every lease has ended
    assert await websub.subscriber_counts(client.app, [TOPIC, OTHER_TOPIC]) == {
        TOPIC: 0,
        OTHER_TOPIC: 0,
    }


async def test_api_feeds_shows_each_feeds_subscribers(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    settings = make_settings(
        api__keys=[KEY], websub__allow_private_callbacks=True, websub__retry_delay=0.05
    )
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/feeds/all.atom")).status == 200  # the first build is served
    site = Site.from_settings(client.app[SETTINGS])
    topic = site.absolute("/feeds/all.atom")
    await subscribe(client, subscriber, "reader", topic)
    await subscriber.verification("reader")

    async def listed() -> bool:
        answer = await client.get("/api/feeds", headers={"Authorization": f"Bearer {KEY}"})
        feeds = {feed["path"]: feed for feed in (await answer.json())["feeds"]}
        return feeds["/feeds/all.atom"]["subscribers"] == 1 and all(
            feed["subscribers"] == 0 for path, feed in feeds.items() if path != "/feeds/all.atom"
        )

    await wait_until(listed, "/api/feeds counts the verified subscriber")
