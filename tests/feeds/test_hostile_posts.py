"""Hostile posts: whatever one file holds, the worst outcome is that this file is skipped
with a named reason, at load, in a live batch and in `finews check`; the others publish."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bench.corpus import MANIFEST, POSTS, generate
from feeds.catalog import Site
from feeds.dates import MAX_YEAR, MIN_YEAR, from_epoch, parse_date, to_epoch
from feeds.documents import feed_documents, make_page
from feeds.parse import DRAFT, POST, PROBLEM, ReadConfig, read_post
from feeds.post_index import FILE_NAME, PostIndex
from feeds.posts import LoadResult, load_posts
from feeds.publish import render_edition
from finews.app import create_app
from finews.config import load as load_settings
from finews.core.settings import Settings
from tests.feed_helpers import parse_json_feed, parse_xml_feed

SITE = "https://news.example.cn"
POLL = 10.0
BODY = "<p>正文第一段。</p>\n<p>第二段。</p>\n"
GOOD = "title: 好的一篇\ndate: 2022-05-24 13:46:42 +0800"
# Dates a feed cannot carry, as users write them (year 0 or 10000 once in UTC, years
# the RSS writer cannot write with four digits).
OUT_OF_RANGE = {
    "year0.md": "title: 元年\ndate: 0001-01-01 03:00:00 +0800",
    "year10000.md": "title: 万年\ndate: 9999-12-31 23:00:00 -1200",
    "year500.md": "title: 五百年\ndate: 0500-06-01 08:00:00 +0800",
    "updated.md": "title: 改过\ndate: 2022-05-24\nlast_modified_at: 9999-12-31T23:59:00-12:00",
    "0001-01-01-named.md": "title: 文件名日期",
}
BILLION_LAUGHS = "title: 笑\ndate: 2022-05-24\n" + "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]"]
    + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    + ["author: *a9"]
)
RECURSIVE = "title: 自指\ndate: 2022-05-24\ntags: &t [a, *t]"
FRIENDLY_ALIASES = "title: 复用\ndate: 2022-05-24\ntags: &t [民生, 交通]\nkeywords: *t"


def write(folder: Path, name: str, front: str, body: str = BODY) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front.strip()}\n---\n{body}", encoding="utf-8")
    return path


@pytest.fixture
def posts_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir()
    return folder


@pytest.fixture
def read(posts_dir: Path, tmp_path: Path) -> Callable[..., LoadResult]:
    def load_with(**overrides: Any) -> LoadResult:
        values = {
            "posts__dir": str(posts_dir),
            "data__dir": str(tmp_path / "data"),
            "site__url": SITE,
            **overrides,
        }
        return load_posts(load_settings(env={}).replace(**values))

    return load_with


def reasons(result: LoadResult, folder: Path) -> dict[str, str]:
    """File name (relative to `folder`) -> reason, of every skipped file."""
    found = {}
    for line in result.problems:
        path, _, reason = line.partition(": ")
        found[Path(path).relative_to(folder).as_posix()] = reason
    return found


def assert_every_format_reads(result: LoadResult) -> None:
    """Every subscription document of every feed parses in RSS, Atom and JSON Feed."""
    site = Site.from_settings(load_settings(env={}).replace(site__url=SITE))
    catalog, _ = render_edition(site, result, {})
    for feed in catalog:
        page = make_page(site, result, {}, feed, 1)
        assert page is not None
        docs = feed_documents(page)
        parse_xml_feed(docs["rss"], "rss20")
        parse_xml_feed(docs["atom"], "atom10")
        parse_json_feed(docs["json"])


# -- at load


def test_dates_no_feed_can_carry_are_skipped_with_a_named_reason(
    posts_dir: Path, read: Callable[..., LoadResult]
) -> None:
    for name, front in OUT_OF_RANGE.items():
        write(posts_dir, name, front)
    write(posts_dir, "good.md", GOOD)
    write(posts_dir, "edge.md", "title: 千年\ndate: 1000-01-01 08:00:00 +0800")  # 1000 in UTC
    write(posts_dir, "lmt.md", "title: 清朝\ndate: 1850-03-01 09:00:00")  # +08:05:43 then
    result = read()
    skipped = reasons(result, posts_dir)
    assert set(skipped) == set(OUT_OF_RANGE)
    assert all("date out of range: " in reason for reason in skipped.values()), skipped
    assert skipped["updated.md"].startswith("last_modified_at: date out of range: ")
    assert skipped["0001-01-01-named.md"].startswith("file name: date out of range: ")
    posts = {post.key: post for post in result.posts()}
    assert sorted(posts) == ["edge.md", "good.md", "lmt.md"]
    assert posts["lmt.md"].published.isoformat() == "1850-03-01T09:00:00+08:06"
    assert_every_format_reads(result)


def test_aliases_that_expand_beyond_the_budget_are_refused(
    posts_dir: Path, read: Callable[..., LoadResult]
) -> None:
    write(posts_dir, "laughs.md", BILLION_LAUGHS)
    write(posts_dir, "recursive.md", RECURSIVE)
    write(posts_dir, "friendly.md", FRIENDLY_ALIASES)
    write(posts_dir, "stars.md", "title: 星号 * 与 & 符号\ndate: 2022-05-24")
    result = read()
    skipped = reasons(result, posts_dir)
    assert set(skipped) == {"laughs.md", "recursive.md"}
    assert "aliases expand to more than 10000 YAML nodes" in skipped["laughs.md"]
    assert "recursive YAML alias" in skipped["recursive.md"]
    posts = {post.key: post for post in result.posts()}
    assert posts["friendly.md"].tags == ("民生", "交通")
    assert posts["stars.md"].title == "星号 * 与 & 符号"
    # the budget is a setting
    skipped = reasons(read(posts__max_front_matter_nodes=5), posts_dir)
    assert "aliases expand to more than 5 YAML nodes" in skipped["friendly.md"]


def test_a_file_larger_than_max_bytes_is_skipped(
    posts_dir: Path, read: Callable[..., LoadResult]
) -> None:
    write(posts_dir, "big.md", GOOD, "<p>" + "长" * 2000 + "</p>")  # 6 kB of text
    write(posts_dir, "small.md", "title: 小\ndate: 2022-05-23")
    result = read(posts__max_bytes=4096)
    skipped = reasons(result, posts_dir)
    assert list(skipped) == ["big.md"]
    assert skipped["big.md"].startswith("file too large: ")
    assert "posts.max_bytes = 4096" in skipped["big.md"]
    assert [post.key for post in result.posts()] == ["small.md"]
    assert [post.key for post in read().posts()] == ["big.md", "small.md"]  # 1 MB default


def test_symlinks_leading_outside_posts_dir_are_skipped(
    posts_dir: Path, tmp_path: Path, read: Callable[..., LoadResult]
) -> None:
    outside = tmp_path / "elsewhere"
    write(outside, "secret.md", "title: 外面的文件\ndate: 2022-05-20")
    write(outside, "folder/inner.md", "title: 外面的文件夹\ndate: 2022-05-21")
    write(posts_dir, "real.md", "title: 里面的文件\ndate: 2022-05-22")
    (posts_dir / "file-link.md").symlink_to(outside / "secret.md")
    (posts_dir / "folder-link").symlink_to(outside / "folder", target_is_directory=True)
    (posts_dir / "inside-link.md").symlink_to(posts_dir / "real.md")
    write(posts_dir, "desk/2022-05-23-a.md", "title: 桌面\ndate: 2022-05-23")
    (posts_dir / "desk" / "up").symlink_to(posts_dir, target_is_directory=True)  # a loop
    (posts_dir / "desk" / "self").symlink_to(posts_dir / "desk" / "self")  # ELOOP
    result = read()
    assert reasons(result, posts_dir) == {
        "file-link.md": "symlink leads outside posts.dir",
        "folder-link": "symlink leads outside posts.dir",
    }
    titles = sorted(post.title for post in result.posts())
    assert titles == ["桌面", "里面的文件", "里面的文件"]  # real.md and inside-link.md
    followed = read(posts__follow_external_symlinks=True)
    assert "外面的文件" in {post.title for post in followed.posts()}
    assert "外面的文件夹" in {post.title for post in followed.posts()}


def test_an_index_row_that_makes_no_post_is_a_problem_of_that_file(
    posts_dir: Path, tmp_path: Path, read: Callable[..., LoadResult]
) -> None:
    write(posts_dir, "good.md", GOOD)
    write(posts_dir, "odd.md", "title: 怪\ndate: 2022-05-23")
    read().close()
    db = sqlite3.connect(tmp_path / "data" / FILE_NAME)
    with db:  # as an index written by older code might hold it: year 0 once read back
        db.execute(
            "UPDATE posts SET published = ? WHERE key = 'odd.md'", (-62_135_600_000_000_000,)
        )
    db.close()
    result = read()
    assert [post.key for post in result.posts()] == ["good.md"]
    assert list(reasons(result, posts_dir)) == ["odd.md"]


def test_every_kind_of_the_corpus_hostile_posts_publishes_cleanly(tmp_path: Path) -> None:
    generate(tmp_path / "corpus", 600, k=6, seed=11)  # one of each adversarial kind
    manifest = json.loads((tmp_path / "corpus" / MANIFEST).read_text(encoding="utf-8"))
    hostile = {entry["file"] for entry in manifest["adversarial"]}
    assert len({entry["kind"] for entry in manifest["adversarial"]}) == 6
    settings = load_settings(env={}).replace(
        posts__dir=str(tmp_path / "corpus" / POSTS),
        data__dir=str(tmp_path / "data"),
        site__url=SITE,
    )
    result = load_posts(settings)
    assert result.problems == []
    published = {post.key: post for post in result.posts()}
    assert hostile <= set(published)
    assert all(
        post.summary and not post.summary.startswith(("■", "▲")) for post in published.values()
    )
    assert_every_format_reads(result)


# -- live, over real HTTP


@pytest.fixture
def live_settings(make_settings: Callable[..., Settings], posts_dir: Path) -> Settings:
    write(posts_dir, "2022-05-01-first.md", "title: 第一篇\ndate: 2022-05-01 09:00:00 +0800")
    return make_settings(site__url=SITE, posts__dir=str(posts_dir), feeds__watch_debounce=300)


async def until(check: Callable[[], Any], what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + POLL
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{what}: not seen within {POLL:.0f} s")
        await asyncio.sleep(0.02)


async def feed_items(client: TestClient) -> list[dict[str, Any]]:
    response = await client.get("/feeds/all.json")
    assert response.status == 200
    return parse_json_feed(await response.read())["items"]


async def test_a_start_with_hostile_files_and_nothing_stored_serves_the_good_posts(
    aiohttp_client: Callable[..., Any], live_settings: Settings, posts_dir: Path
) -> None:
    for name, front in OUT_OF_RANGE.items():
        write(posts_dir, name, front)
    write(posts_dir, "laughs.md", BILLION_LAUGHS)
    client = await aiohttp_client(create_app(live_settings))
    assert [item["title"] for item in await feed_items(client)] == ["第一篇"]


async def test_a_live_batch_with_a_hostile_post_publishes_the_others(
    aiohttp_client: Callable[..., Any],
    live_settings: Settings,
    posts_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    client = await aiohttp_client(create_app(live_settings))
    assert [item["title"] for item in await feed_items(client)] == ["第一篇"]
    write(posts_dir, "2022-06-01-a.md", "title: 甲\ndate: 2022-06-01 09:00:00 +0800")
    bad = write(posts_dir, "year0.md", OUT_OF_RANGE["year0.md"])
    laughs = write(posts_dir, "laughs.md", BILLION_LAUGHS)
    write(posts_dir, "2022-06-02-b.md", "title: 乙\ndate: 2022-06-02 09:00:00 +0800")

    async def both() -> bool:
        return {"甲", "乙"} <= {item["title"] for item in await feed_items(client)}

    await until(both, "the good posts of the batch")
    skipped = [r.getMessage() for r in caplog.records if "event=post_skipped" in r.getMessage()]
    assert any(f'file="{bad}" reason="date out of range: ' in line for line in skipped)
    assert any(f'file="{laughs}" reason="front matter aliases expand' in line for line in skipped)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_file_written_in_two_halves_is_never_published_half(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings], posts_dir: Path
) -> None:
    write(posts_dir, "2022-05-01-first.md", "title: 第一篇\ndate: 2022-05-01 09:00:00 +0800")
    settings = make_settings(site__url=SITE, posts__dir=str(posts_dir), feeds__watch_debounce=1000)
    client = await aiohttp_client(create_app(settings))
    assert len(await feed_items(client)) == 1
    seen: list[str] = []

    async def watch_feed() -> None:
        while True:
            seen.extend(
                item["summary"] for item in await feed_items(client) if item["title"] == "分两次写"
            )
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch_feed())
    try:
        path = posts_dir / "2022-06-01-halves.md"
        with path.open("w", encoding="utf-8") as fh:  # the way a slow copy writes
            fh.write("---\ntitle: 分两次写\ndate: 2022-06-01 09:00:00 +0800\n---\n<p>前半")
            fh.flush()
            await asyncio.sleep(0.2)  # the watcher sees this half, well within the window
            fh.write("段，后半段。</p>\n")

        async def whole() -> bool:
            return "前半段，后半段。" in seen

        await until(whole, "the whole post")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    assert set(seen) == {"前半段，后半段。"}


async def test_a_file_that_keeps_changing_is_published_once_it_settles(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings], posts_dir: Path
) -> None:
    write(posts_dir, "2022-05-01-first.md", "title: 第一篇\ndate: 2022-05-01 09:00:00 +0800")
    settings = make_settings(site__url=SITE, posts__dir=str(posts_dir), feeds__watch_debounce=500)
    client = await aiohttp_client(create_app(settings))
    assert len(await feed_items(client)) == 1  # loaded: what follows is live
    path = posts_dir / "2022-06-01-growing.md"
    shown: set[str] = set()
    for n in range(1, 11):  # a new version every 0.1 s, for twice the window
        write(posts_dir, path.name, f"title: 版本{n}\ndate: 2022-06-01 09:00:00 +0800")
        shown.update(item["title"] for item in await feed_items(client))
        await asyncio.sleep(0.1)

    async def last() -> bool:
        titles = {item["title"] for item in await feed_items(client)}
        shown.update(titles)
        return "版本10" in titles

    await until(last, "the settled version")
    assert shown - {"第一篇"} == {"版本10"}


# -- finews check


def test_finews_check_names_each_hostile_file_and_exits_1_without_a_traceback(
    posts_dir: Path, tmp_path: Path
) -> None:
    for name, front in OUT_OF_RANGE.items():
        write(posts_dir, name, front)
    write(posts_dir, "laughs.md", BILLION_LAUGHS)
    write(posts_dir, "big.md", GOOD, "<p>" + "长" * 2000 + "</p>")
    write(tmp_path / "elsewhere", "x.md", GOOD)
    (posts_dir / "link.md").symlink_to(tmp_path / "elsewhere" / "x.md")
    write(posts_dir, "good.md", GOOD)
    env = {key: value for key, value in os.environ.items() if not key.startswith("FINEWS_")}
    env.update(
        FINEWS_POSTS__DIR=str(posts_dir),
        FINEWS_DATA__DIR=str(tmp_path / "data"),
        FINEWS_POSTS__MAX_BYTES="4096",
    )
    result = subprocess.run(
        [sys.executable, "-m", "finews", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "posts: 1 in" in result.stdout
    expected = {
        **dict.fromkeys(OUT_OF_RANGE, "date out of range: "),
        "laughs.md": "front matter aliases expand",
        "big.md": "file too large: ",
        "link.md": "symlink leads outside posts.dir",
    }
    for name, reason in expected.items():
        assert any(
            line.startswith(f"problem: {posts_dir / name}: ") and reason in line
            for line in result.stdout.splitlines()
        ), (name, result.stdout)
    assert f"problems: {len(expected)}" in result.stdout


# -- properties


ZONE = ZoneInfo("Asia/Shanghai")
WRITTEN_DATES = st.from_regex(
    r"\d{1,5}[-/]\d{1,2}[-/]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,7})?)?)?"
    r" ?([+-]\d{2}:?\d{2}|Z|UTC)?",
    fullmatch=True,
)
DATE_VALUES = st.one_of(
    WRITTEN_DATES,
    st.text(max_size=40),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.datetimes(
        timezones=st.builds(
            timezone,
            st.timedeltas(
                min_value=timedelta(hours=-23, minutes=-59),
                max_value=timedelta(hours=23, minutes=59),
            ),
        )
    ),
)


@hsettings(derandomize=True, max_examples=400, deadline=None)
@given(DATE_VALUES)
def test_parse_date_gives_a_date_every_format_carries_or_a_value_error(value: Any) -> None:
    try:
        moment = parse_date(value, ZONE)
    except ValueError as exc:
        assert str(exc)
        return
    assert moment.utcoffset() % timedelta(minutes=1) == timedelta(0)
    for year in (moment.year, moment.astimezone(UTC).year):
        assert MIN_YEAR <= year <= MAX_YEAR
    back = from_epoch(*to_epoch(moment))
    assert back == moment and back.utcoffset() == moment.utcoffset()
    assert datetime.fromisoformat(back.isoformat()) == moment  # RFC 3339
    assert len(back.strftime("%Y")) == 4  # RFC 822 as feedgen writes


KEYS = [
    "title",
    "date",
    "last_modified_at",
    "categories",
    "category",
    "tags",
    "tag",
    "author",
    "excerpt",
    "description",
    "image",
    "slug",
    "permalink",
    "id",
    "infoCode",
    "published",
]
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=30),
        DATE_VALUES.filter(
            lambda v: (
                not isinstance(v, datetime) or v.tzinfo is None or isinstance(v.tzinfo, timezone)
            )
        ),
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)
FRONT_MATTER = st.one_of(
    st.text(max_size=300),
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), VALUES, max_size=8).map(
        lambda meta: yaml.safe_dump(meta, allow_unicode=True)
    ),
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("posts")


@hsettings(
    derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(front=FRONT_MATTER, body=st.text(max_size=200))
def test_any_front_matter_gives_a_post_a_draft_or_a_named_reason(
    scratch: Path, front: str, body: str
) -> None:
    path = scratch / "2022-05-24-any.md"
    path.write_text(f"---\n{front}\n---\n{body}", encoding="utf-8", errors="surrogatepass")
    config = ReadConfig.from_settings(
        load_settings(env={}).replace(posts__dir=str(scratch), site__url=SITE)
    )
    record = read_post(str(path), path.name, config)
    assert record.state in (POST, DRAFT, PROBLEM)
    if record.state == PROBLEM:
        assert record.problem and not record.problem.startswith("unexpected"), record.problem
    if record.state == POST:
        post = LoadResult(config, PostIndex(str(scratch / "index"), "x"), 1)._post(record)
        assert post.title and post.url.startswith(SITE)
        assert MIN_YEAR <= post.published.astimezone(UTC).year <= MAX_YEAR
