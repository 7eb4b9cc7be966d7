"""Failure paths that must work every time, with real processes and a real Redis.

A follower whose builder never hands a page over answers 503 and serves it once a builder
does; garbage on the feeds' pub/sub channels is logged and the follower keeps following;
an embedded server that cannot start says why at once; one that hangs on stop is killed.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from feeds import follow, keys
from finews.core.settings import Settings
from finews.embedded_redis import EmbeddedRedis, EmbeddedRedisError, ping
from tests.feed_helpers import feeds_app
from tests.feeds.test_live import SITE, items, posts, showing, titles, until, write_post

__all__ = ["posts"]  # the fixture, shared with tests/feeds/test_live.py


@pytest.fixture
def paged(make_settings: Callable[..., Settings], posts: Path) -> Settings:
    """The builder's settings: two items a feed, so the three posts make a page 2."""
    return make_settings(
        site__url=SITE, posts__dir=str(posts), feeds__items_per_feed=2, feeds__watch_debounce=50
    )


def follower_settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(
        site__url=SITE,
        feeds__role="follower",
        feeds__items_per_feed=2,
        posts__dir=str(tmp_path / "never-read"),
        data__dir=str(tmp_path / "follower-data"),
    )


async def test_a_page_the_builder_never_hands_over_is_a_503_then_served(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    paged: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follow, "PAGE_WAIT", 0.5)  # seconds; 5 in production
    builder = await aiohttp_client(feeds_app(paged.replace(feeds__watch=False)))
    assert titles(await items(builder, "/feeds/all.json")) == ["第三篇", "第二篇"]
    await builder.close()  # stored documents, nobody to hand over
    follower = await aiohttp_client(feeds_app(follower_settings(make_settings, tmp_path)))
    assert titles(await items(follower, "/feeds/all.json")) == ["第三篇", "第二篇"]
    response = await follower.get("/feeds/all/page/2.json")
    assert response.status == 503
    assert response.headers["Retry-After"]
    assert "did not hand over /feeds/all/page/2" in await response.text()

    await aiohttp_client(feeds_app(paged.replace(feeds__watch=False)))  # a builder again
    assert titles(
        await until(
            lambda: _page(follower, "/feeds/all/page/2.json"), "page 2 from the new builder"
        )
    ) == ["第一篇"]


async def _page(client: Any, path: str) -> list[dict[str, Any]] | None:
    response = await client.get(path)
    return await items(client, path) if response.status == 200 else None


async def test_garbage_on_the_feeds_channels_is_logged_and_following_goes_on(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    paged: Settings,
    posts: Path,
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="finews.feeds")
    builder = await aiohttp_client(feeds_app(paged))
    follower = await aiohttp_client(feeds_app(follower_settings(make_settings, tmp_path)))
    await until(showing(follower, "/feeds/all.json", "第三篇"), "the follower's first sync")
    client = redis.Redis.from_url(redis_url)
    # A bad version ends the follower's session (it subscribes again): send it last.
    for channel, garbage in (
        (keys.PAGE_READY, b"[1, 2"),
        (keys.PAGE_WANTED, b"\xff\xfe{"),
        (keys.CHANGED, b"not a version"),
    ):
        assert client.publish(channel, garbage) >= 1  # someone is subscribed to each
    client.close()
    await until(lambda: _logged(caplog, "event=page_answer_malformed"), "the bad answer logged")
    await until(
        lambda: _logged(caplog, "event=page_request_malformed"),
        "the bad request logged at the builder",
    )
    await until(
        lambda: _logged(caplog, "event=feeds_subscription_failed"), "the malformed version logged"
    )

    write_post(posts, "2022-06-09-after.md", "之后", date="2022-06-09 09:00:00 +0800")
    await until(showing(builder, "/feeds/all.json", "之后"), "the builder's rebuild")
    await until(showing(follower, "/feeds/all.json", "之后"), "the follower still following")
    assert titles(
        await until(
            lambda: _page(follower, "/feeds/all/page/2.json"),
            "a page handed over after the garbage",
        )
    ) == ["第二篇", "第一篇"]


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> bool:
    return any(event in record.getMessage() for record in caplog.records)


def test_an_embedded_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    (tmp_path / "appendonlydir").write_text("a file where the server wants its AOF dir")
    server = EmbeddedRedis(tmp_path, start_timeout=60)
    with pytest.raises(EmbeddedRedisError) as failed:
        server.start()
    message = str(failed.value)
    assert str(tmp_path) in message
    assert "Can't open or create append-only dir" in message  # the server's own reason
    assert not server.running() and server.process is None  # nothing left behind
    assert not ping(server.socket_path)


def test_a_hung_embedded_server_is_killed_by_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="finews.redis")
    server = EmbeddedRedis(tmp_path)
    server.start()
    process = server.process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)  # it cannot act on SIGTERM now
    try:
        server.stop(timeout=0.5)
    finally:
        if process.poll() is None:  # only if stop() failed to end it
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert server.process is None
    assert _logged(caplog, f"event=redis_stop pid={process.pid} code=-9")
