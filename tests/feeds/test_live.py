"""Live updates over real HTTP with the real Redis: posts.dir is watched, only the feeds a
change touches are rebuilt, and a follower process serves what the builder publishes.

Every wait is a bounded poll (POLL seconds): these tests say what happens, not how fast.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from watchfiles import Change

import shortlinks
from feeds.catalog import Catalog, Site
from feeds.model import Post
from feeds.posts import load_posts
from feeds.publish import render_edition
from feeds.routes import PUBLISHER
from feeds.watch import PostFilter, PostsWatcher
from finews.app import create_app
from finews.config import load as load_settings
from finews.core.settings import Settings
from tests.feed_helpers import feeds_app, parse_json_feed, parse_xml_feed
from tests.feed_helpers import post as sample_post

SITE = "http://127.0.0.1:8080"
POLL = 10.0  # seconds any one change may take before the test fails
BURST_POLL = 120.0  # the 1,000-file burst, on a slow shared machine
MINSHENG = "/feeds/tag/%E6%B0%91%E7%94%9F"  # 民生
JIAOTONG = "/feeds/tag/%E4%BA%A4%E9%80%9A"  # 交通
T = TypeVar("T")


def post_text(title: str, date: str, categories: str, tags: str, extra: str = "") -> str:
    return (
        f"---\ntitle: {title}\ndate: {date}\ncategories: {categories}\ntags: {tags}\n"
        f"{extra}---\n<p>{title} 的正文。</p>\n"
    )


def write_post(
    folder: Path,
    name: str,
    title: str,
    *,
    date: str = "2022-06-01 09:00:00 +0800",
    categories: str = "xiamenribao",
    tags: str = "民生",
    extra: str = "",
) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(post_text(title, date, categories, tags, extra), encoding="utf-8")
    return path


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    """A posts dir: two 厦门日报 posts tagged 民生, one 海峡导报 post tagged 交通."""
    folder = tmp_path / "posts"
    write_post(folder, "2022-05-01-first.md", "第一篇", date="2022-05-01 09:00:00 +0800")
    write_post(folder, "2022-05-02-second.md", "第二篇", date="2022-05-02 09:00:00 +0800")
    write_post(
        folder,
        "2022-05-03-third.md",
        "第三篇",
        date="2022-05-03 09:00:00 +0800",
        categories="haixiadaobao",
        tags="交通",
    )
    return folder


@pytest.fixture
def live_settings(make_settings: Callable[..., Settings], posts: Path) -> Settings:
    return make_settings(site__url=SITE, posts__dir=str(posts))


async def until(
    check: Callable[[], Awaitable[T | None] | T | None], what: str, seconds: float = POLL
) -> T:
    """Poll `check` (a function or a coroutine function) until it returns something true;
    fail after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: not seen within {seconds:.0f} s")
        await asyncio.sleep(0.05)


async def items(client: TestClient, path: str) -> list[dict[str, Any]] | None:
    """The items of a JSON feed; None when the feed does not exist (404)."""
    response = await client.get(path)
    if response.status == 404:
        return None
    assert response.status == 200
    return parse_json_feed(await response.read())["items"]


def titles(feed_items: list[dict[str, Any]] | None) -> list[str]:
    return [item["title"] for item in feed_items or []]


async def etags(client: TestClient, paths: list[str]) -> dict[str, str]:
    return {path: (await client.get(path)).headers["ETag"] for path in paths}


def showing(client: TestClient, path: str, title: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return title in titles(await items(client, path))

    return check


def gone(client: TestClient, path: str, title: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return title not in titles(await items(client, path))

    return check


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], live_settings: Settings) -> TestClient:
    client = await aiohttp_client(create_app(live_settings))
    assert titles(await items(client, "/feeds/all.json")) == ["第三篇", "第二篇", "第一篇"]
    return client


async def test_a_new_post_reaches_its_feeds_and_only_those_are_rebuilt(
    client: TestClient, posts: Path
) -> None:
    untouched = ["/feeds/category/haixiadaobao.atom", f"{JIAOTONG}.rss", f"{JIAOTONG}.json"]
    touched = ["/feeds/all.atom", "/feeds/category/xiamenribao.json", f"{MINSHENG}.rss"]
    before = await etags(client, untouched + touched)
    write_post(posts, "2022/2022-06-01-new.md", "新文章", tags="民生 图书馆")
    await until(showing(client, "/feeds/all.json", "新文章"), "the new post in all")
    for path in (
        "/feeds/category/xiamenribao.json",
        f"{MINSHENG}.json",
        "/feeds/tag/%E5%9B%BE%E4%B9%A6%E9%A6%86.json",
    ):  # 图书馆, a new feed
        assert titles(await items(client, path))[0] == "新文章"
    atom = parse_xml_feed(await (await client.get("/feeds/all.atom")).read(), "atom10")
    assert atom.entries[0].link == f"{SITE}/xiamenribao/2022/06/01/new.html"
    after = await etags(client, untouched + touched)
    assert {path: after[path] for path in untouched} == {path: before[path] for path in untouched}
    assert all(after[path] != before[path] for path in touched)
    opml = await (await client.get("/feeds.opml")).read()
    assert b"%E5%9B%BE%E4%B9%A6%E9%A6%86.rss" in opml


async def test_an_edited_title_keeps_the_item_id(client: TestClient, posts: Path) -> None:
    before = await items(client, f"{MINSHENG}.json")
    assert before is not None
    write_post(posts, "2022-05-02-second.md", "第二篇（更正）", date="2022-05-02 09:00:00 +0800")
    await until(showing(client, f"{MINSHENG}.json", "第二篇（更正）"), "the new title")
    after = await items(client, f"{MINSHENG}.json")
    assert after is not None and len(after) == len(before) == 2
    assert after[0]["id"] == before[0]["id"] and before[0]["title"] == "第二篇"
    assert titles(await items(client, "/feeds/all.json")) == ["第三篇", "第二篇（更正）", "第一篇"]


async def test_a_renamed_post_is_one_item_with_its_new_url(client: TestClient, posts: Path) -> None:
    (posts / "2022-05-01-first.md").rename(posts / "2022-05-01-renamed.md")
    url = f"{SITE}/xiamenribao/2022/05/01/renamed.html"

    async def renamed() -> bool:
        return url in [item["url"] for item in await items(client, "/feeds/all.json") or []]

    await until(renamed, "the new URL")
    for path in ("/feeds/all.json", f"{MINSHENG}.json"):
        found = [item for item in await items(client, path) or [] if item["title"] == "第一篇"]
        assert [item["url"] for item in found] == [url]


async def test_a_deleted_post_leaves_its_feeds_and_an_empty_tag_feed_is_gone(
    client: TestClient, posts: Path
) -> None:
    assert titles(await items(client, f"{JIAOTONG}.json")) == ["第三篇"]
    (posts / "2022-05-03-third.md").unlink()
    await until(gone(client, "/feeds/all.json", "第三篇"), "the deletion")
    for path in (f"{JIAOTONG}.json", f"{JIAOTONG}.rss", "/feeds/category/haixiadaobao.atom"):
        assert (await client.get(path)).status == 404
    assert b"haixiadaobao" not in await (await client.get("/feeds.opml")).read()
    assert titles(await items(client, f"{MINSHENG}.json")) == ["第二篇", "第一篇"]


async def test_a_moved_folder_takes_its_posts_along(client: TestClient, posts: Path) -> None:
    write_post(posts, "desk/2022-06-02-a.md", "文件夹里的一篇", date="2022-06-02 09:00:00 +0800")
    await until(showing(client, "/feeds/all.json", "文件夹里的一篇"), "the post in a folder")
    (posts / "desk").rename(posts.parent / "outside")
    await until(gone(client, "/feeds/all.json", "文件夹里的一篇"), "the folder moved out")


async def test_a_broken_post_is_skipped_and_named_while_others_publish(
    client: TestClient, posts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    broken = posts / "2022-06-03-broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\n<p>x</p>\n", encoding="utf-8")
    write_post(posts, "2022-06-03-fine.md", "好的一篇", date="2022-06-03 09:00:00 +0800")
    await until(showing(client, "/feeds/all.json", "好的一篇"), "the good post")
    assert any(
        "event=post_skipped" in record.getMessage() and str(broken) in record.getMessage()
        for record in caplog.records
    )
    broken.write_text(
        post_text("修好的一篇", "2022-06-04 09:00:00 +0800", "xiamenribao", "民生"),
        encoding="utf-8",
    )
    await until(showing(client, "/feeds/all.json", "修好的一篇"), "the fixed post")


async def test_editor_temp_files_and_other_files_are_ignored(
    client: TestClient, posts: Path
) -> None:
    for name in (
        ".2022-06-05-x.md.swp",
        "2022-06-05-x.md~",
        ".#2022-06-05-x.md",
        "#2022-06-05-x.md#",
        "2022-06-05-x.md.tmp",
        "2022-06-05-x.pdf",
        ".hidden/a.md",
    ):
        write_post(posts, name, f"临时 {name}", date="2022-06-05 09:00:00 +0800")
    write_post(posts, "2022-06-06-real.md", "真的一篇", date="2022-06-06 09:00:00 +0800")
    await until(showing(client, "/feeds/all.json", "真的一篇"), "the real post")
    assert titles(await items(client, "/feeds/all.json")) == [
        "真的一篇",
        "第三篇",
        "第二篇",
        "第一篇",
    ]


def test_the_watch_filter_passes_posts_and_folders_only(tmp_path: Path) -> None:
    (tmp_path / "2022").mkdir()
    accept = PostFilter(tmp_path)
    passed = {
        name: accept(Change.added, str(tmp_path / name))
        for name in (
            "a.md",
            "b.MARKDOWN",
            "c.html",
            "d.txt",
            "2022",
            "a.md~",
            ".a.md.swp",
            ".#a.md",
            "#a.md#",
            "a.md.tmp",
            "a.md___jb_tmp___",
            "a.pdf",
            "4913",
            ".git/a.md",
            "2022/.x/a.md",
        )
    }
    assert {name for name, ok in passed.items() if ok} == {
        "a.md",
        "b.MARKDOWN",
        "c.html",
        "d.txt",
        "2022",
    }
    # A deleted path may have been a folder of posts; a deleted temp file is still ignored.
    assert accept(Change.deleted, str(tmp_path / "old-folder"))
    assert not accept(Change.deleted, str(tmp_path / "a.md~"))


async def test_batches_are_applied_one_at_a_time_and_merge_while_one_runs(tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    batches: list[set[str]] = []
    running, peak = [0], [0]
    release = asyncio.Event()

    async def apply(paths: Any) -> None:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        batches.append({path.name for path in paths})
        if len(batches) == 1:
            await release.wait()  # the first publish is slow
        running[0] -= 1

    watcher = PostsWatcher(folder, 50, apply)
    task = asyncio.create_task(watcher.run())
    try:
        attempts = iter(range(1000))

        async def first_batch() -> bool:  # new files until the watch has started (one
            write_post(folder, f"a{next(attempts)}.md", "甲")  # rewritten this often never
            return bool(batches)  # holds still: never applied

        await until(first_batch, "the first batch")
        later = {f"{name}.md" for name in "bcde"}
        for name in sorted(later):
            write_post(folder, name, name)
            await asyncio.sleep(0.1)  # separate batches from the watcher

        async def all_waiting() -> bool:
            return later <= {Path(path).name for path in watcher._pending}

        await until(all_waiting, "the later files queued while the first batch runs")
        release.set()

        async def second_batch() -> bool:
            return len(batches) >= 2

        await until(second_batch, "the merged batch")
        assert batches[1] >= later and peak[0] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_burst_of_1000_new_files_is_absorbed_in_batches(
    client: TestClient, posts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="finews.feeds")
    for n in range(1000):
        write_post(
            posts,
            f"burst/2022-07-01-b{n:04d}.md",
            f"批量 {n}",
            date=f"2022-07-01 {n // 60 % 24:02d}:{n % 60:02d}:00 +0800",
            categories="burst",
            tags=f"批次{n % 4}",
        )

    async def all_in() -> bool:
        page = await (await client.get("/")).read()
        return "1003 篇".encode() in page and "1000 篇".encode() in page

    await until(all_in, "all 1,000 posts", BURST_POLL)
    last = parse_xml_feed(
        await (await client.get("/feeds/category/burst/page/50.atom")).read(), "atom10"
    )
    assert [entry.title for entry in last.entries] == [f"批量 {n}" for n in range(19, -1, -1)]
    builds = [r for r in caplog.records if "event=live_update " in r.getMessage()]
    assert 1 <= len(builds) < 100


async def test_publishing_only_touched_feeds_gives_the_bytes_of_a_full_build(
    client: TestClient, posts: Path, live_settings: Settings
) -> None:
    write_post(posts, "2022-06-07-a.md", "甲", date="2022-06-07 09:00:00 +0800", tags="民生 交通")
    write_post(
        posts,
        "2022-06-08-b.md",
        "乙",
        date="2022-06-08 09:00:00 +0800",
        categories="haixiadaobao xiamenribao",
        tags="新标签",
    )
    await until(showing(client, "/feeds/all.json", "乙"), "the new posts")
    (posts / "2022-05-03-third.md").unlink()
    write_post(
        posts, "2022-05-01-first.md", "第一篇（改）", date="2022-05-01 09:00:00 +0800", tags="交通"
    )
    await until(showing(client, "/feeds/all.json", "第一篇（改）"), "the edit")
    await until(gone(client, "/feeds/all.json", "第三篇"), "the deletion")
    live = client.app[PUBLISHER].edition
    assert live is not None
    fresh = load_posts(live_settings.replace(data__dir=str(posts.parent / "fresh-data")))
    shares = await shortlinks.post_share_links(client.app, fresh.posts())
    _, full = render_edition(Site.from_settings(live_settings), fresh, shares)
    assert live.docs.keys() == full.keys()
    assert {path: doc.body for path, doc in live.docs.items()} == {
        path: doc.body for path, doc in full.items()
    }
    fresh.close()


def test_a_revised_catalog_equals_one_built_from_scratch() -> None:
    """Random additions, edits (dates, categories, tags), removals: the feeds a revision
    gives are the feeds a full Catalog gives, post for post, in order."""
    rng = random.Random(5)
    site = Site.from_settings(load_settings(env={}).replace(site__url=SITE))
    terms = ["甲", "乙", "丙", "丁"]

    def random_post(n: int) -> Post:
        return sample_post(
            n % 50,
            key=f"p{n}.md",
            id=f"{SITE}/{n}",
            url=f"{SITE}/{n}.html",
            published=sample_post(rng.randrange(30)).published,
            categories=tuple(rng.sample(["a", "b", "c"], rng.randrange(3))),
            tags=tuple(rng.sample(terms, rng.randrange(4))),
        )

    posts = {f"p{n}.md": random_post(n) for n in range(60)}

    def ordered() -> list[Post]:
        return sorted(posts.values(), key=lambda p: (p.published, p.key), reverse=True)

    catalog = Catalog(site, ordered())
    for step in range(200):
        changes: dict[str, Post | None] = {}
        for _ in range(rng.randrange(1, 4)):
            n = rng.randrange(80)
            changes[f"p{n}.md"] = None if rng.random() < 0.3 else random_post(n)
        for key, changed in changes.items():
            if changed is None:
                posts.pop(key, None)
            else:
                posts[key] = changed
        catalog, _ = catalog.revised(site, ordered(), changes)
        expected = Catalog(site, ordered())
        assert [(f.kind, f.term, f.name, [p.key for p in f.posts]) for f in catalog] == [
            (f.kind, f.term, f.name, [p.key for p in f.posts]) for f in expected
        ], step
        assert catalog.by_key == expected.by_key


async def test_on_change_fires_for_the_changed_documents_of_touched_feeds_only(
    aiohttp_client: Callable[..., Any], live_settings: Settings, posts: Path
) -> None:
    calls: list[tuple[str, bytes]] = []

    async def on_change(app: web.Application, url: str, body: bytes, content_type: str) -> None:
        calls.append((url, body))

    client = await aiohttp_client(feeds_app(live_settings, on_change=on_change))
    await until(lambda: len(calls) == 5 * 3, "the first build's calls")
    calls.clear()
    write_post(posts, "2022-06-10-hooked.md", "钩子", date="2022-06-10 09:00:00 +0800")
    expected = {
        f"{SITE}{path}.{fmt}"
        for path in ("/feeds/all", "/feeds/category/xiamenribao", MINSHENG)
        for fmt in ("rss", "atom", "json")
    }
    await until(lambda: {url for url, _ in calls} >= expected, "the calls")
    assert sorted(url for url, _ in calls) == sorted(expected)
    for url, body in calls:
        assert await (await client.get(url.removeprefix(SITE))).read() == body
    calls.clear()
    write_post(posts, "2022-06-10-hooked.md", "钩子", date="2022-06-10 09:00:00 +0800")
    write_post(
        posts,
        "2022-06-11-marker.md",
        "标记",
        date="2022-06-11 09:00:00 +0800",
        categories="haixiadaobao",
        tags="交通",
    )
    await until(showing(client, "/feeds/all.json", "标记"), "the marker post")
    await until(lambda: len(calls) >= 9, "the marker's calls")
    # Rewriting a file with the same text changed no feed: only the marker's feeds fired.
    assert {url for url, _ in calls} == {
        f"{SITE}{path}.{fmt}"
        for path in ("/feeds/all", "/feeds/category/haixiadaobao", JIAOTONG)
        for fmt in ("rss", "atom", "json")
    }


async def test_archive_pages_of_touched_feeds_are_rebuilt_and_others_kept(
    aiohttp_client: Callable[..., Any], live_settings: Settings, posts: Path
) -> None:
    write_post(
        posts,
        "2022-04-30-zero.md",
        "第零篇",
        date="2022-04-30 09:00:00 +0800",
        categories="haixiadaobao",
        tags="交通",
    )
    client = await aiohttp_client(feeds_app(live_settings.replace(feeds__items_per_feed=1)))
    assert titles(await items(client, "/feeds/all/page/2.json")) == ["第二篇"]
    untouched = await client.get(f"{JIAOTONG}/page/2.json")
    assert titles(parse_json_feed(await untouched.read())["items"]) == ["第零篇"]
    write_post(posts, "2022-06-12-pushes.md", "挤下去", date="2022-06-12 09:00:00 +0800")
    await until(showing(client, "/feeds/all.json", "挤下去"), "the new post")
    kept = client.app[PUBLISHER].edition.archive._pages  # the new edition's LRU
    assert ("tag", "交通", 2) in kept and ("all", "", 2) not in kept
    assert titles(await items(client, "/feeds/all/page/2.json")) == ["第三篇"]
    assert titles(await items(client, f"{MINSHENG}/page/3.json")) == ["第一篇"]
    again = await client.get(f"{JIAOTONG}/page/2.json")
    assert again.headers["ETag"] == untouched.headers["ETag"]


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` by relative path, with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


async def test_a_follower_serves_what_the_builder_publishes(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    live_settings: Settings,
    posts: Path,
    tmp_path: Path,
) -> None:
    builder = await aiohttp_client(feeds_app(live_settings.replace(feeds__items_per_feed=2)))
    assert titles(await items(builder, "/feeds/all.json")) == ["第三篇", "第二篇"]
    follower_settings = make_settings(
        site__url=SITE,
        feeds__role="follower",
        posts__dir=str(tmp_path / "never-read"),
        data__dir=str(tmp_path / "follower-data"),
    )
    builders_files = files_of(posts)
    follower = await aiohttp_client(feeds_app(follower_settings))
    for path in (
        "/feeds/all.json",
        f"{MINSHENG}.atom",
        "/feeds.opml",
        "/",
        "/feeds/all/page/2.rss",
    ):
        mine, theirs = await builder.get(path), await follower.get(path)
        assert (mine.status, mine.headers["ETag"]) == (theirs.status, theirs.headers["ETag"])
        assert await mine.read() == await theirs.read()
    assert (await follower.get("/feeds/all/page/3.rss")).status == 404
    assert (await follower.get("/feeds/tag/nope.rss")).status == 404
    assert not (tmp_path / "follower-data").exists()  # it read no posts, made no index
    write_post(posts, "2022-06-09-followed.md", "跟上了", date="2022-06-09 09:00:00 +0800")
    await until(showing(follower, "/feeds/all.json", "跟上了"), "the new post at the follower")
    await until(showing(follower, f"{MINSHENG}.json", "跟上了"), "its tag feed")
    page2 = await follower.get("/feeds/all/page/2.json")
    assert titles(parse_json_feed(await page2.read())["items"]) == ["第二篇", "第一篇"]
    assert files_of(posts) == {
        **builders_files,
        "2022-06-09-followed.md":  # the builder's
        (posts / "2022-06-09-followed.md").read_bytes(),
    }  # dir, untouched
    assert not (tmp_path / "never-read").exists()
    assert json.loads(await (await follower.get("/feeds/all/page/9.json")).read())["detail"] == (
        "the feed of all posts has no page 9"
    )


async def test_a_restarted_builder_that_changed_nothing_still_hands_over_pages(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    live_settings: Settings,
    tmp_path: Path,
) -> None:
    settings = live_settings.replace(feeds__items_per_feed=2, feeds__watch=False)
    first = await aiohttp_client(feeds_app(settings))
    assert titles(await items(first, "/feeds/all/page/2.json")) == ["第一篇"]
    await first.close()
    again = await aiohttp_client(feeds_app(settings))  # same posts: stores nothing
    assert titles(await items(again, "/feeds/all/page/2.json")) == ["第一篇"]
    follower = await aiohttp_client(
        feeds_app(
            make_settings(
                site__url=SITE, feeds__role="follower", data__dir=str(tmp_path / "follower-data")
            )
        )
    )
    assert titles(await items(follower, "/feeds/all/page/2.json")) == ["第一篇"]
