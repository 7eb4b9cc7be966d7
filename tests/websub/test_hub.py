"""The built-in WebSub hub end to end: a real subscriber server on 127.0.0.1, a real Redis.

The subscriber echoes challenges and records what the hub sends; tests wait for those
events with a generous bound (a hang fails, slowness does not).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict

import websub
from finews.app import create_app
from finews.core.appkeys import REDIS
from finews.core.errors import problem_type
from finews.core.settings import Settings
from tests.metric_samples import sample
from tests.websub_support import (
    BODY,
    OTHER_TOPIC,
    QUEUE,
    RSS,
    SECOND_SITE,
    TOPIC,
    WAIT,
    Subscriber,
    hub_app,
    post,
    sub_key,
    wait_until,
)
from websub import keys
from websub.guard import address_problem
from websub.routes import HUB


async def subscribed(
    client: TestClient, subscriber: Subscriber, name: str, topic: str = TOPIC, **fields: str
) -> MultiDict[str]:
    """Subscribe, answer the verification, and wait until Redis holds the subscription."""
    status, _ = await post(
        client, mode="subscribe", topic=topic, callback=subscriber.url(name), **fields
    )
    assert status == 202
    query = await subscriber.verification(name)
    key = sub_key(subscriber.url(name), topic)
    await wait_until(lambda: client.app[REDIS].exists(key), f"subscription {name} stored")
    return query


async def test_subscribe_verify_then_deliver_signed_content(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    client = await aiohttp_client(create_app(hub_settings()))
    query = await subscribed(client, subscriber, "a", secret="s3cret", lease_seconds="3600")
    assert query["hub.mode"] == "subscribe"
    assert query["hub.topic"] == TOPIC
    assert len(query["hub.challenge"]) >= 32
    assert query["hub.lease_seconds"] == "3600"
    stored = await client.app[REDIS].hgetall(sub_key(subscriber.url("a")))
    assert stored["callback"] == subscriber.url("a") and stored["lease_seconds"] == "3600"
    ttl = await client.app[REDIS].ttl(sub_key(subscriber.url("a")))
    assert 3500 < ttl <= 3600

    await websub.notify(client.app, TOPIC, BODY, RSS)
    headers, body, _ = await subscriber.delivery("a")
    assert body == BODY
    assert headers["Content-Type"] == RSS
    assert headers["Link"] == f'<http://127.0.0.1:8080/websub>; rel="hub", <{TOPIC}>; rel="self"'
    expected = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature"] == f"sha256={expected}"
    await wait_until(lambda: _queue_empty(client), "the delivery leaves the queue")
    metrics = await (await client.get("/metrics")).text()
    assert 'finews_websub_deliveries_total{kind="deliver",outcome="ok"}' in metrics


async def _queue_empty(client: TestClient) -> bool:
    return await client.app[REDIS].zcard(QUEUE) == 0


async def test_notify_reaches_only_the_topics_subscribers_and_no_signature_without_secret(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    client = await aiohttp_client(create_app(hub_settings()))
    await subscribed(client, subscriber, "news")
    await subscribed(client, subscriber, "sports", topic=OTHER_TOPIC)
    await websub.notify(client.app, OTHER_TOPIC, b'{"version": "x"}', "application/feed+json")
    headers, body, _ = await subscriber.delivery("sports")
    assert body == b'{"version": "x"}' and "X-Hub-Signature" not in headers
    await wait_until(lambda: _queue_empty(client), "the delivery leaves the queue")
    assert subscriber.deliveries["news"].empty()


async def test_a_failing_callback_is_retried_until_it_succeeds(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    client = await aiohttp_client(create_app(hub_settings()))
    await subscribed(client, subscriber, "flaky")
    subscriber.fail["flaky"] = 2
    await websub.notify(client.app, TOPIC, BODY, RSS)
    attempts = [await subscriber.delivery("flaky") for _ in range(3)]
    assert [failed for _, _, failed in attempts] == [True, True, False]
    assert all(body == BODY for _, body, _ in attempts)
    await wait_until(lambda: _queue_empty(client), "the delivery leaves the queue")


async def test_deliveries_give_up_after_max_attempts(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    client = await aiohttp_client(create_app(hub_settings(websub__max_attempts=2)))
    await subscribed(client, subscriber, "down")
    subscriber.fail["down"] = 100
    await websub.notify(client.app, TOPIC, BODY, RSS)
    await subscriber.delivery("down")
    await subscriber.delivery("down")
    await wait_until(lambda: _queue_empty(client), "the job is given up")
    assert subscriber.deliveries["down"].empty()


async def test_restart_keeps_subscriptions_and_pending_retries(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    settings = hub_settings(websub__retry_delay=1.5)
    first = await aiohttp_client(create_app(settings))
    await subscribed(first, subscriber, "a")
    await subscribed(first, subscriber, "b")
    subscriber.fail["b"] = 1
    await websub.notify(first.app, TOPIC, BODY, RSS)
    deliveries = {name: await subscriber.delivery(name) for name in ("a", "b")}
    assert not deliveries["a"][2] and deliveries["b"][2]  # b failed: a retry is pending
    job = keys.job("*")

    async def retry_recorded() -> bool:
        found = [k async for k in first.app[REDIS].scan_iter(job)]
        return len(found) == 1 and await first.app[REDIS].hget(found[0], "attempt") == "1"

    await wait_until(retry_recorded, "the retry of b is stored")
    old_hub = first.app[HUB]
    await first.close()
    assert old_hub.closed and old_hub.dispatcher.done() and not old_hub.sending

    # The new instance names another hub URL (site.url): the Link header says who sent it.
    second = await aiohttp_client(create_app(settings.replace(site__url=SECOND_SITE)))
    headers, body, failed = await subscriber.delivery("b")
    assert body == BODY and not failed
    assert headers["Link"].startswith(f'<{SECOND_SITE}/websub>; rel="hub"')
    await websub.notify(second.app, TOPIC, b"<rss/>", RSS)  # and still knows both subscribers
    assert (await subscriber.delivery("a"))[1] == b"<rss/>"
    assert (await subscriber.delivery("b"))[1] == b"<rss/>"


async def test_unsubscribe_is_verified_and_stops_deliveries(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    client = await aiohttp_client(create_app(hub_settings()))
    await subscribed(client, subscriber, "leaving")
    await subscribed(client, subscriber, "staying")
    status, _ = await post(
        client, mode="unsubscribe", topic=TOPIC, callback=subscriber.url("leaving")
    )
    assert status == 202
    query = await subscriber.verification("leaving")
    assert query["hub.mode"] == "unsubscribe" and "hub.lease_seconds" not in query
    key = sub_key(subscriber.url("leaving"))
    await wait_until(lambda: _gone(client, key), "the subscription is deleted")
    await websub.notify(client.app, TOPIC, BODY, RSS)
    assert (await subscriber.delivery("staying"))[1] == BODY
    await wait_until(lambda: _queue_empty(client), "the delivery leaves the queue")
    assert subscriber.deliveries["leaving"].empty()


async def _gone(client: TestClient, key: str) -> bool:
    return not await client.app[REDIS].exists(key)


async def test_a_callback_that_does_not_echo_the_challenge_is_not_subscribed(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="finews.websub")
    client = await aiohttp_client(create_app(hub_settings()))
    subscriber.wrong_echo.add("liar")
    status, _ = await post(client, mode="subscribe", topic=TOPIC, callback=subscriber.url("liar"))
    assert status == 202
    await subscriber.verification("liar")

    async def logged() -> bool:
        return any(
            "event=websub_verify_failed" in r.getMessage()
            and "did not echo hub.challenge" in r.getMessage()
            for r in caplog.records
        )

    await wait_until(logged, "the failed verification is logged")
    assert not await client.app[REDIS].keys(keys.subscription("*"))


async def test_leases_are_bounded_and_expire(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    settings = hub_settings(
        websub__min_lease_seconds=1, websub__max_lease_seconds=7200, websub__lease_seconds=600
    )
    client = await aiohttp_client(create_app(settings))
    assert (await subscribed(client, subscriber, "long", lease_seconds="999999999"))[
        "hub.lease_seconds"
    ] == "7200"
    assert (await subscribed(client, subscriber, "default"))["hub.lease_seconds"] == "600"
    assert (await subscribed(client, subscriber, "short", lease_seconds="1"))[
        "hub.lease_seconds"
    ] == "1"
    key = sub_key(subscriber.url("short"))
    await wait_until(lambda: _gone(client, key), "the 1-second lease ends")
    await websub.notify(client.app, TOPIC, BODY, RSS)
    assert (await subscriber.delivery("long"))[1] == BODY
    assert (await subscriber.delivery("default"))[1] == BODY
    await wait_until(lambda: _queue_empty(client), "the deliveries leave the queue")
    assert subscriber.deliveries["short"].empty()
    # Renewing an expired or live subscription is a new verification with a new lease.
    assert (await subscribed(client, subscriber, "short", lease_seconds="3600"))[
        "hub.lease_seconds"
    ] == "3600"


@pytest.mark.parametrize(
    ("callback", "rule"),
    [
        ("http://127.0.0.1:9/cb", "127.0.0.1 is a loopback address"),
        ("http://10.1.2.3/cb", "10.1.2.3 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://100.100.100.200/latest/meta-data/", "a cloud metadata address"),
        ("http://[::ffff:192.168.1.1]/cb", "a private address"),
        ("http://169.254.1.1/cb", "a link-local address"),
        ("http://224.0.0.1/cb", "a multicast address"),
        ("http://0.0.0.0:8080/cb", "an unspecified address"),
        ("http://localhost:9/cb", "resolves to 127.0.0.1, a loopback address"),
        ("http://2130706433/cb", "resolves to 127.0.0.1, a loopback address"),
        ("http://127.1/cb", "resolves to 127.0.0.1, a loopback address"),
        ("http://[::ffff:7f00:1]/cb", "a loopback address"),
        ("file:///etc/passwd", "scheme 'file' refused"),
        ("gopher://example.com/", "scheme 'gopher' refused"),
    ],
)
async def test_private_callbacks_are_refused_by_default(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    settings: Settings,
    callback: str,
    rule: str,
) -> None:
    client = await aiohttp_client(create_app(settings))
    status, body = await post(client, mode="subscribe", topic=TOPIC, callback=callback)
    assert status == 403
    assert rule in body["detail"]
    if "scheme" not in rule:
        assert "websub.allow_private_callbacks is false" in body["detail"]


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::1", "223.5.5.5"]
)
def test_public_addresses_pass_the_guard(address: str) -> None:
    # No request here: a test must not send traffic to the Internet.
    assert address_problem(ip_address(address)) is None


async def test_delivery_checks_the_callback_address_again(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    """A name that resolves to a private address by delivery time (DNS rebinding) gets nothing."""
    first = await aiohttp_client(create_app(hub_settings()))
    port = subscriber.server.port
    status, _ = await post(
        first, mode="subscribe", topic=TOPIC, callback=f"http://localhost:{port}/cb/rebound"
    )
    assert status == 202
    await subscriber.verification("rebound")
    key = sub_key(f"http://localhost:{port}/cb/rebound")
    await wait_until(lambda: first.app[REDIS].exists(key), "subscription stored")
    await first.close()

    second = await aiohttp_client(create_app(hub_settings(websub__allow_private_callbacks=False)))
    await websub.notify(second.app, TOPIC, BODY, RSS)
    await wait_until(lambda: _queue_empty(second), "the delivery is settled")
    assert subscriber.deliveries["rebound"].empty()
    metrics = await (await second.get("/metrics")).text()
    assert 'finews_websub_deliveries_total{kind="deliver",outcome="refused"}' in metrics


async def test_subscriptions_per_callback_host_are_capped(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
) -> None:
    client = await aiohttp_client(create_app(hub_settings(websub__max_subscriptions_per_host=2)))
    await subscribed(client, subscriber, "one")
    await subscribed(client, subscriber, "two")
    status, body = await post(
        client, mode="subscribe", topic=TOPIC, callback=subscriber.url("three")
    )
    assert status == 403
    assert "websub.max_subscriptions_per_host" in body["detail"]
    await subscribed(client, subscriber, "one", lease_seconds="7200")  # a renewal still works
    status, _ = await post(client, mode="unsubscribe", topic=TOPIC, callback=subscriber.url("two"))
    assert status == 202


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"topic": TOPIC, "callback": "http://example.com/cb"}, "hub.mode: missing"),
        (
            {"mode": "publish", "topic": TOPIC, "callback": "http://example.com/cb"},
            "hub.mode: expected subscribe or unsubscribe, got 'publish'",
        ),
        ({"mode": "subscribe", "callback": "http://example.com/cb"}, "hub.topic: missing"),
        ({"mode": "subscribe", "topic": TOPIC}, "hub.callback: missing"),
        (
            {
                "mode": "subscribe",
                "topic": "https://evil.example/feeds/news.xml",
                "callback": "http://example.com/cb",
            },
            "hub.topic: not a feed of this site",
        ),
        (
            {
                "mode": "subscribe",
                "topic": "http://127.0.0.1:8080/admin",
                "callback": "http://example.com/cb",
            },
            "hub.topic: not a feed of this site: expected a URL under http://127.0.0.1:8080/feeds/",
        ),
        (
            {
                "mode": "subscribe",
                "topic": "http://127.0.0.1:8080/feeds/../admin",
                "callback": "http://example.com/cb",
            },
            "hub.topic: not a feed of this site",
        ),
        (
            {
                "mode": "subscribe",
                "topic": "http://127.0.0.1:8080/feeds/",
                "callback": "http://example.com/cb",
            },
            "hub.topic: not a feed of this site",
        ),
        (
            {"mode": "subscribe", "topic": "/feeds/news.xml", "callback": "http://example.com/cb"},
            "hub.topic: not a feed of this site",
        ),
        (
            {
                "mode": "subscribe",
                "topic": TOPIC,
                "callback": "http://example.com/cb",
                "lease_seconds": "soon",
            },
            "hub.lease_seconds: expected a whole number of seconds above 0",
        ),
        (
            {
                "mode": "subscribe",
                "topic": TOPIC,
                "callback": "http://example.com/cb",
                "lease_seconds": "-5",
            },
            "hub.lease_seconds",
        ),
        (
            {
                "mode": "subscribe",
                "topic": TOPIC,
                "callback": "http://example.com/cb",
                "lease_seconds": "0",
            },
            "hub.lease_seconds",
        ),
        (
            {
                "mode": "subscribe",
                "topic": TOPIC,
                "callback": "http://example.com/cb",
                "secret": "x" * 200,
            },
            "hub.secret: must be shorter than 200 bytes",
        ),
        (
            {"mode": "subscribe", "topic": TOPIC, "callback": "http://example.com/a b"},
            "hub.callback: longer than 2048 characters, or holds spaces",
        ),
        (
            {"mode": "subscribe", "topic": TOPIC, "callback": "http://" + "a" * 2100 + ".cn/"},
            "hub.callback: longer than 2048 characters",
        ),
    ],
)
async def test_bad_requests_get_400_naming_the_field(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    fields: dict[str, str],
    message: str,
) -> None:
    client = await aiohttp_client(create_app(hub_settings()))
    status, body = await post(client, **fields)
    assert status == 400
    assert message in body["detail"]
    assert body["status"] == 400 and body["type"] == problem_type("invalid_field")
    assert [e["field"] for e in body["errors"]] == [message.split(":")[0]]


async def test_a_non_form_body_gets_415(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.post("/websub", json={"hub.mode": "subscribe"})
    assert response.status == 415
    assert "application/x-www-form-urlencoded" in (await response.json())["detail"]


async def test_the_hub_can_be_disabled(
    aiohttp_client: Callable[..., Awaitable[TestClient]], make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(websub__enabled=False, feeds__hub="")))
    response = await client.post("/websub", data={"hub.mode": "subscribe"})
    assert response.status == 404
    assert websub.hub_urls(make_settings(websub__enabled=False, feeds__hub="")) == []


async def test_external_hubs_are_pinged_in_the_background_with_retries(
    aiohttp_client: Callable[..., Awaitable[TestClient]], hub_settings: Callable[..., Settings]
) -> None:
    pings: asyncio.Queue[MultiDict[str]] = asyncio.Queue()
    release = asyncio.Event()
    answers = iter([503, 204])

    async def external_hub(request: web.Request) -> web.Response:
        form = (await request.post()).copy()
        if form.get("hub.url") != TOPIC:  # the app's own first build pings its feeds too
            return web.Response(status=204)
        await release.wait()  # holds the ping until notify() has returned
        await pings.put(form)
        return web.Response(status=next(answers))

    app = web.Application()
    app.router.add_post("/hub", external_hub)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        hub = str(server.make_url("/hub"))
        settings = hub_settings(websub__publish_hubs=[hub])
        assert websub.hub_urls(settings) == ["http://127.0.0.1:8080/websub", hub]
        client = await aiohttp_client(create_app(settings))
        await websub.notify(client.app, TOPIC, BODY, RSS)
        release.set()
        for _ in range(2):
            form = await asyncio.wait_for(pings.get(), WAIT)
            assert form["hub.mode"] == "publish" and form["hub.url"] == TOPIC
        await wait_until(lambda: _queue_empty(client), "the ping leaves the queue")
    finally:
        await server.close()


async def test_with_redis_down_subscribe_gets_503_and_notify_returns(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    hub_settings: Callable[..., Settings],
    subscriber: Subscriber,
    tmp_path: Path,
) -> None:
    settings = hub_settings(redis__url=f"unix://{tmp_path}/nobody-home.sock")
    client = await aiohttp_client(hub_app(settings))  # no feeds: no notify but ours
    response = await client.post(
        "/websub",
        data={"hub.mode": "subscribe", "hub.topic": TOPIC, "hub.callback": subscriber.url("x")},
    )
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert "Redis is unreachable" in (await response.json())["detail"]
    dispatcher = client.app[HUB].dispatcher  # its failing claims count here too: stop it
    dispatcher.cancel()
    await asyncio.gather(dispatcher, return_exceptions=True)
    counted = sample("finews_redis_errors_total", component="websub")
    await websub.notify(client.app, TOPIC, BODY, RSS)  # logged and counted, never raised
    assert sample("finews_redis_errors_total", component="websub") == counted + 1
    assert subscriber.verifications["x"].empty()
