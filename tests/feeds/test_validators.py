"""Validators tell the truth, over real HTTP with the real Redis: Last-Modified is the time
a document's bytes last changed, so a reader polling with If-Modified-Since (alone, or with
If-None-Match as libcurl-based readers such as newsboat send it) sees every edit, and the
same bytes keep the same Last-Modified and ETag across a restart and in a follower.

Every wait is a bounded poll (POLL seconds): these tests say what happens, not how fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from feeds.routes import PUBLISHER
from finews.app import create_app
from finews.core.clock import Clock, FrozenClock
from finews.core.settings import Settings

SITE = "http://127.0.0.1:8080"
POLL = 10.0
IDENTITY = {"Accept-Encoding": "identity"}
MINSHENG = "/feeds/tag/%E6%B0%91%E7%94%9F"  # 民生
Answer = tuple[int, tuple[str, str], bytes]  # status, (ETag, Last-Modified), body


def write_post(folder: Path, name: str, title: str, date: str, body: str = "正文") -> None:
    (folder / name).write_text(
        f"---\ntitle: {title}\ndate: {date}\ncategories: xiamenribao\ntags: 民生\n---\n"
        f"<p>{body}</p>\n",
        encoding="utf-8",
    )


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir()
    write_post(folder, "2022-05-01-first.md", "第一篇", "2022-05-01 09:00:00 +0800")
    write_post(folder, "2022-05-02-second.md", "第二篇", "2022-05-02 09:00:00 +0800")
    write_post(folder, "2022-05-03-third.md", "第三篇", "2022-05-03 09:00:00 +0800")
    return folder


@pytest.fixture
def site(make_settings: Callable[..., Settings], posts: Path) -> Callable[..., Settings]:
    """Settings on the posts above; one item per feed document makes archive pages."""

    def make(**overrides: object) -> Settings:
        return make_settings(site__url=SITE, posts__dir=str(posts), **overrides)

    return make


@asynccontextmanager
async def serving(settings: Settings, clock: Clock | None = None) -> AsyncIterator[TestClient]:
    """The whole app on 127.0.0.1, once its first build (or follow) is served."""
    app = create_app(settings, clock=clock)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert await app[PUBLISHER].current(built=True) is not None
        yield client
    finally:
        await client.close()


async def fetch(client: TestClient, path: str, **headers: str) -> Answer:
    response = await client.get(path, headers={**IDENTITY, **headers})
    validators = (response.headers.get("ETag", ""), response.headers.get("Last-Modified", ""))
    return response.status, validators, await response.read()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + POLL
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: not seen within {POLL:.0f} s")
        await asyncio.sleep(0.05)


async def changed(client: TestClient, paths: list[str], before: dict[str, Answer]) -> None:
    async def check() -> bool:
        for path in paths:
            status, (etag, _), body = await fetch(client, path)
            assert status == 200, (path, status, body[:200])
            if etag == before[path][1][0]:
                return False
        return True

    await until(check, f"new bytes at {', '.join(paths)}")


async def assert_readers_see_new_bytes(client: TestClient, path: str, old: Answer) -> None:
    """Every way a reader can send the old validators gets the new bytes; the new
    validators still get 304."""
    _, (old_etag, old_date), old_body = old
    new = await fetch(client, path)
    status, (etag, date), body = new
    assert status == 200 and body != old_body and etag != old_etag
    assert parsedate_to_datetime(date) > parsedate_to_datetime(old_date)
    stale = {"If-Modified-Since": old_date}
    assert await fetch(client, path, **stale) == new, path
    newsboat = {**stale, "If-None-Match": old_etag}
    assert await fetch(client, path, **newsboat) == new, path
    for fresh in ({"If-Modified-Since": date}, {"If-Modified-Since": date, "If-None-Match": etag}):
        assert (await fetch(client, path, **fresh))[0] == 304, (path, fresh)


async def test_an_edit_that_keeps_every_date_reaches_if_modified_since_readers(
    site: Callable[..., Settings], posts: Path
) -> None:
    # two items a page: 第二篇 is on page 1 (subscription feeds), 第一篇 on page 2 (archive)
    paths = [
        "/feeds/all.atom",
        f"{MINSHENG}.json",
        "/feeds/all/page/2.rss",
        f"{MINSHENG}/page/2.json",
    ]
    async with serving(site(feeds__items_per_feed=2)) as client:
        before = {path: await fetch(client, path) for path in paths}
        assert all(status == 200 for status, _, _ in before.values())
        write_post(posts, "2022-05-02-second.md", "第二篇（更正）", "2022-05-02 09:00:00 +0800")
        write_post(posts, "2022-05-01-first.md", "第一篇", "2022-05-01 09:00:00 +0800", "更正")
        await changed(client, paths, before)
        for path in paths:
            await assert_readers_see_new_bytes(client, path, before[path])


async def test_a_back_dated_post_reaches_if_modified_since_readers(
    site: Callable[..., Settings], posts: Path
) -> None:
    paths = ["/feeds/all.rss", "/feeds/all.atom", f"{MINSHENG}.json", "/feeds.opml"]
    async with serving(site()) as client:
        before = {path: await fetch(client, path) for path in paths}
        write_post(posts, "2022-04-01-old.md", "补发的旧闻", "2022-04-01 09:00:00 +0800")
        await changed(client, paths[:3], before)
        for path in paths[:3]:
            await assert_readers_see_new_bytes(client, path, before[path])
        # the list of feeds did not change: nor do its validators
        assert await fetch(client, "/feeds.opml") == before["/feeds.opml"]


async def test_a_restart_keeps_the_validators_of_unchanged_bytes(
    site: Callable[..., Settings],
) -> None:
    settings = site(feeds__items_per_feed=1, feeds__watch=False)
    paths = [
        "/feeds/all.rss",
        "/feeds/all.json",
        f"{MINSHENG}.atom",
        "/feeds/all/page/2.atom",
        "/feeds/all/page/3.json",
        "/feeds.opml",
        "/",
    ]
    clock = FrozenClock()
    async with serving(settings, clock) as client:
        before = {path: await fetch(client, path) for path in paths}
    clock.advance(3600)  # a build dated "now" would now give another Last-Modified
    async with serving(settings, clock) as client:
        after = {path: await fetch(client, path) for path in paths}
    for path in paths:
        assert after[path] == before[path], path


async def test_a_post_edited_while_stopped_reaches_if_modified_since_readers(
    site: Callable[..., Settings], posts: Path
) -> None:
    settings = site(feeds__items_per_feed=1, feeds__watch=False)
    paths = ["/feeds/all.atom", "/feeds/all/page/3.rss"]  # 第三篇 and 第一篇
    async with serving(settings) as client:
        before = {path: await fetch(client, path) for path in paths}
    write_post(posts, "2022-05-03-third.md", "第三篇", "2022-05-03 09:00:00 +0800", "改过的正文")
    write_post(posts, "2022-05-01-first.md", "第一篇", "2022-05-01 09:00:00 +0800", "改过的正文")
    async with serving(settings) as client:
        for path in paths:
            await assert_readers_see_new_bytes(client, path, before[path])


async def test_a_follower_serves_the_builders_validators(site: Callable[..., Settings]) -> None:
    settings = site(feeds__items_per_feed=1, feeds__watch=False)
    paths = ["/feeds/all.atom", f"{MINSHENG}.json", "/feeds/all/page/2.rss", "/"]
    async with serving(settings) as builder:
        mine = {path: await fetch(builder, path) for path in paths}
        async with serving(settings.replace(feeds__role="follower")) as follower:
            theirs = {path: await fetch(follower, path) for path in paths}
    for path in paths:
        assert mine[path][0] == 200 and theirs[path] == mine[path], path


async def test_json_feed_bytes_start_with_the_version(site: Callable[..., Settings]) -> None:
    async with serving(site(feeds__items_per_feed=1)) as client:
        for path in ("/feeds/all.json", f"{MINSHENG}.json", "/feeds/all/page/2.json"):
            status, _, body = await fetch(client, path)
            assert status == 200
            assert body.startswith(b'{"version":"https://jsonfeed.org/version/1.1",'), body[:60]
