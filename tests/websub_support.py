"""Fixtures and helpers shared by the WebSub tests: a subscriber's callback server on
127.0.0.1, hub settings for loopback, and small waits (registered in tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict

import websub
from finews.app import redis_context
from finews.core import metrics
from finews.core.appkeys import CLOCK, SETTINGS
from finews.core.clock import SYSTEM
from finews.core.errors import CONTENT_TYPE
from finews.core.settings import Settings
from websub import keys
from websub.store import subscription_id

TOPIC = "http://127.0.0.1:8080/feeds/news.xml"
OTHER_TOPIC = "http://127.0.0.1:8080/feeds/sports.atom"
BODY = '<rss version="2.0"><channel><title>新闻</title></channel></rss>'.encode()
RSS = "application/rss+xml; charset=utf-8"
WAIT = 15.0  # seconds before a missing event fails the test
QUEUE = keys.QUEUE
SECOND_SITE = "http://127.0.0.1:8081"  # a name in Link headers only: never contacted


class Subscriber:
    """A subscriber's callback server: answers verifications and records deliveries by name."""

    def __init__(self) -> None:
        self.verifications: dict[str, asyncio.Queue[MultiDict[str]]] = defaultdict(asyncio.Queue)
        self.deliveries: dict[str, asyncio.Queue[web.Request | Any]] = defaultdict(asyncio.Queue)
        self.fail: dict[str, int] = defaultdict(int)  # deliveries to answer 500 first
        self.wrong_echo: set[str] = set()
        app = web.Application()
        app.router.add_get("/cb/{name}", self.verify)
        app.router.add_post("/cb/{name}", self.deliver)
        self.server = TestServer(app, host="127.0.0.1")

    def url(self, name: str) -> str:
        return str(self.server.make_url(f"/cb/{name}"))

    async def verify(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.verifications[name].put(request.query.copy())
        if name in self.wrong_echo:
            return web.Response(text="not-the-challenge")
        return web.Response(text=request.query["hub.challenge"])

    async def deliver(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        failing = self.fail[name] > 0
        self.fail[name] -= 1
        await self.deliveries[name].put((dict(request.headers), await request.read(), failing))
        return web.Response(status=500 if failing else 204)

    async def verification(self, name: str) -> MultiDict[str]:
        return await asyncio.wait_for(self.verifications[name].get(), WAIT)

    async def delivery(self, name: str) -> tuple[dict[str, str], bytes, bool]:
        return await asyncio.wait_for(self.deliveries[name].get(), WAIT)


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    await sub.server.start_server()
    yield sub
    await sub.server.close()


@pytest.fixture
def hub_settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Callable[..., Settings]:
    """Settings for tests on 127.0.0.1: private callbacks allowed, quick retries, and no
    posts, so that the only notifications are the ones a test makes."""
    (tmp_path / "no-posts").mkdir()

    def make(**overrides: Any) -> Settings:
        values = {
            "websub__allow_private_callbacks": True,
            "websub__retry_delay": 0.05,
            "posts__dir": str(tmp_path / "no-posts"),
        }
        return make_settings(**{**values, **overrides})

    return make


def hub_app(settings: Settings) -> web.Application:
    """The hub and /metrics alone, wired as finews wires them: no feed build notifies."""
    app = web.Application()
    app[SETTINGS] = settings
    app[CLOCK] = SYSTEM
    app.cleanup_ctx.append(redis_context)
    metrics.setup(app)
    websub.setup(app)
    return app


async def post(client: TestClient, **fields: str) -> tuple[int, dict[str, Any] | str]:
    form = {f"hub.{key}": value for key, value in fields.items()}
    response = await client.post("/websub", data=form)
    if response.content_type == CONTENT_TYPE:
        return response.status, await response.json()
    return response.status, await response.text()


def sub_key(callback: str, topic: str = TOPIC) -> str:
    return keys.subscription(subscription_id(topic, callback))


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")
