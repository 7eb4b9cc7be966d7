"""Reading Jekyll-style posts: front-matter forms, dates, problems, URLs, ids, the index."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from feeds.model import Post
from feeds.names import category_name, category_names
from feeds.posts import LoadResult, load_posts
from finews.config import load as load_settings
from finews.core.settings import Settings, SettingsError
from tests.envs import clean_env

SAMPLE_POSTS = Path(__file__).resolve().parents[2] / "content" / "posts"
CST = timezone(timedelta(hours=8))
BODY = "<p>正文第一段。</p>\n<p>第二段。</p>\n"

MakeSettings = Callable[..., Settings]


@pytest.fixture
def posts_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir()
    return folder


@pytest.fixture
def make_settings(posts_dir: Path, tmp_path: Path) -> MakeSettings:
    """Settings reading `posts_dir`, indexing under tmp_path/data; overrides as section__key."""

    def make(**overrides: Any) -> Settings:
        values = {
            "posts__dir": str(posts_dir),
            "data__dir": str(tmp_path / "data"),
            "site__url": "https://news.example.cn",
        }
        values.update(overrides)
        return load_settings(env={}).replace(**values)

    return make


@pytest.fixture
def read(make_settings: MakeSettings) -> Callable[..., LoadResult]:
    def load_with(**overrides: Any) -> LoadResult:
        return load_posts(make_settings(**overrides))

    return load_with


def write(folder: Path, name: str, front: str, body: str = BODY) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front.strip()}\n---\n{body}", encoding="utf-8")
    return path


def only(result: LoadResult) -> Post:
    assert result.problems == []
    (post,) = result.posts()
    return post


# -- the sample post


def test_sample_post_loads_with_its_jekyll_fields(make_settings: MakeSettings) -> None:
    result = load_posts(make_settings(posts__dir=str(SAMPLE_POSTS)))
    assert result.problems == []
    post = {p.key: p for p in result.posts()}["000_97745e72ec4a64ab.txt"]
    assert post.title == "十大提升 让文明成果看得见摸得着"
    assert post.published == datetime(2022, 5, 24, 13, 46, 42, tzinfo=CST)
    assert post.published.isoformat() == "2022-05-24T13:46:42+08:00"
    assert post.updated == post.published
    assert post.categories == ("shamenwanbao",)
    assert post.tags == ("厦门晚报新闻",)
    assert post.info_code == "NW202205242389705455"
    assert post.url == ("https://news.example.cn/shamenwanbao/2022/05/24/000_97745e72ec4a64ab.html")
    assert post.id == post.url
    assert post.summary.startswith("先谋而后动，厚积而薄发。")  # the photo captions skipped
    html = result.content_html(post)
    assert html.startswith("<p>■思明区将探索建立常态化长效化运行机制")
    assert 'href="https://finews.withounder.com/category/shamenwanbao.html"' in html
    assert category_name(category_names(make_settings()), "shamenwanbao") == "厦门晚报"
    assert category_name(category_names(make_settings()), "unknown-slug") == "unknown-slug"


def test_posts_are_newest_first_then_by_key(posts_dir: Path, read: Callable) -> None:
    write(posts_dir, "b.md", "title: B\ndate: 2022-05-24 10:00:00 +0800")
    write(posts_dir, "a.md", "title: A\ndate: 2022-05-24 10:00:00 +0800")
    write(posts_dir, "old.md", "title: Old\ndate: 2021-01-01 10:00:00 +0800")
    write(posts_dir, "utc.md", "title: UTC\ndate: 2022-05-24 03:00:00 +0000")  # 11:00 +08
    assert [p.key for p in read().posts()] == ["utc.md", "b.md", "a.md", "old.md"]


# -- front matter forms


@pytest.mark.parametrize(
    ("front", "categories", "tags"),
    [
        ("categories: shamenwanbao\ntags: 厦门晚报新闻", ("shamenwanbao",), ("厦门晚报新闻",)),
        ("categories: a b\ntags: 厦门 近邻 社区治理", ("a", "b"), ("厦门", "近邻", "社区治理")),
        ("categories: [a, b]\ntags: [厦门, 近邻]", ("a", "b"), ("厦门", "近邻")),
        ("categories:\n  - a\n  - b\ntags:\n  - 厦门\n  - 近 邻", ("a", "b"), ("厦门", "近 邻")),
        ("category: a\ntag: 厦门", ("a",), ("厦门",)),
        ("category: two words\ntag: 两个 词", ("two words",), ("两个 词",)),
        ("category: a\ncategories: b c", ("a", "b", "c"), ()),
        ("categories: a b a\ntags: [x, x, 2022, true]", ("a", "b"), ("x", "2022", "true")),
        ("categories:\ntags: []", (), ()),
        ("layout: post", (), ()),
    ],
)
def test_jekyll_category_and_tag_forms(
    posts_dir: Path, read: Callable, front: str, categories: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    write(posts_dir, "p.md", f"title: 标题\ndate: 2022-05-24 13:46:42 +0800\n{front}")
    post = only(read())
    assert (post.categories, post.tags) == (categories, tags)


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2022-05-24 13:46:42 +0800", datetime(2022, 5, 24, 13, 46, 42, tzinfo=CST)),
        (
            "2022-05-24 13:46:42 -0500",
            datetime(2022, 5, 24, 13, 46, 42, tzinfo=timezone(timedelta(hours=-5))),
        ),
        ("2022-05-24T13:46:42+08:00", datetime(2022, 5, 24, 13, 46, 42, tzinfo=CST)),
        ("2022-05-24 13:46:42.250 +08:00", datetime(2022, 5, 24, 13, 46, 42, 250000, tzinfo=CST)),
        ("2022-05-24 05:46:42 Z", datetime(2022, 5, 24, 5, 46, 42, tzinfo=UTC)),
        ("2022-05-24 13:46:42", datetime(2022, 5, 24, 13, 46, 42, tzinfo=CST)),
        ('"2022/5/24 13:46"', datetime(2022, 5, 24, 13, 46, tzinfo=CST)),
        ("2022-05-24", datetime(2022, 5, 24, tzinfo=CST)),
        ('"Tue, 24 May 2022 13:46:42 +0800"', datetime(2022, 5, 24, 13, 46, 42, tzinfo=CST)),
    ],
)
def test_date_forms_keep_their_offset(
    posts_dir: Path, read: Callable, date: str, expected: datetime
) -> None:
    write(posts_dir, "p.md", f"title: 标题\ndate: {date}")
    post = only(read())
    assert post.published == expected
    assert post.published.utcoffset() == expected.utcoffset()


def test_date_without_offset_is_in_the_site_timezone(posts_dir: Path, read: Callable) -> None:
    write(posts_dir, "p.md", "title: 标题\ndate: 2022-05-24 13:46:42")
    berlin = only(read(site__timezone="Europe/Berlin")).published
    assert berlin.isoformat() == "2022-05-24T13:46:42+02:00"
    shanghai = only(read()).published
    assert shanghai.isoformat() == "2022-05-24T13:46:42+08:00"


def test_missing_date_falls_back_to_the_file_name(posts_dir: Path, read: Callable) -> None:
    write(posts_dir, "2022/2022-06-10-jimei-library.md", "title: 集美")
    write(posts_dir, "2022-06-11-dated.md", "title: 日期优先\ndate: 2022-07-01 09:00:00 +0800")
    posts = {p.key: p for p in read().posts()}
    assert (
        posts["2022/2022-06-10-jimei-library.md"].published.isoformat()
        == "2022-06-10T00:00:00+08:00"
    )
    assert posts["2022-06-11-dated.md"].published.isoformat() == "2022-07-01T09:00:00+08:00"


def test_unpublished_posts_are_skipped_silently(posts_dir: Path, read: Callable) -> None:
    write(posts_dir, "draft.md", "title: 草稿\ndate: 2022-05-24\npublished: false")
    write(posts_dir, "live.md", "title: 正式\ndate: 2022-05-24\npublished: true")
    result = read()
    assert [p.key for p in result.posts()] == ["live.md"]
    assert result.problems == []


def test_last_modified_at_moves_updated_never_published(posts_dir: Path, read: Callable) -> None:
    write(
        posts_dir,
        "edited.md",
        "title: 改过\ndate: 2022-05-24 13:46:42 +0800\nlast_modified_at: 2022-06-01 08:00:00 +0800",
    )
    write(
        posts_dir,
        "odd.md",
        "title: 早于发布\ndate: 2022-05-24 13:46:42 +0800\nlast_modified_at: 2020-01-01",
    )
    posts = {p.key: p for p in read().posts()}
    assert posts["edited.md"].published.isoformat() == "2022-05-24T13:46:42+08:00"
    assert posts["edited.md"].updated.isoformat() == "2022-06-01T08:00:00+08:00"
    assert posts["odd.md"].updated == posts["odd.md"].published


def test_author_excerpt_description_and_image(posts_dir: Path, read: Callable) -> None:
    write(
        posts_dir,
        "a.md",
        "title: A\ndate: 2022-05-24\nauthor: 记者 吴晓菁\n"
        "excerpt: <b>编辑</b>摘要\nimage: /img/封面.jpg",
    )
    write(
        posts_dir,
        "b.md",
        "title: B\ndate: 2022-05-23\nauthor:\n  name: 陈嘉新\n"
        "description: 描述\nimage: //cdn.example.com/b.jpg",
    )
    write(
        posts_dir,
        "c.md",
        "title: C\ndate: 2022-05-22\nauthor: [甲, {name: 乙}]\nimage: javascript:alert(1)",
    )
    posts = {p.key: p for p in read().posts()}
    assert (posts["a.md"].author, posts["a.md"].summary) == ("记者 吴晓菁", "编辑摘要")
    assert posts["a.md"].image == "https://news.example.cn/img/%E5%B0%81%E9%9D%A2.jpg"
    assert (posts["b.md"].author, posts["b.md"].summary) == ("陈嘉新", "描述")
    assert posts["b.md"].image == "https://cdn.example.com/b.jpg"
    assert (posts["c.md"].author, posts["c.md"].image) == ("甲, 乙", None)
    assert posts["c.md"].summary == "正文第一段。"


def test_summary_length_setting(posts_dir: Path, read: Callable) -> None:
    write(posts_dir, "p.md", "title: 标题\ndate: 2022-05-24", body="<p>" + "长" * 50 + "</p>")
    assert only(read(feeds__summary_length=10)).summary == "长" * 10 + "…"


def test_bom_and_crlf_are_fine(posts_dir: Path, read: Callable) -> None:
    text = (
        "---\r\ntitle: 视窗文件\r\ndate: 2022-05-24 13:46:42 +0800\r\ntags: 甲 乙\r\n---\r\n"
        "<p>第一段\r\n续行</p>\r\n\r\n[链接](/a.html)\r\n"
    )
    (posts_dir / "windows.md").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = read()
    post = only(result)
    assert (post.title, post.tags, post.summary) == ("视窗文件", ("甲", "乙"), "第一段 续行")
    assert "\r" not in result.content_html(post)


def test_xml_forbidden_characters_never_cost_a_post(posts_dir: Path, read: Callable) -> None:
    (posts_dir / "ctrl.md").write_text(
        '---\ntitle: "十大\x0b提升\x01"\ndate: 2022-05-24 13:46:42 +0800\ntags: 厦门\x1f晚报\n---\n'
        "<p>正文\x0c带\x1f控制字符&#1;</p>\n",
        encoding="utf-8",
    )
    result = read()
    post = only(result)
    assert (post.title, post.tags, post.summary) == ("十大提升", ("厦门晚报",), "正文带控制字符")
    assert result.content_html(post) == "<p>正文带控制字符</p>\n"


def test_hostile_title_becomes_plain_text(posts_dir: Path, read: Callable) -> None:
    write(
        posts_dir,
        "p.md",
        "title: 'A&B <b>粗体</b> &amp; <script>alert(1)</script>'\ndate: 2022-05-24",
    )
    assert only(read()).title == "A&B 粗体 &"


# -- problems


BAD_POSTS = {
    "broken-yaml.md": ('---\ntitle: "未闭合\ndate: 2022-05-24\n---\n正文', "broken YAML"),
    "no-title.md": ("---\ndate: 2022-05-24\n---\n正文", "no title"),
    "empty-title.md": ('---\ntitle: "  "\ndate: 2022-05-24\n---\n正文', "no title"),
    "no-date.md": ("---\ntitle: 没有日期\n---\n正文", "no date"),
    "bad-date.md": ("---\ntitle: 坏日期\ndate: yesterday\n---\n正文", "date: 'yesterday'"),
    "bad-edit-date.md": (
        "---\ntitle: 坏\ndate: 2022-05-24\nlast_modified_at: soon\n---\n",
        "last_modified_at: 'soon'",
    ),
    "empty.md": ("", "empty file"),
    "blank.md": (" \n\n", "empty file"),
    "no-front-matter.md": ("只是一段文字\n", "no front matter"),
    "unclosed.md": ("---\ntitle: 没有结束\ndate: 2022-05-24\n正文", "not closed"),
    "list.md": ("---\n- a\n- b\n---\n正文", "not a mapping"),
    "title-list.md": ("---\ntitle: [a, b]\ndate: 2022-05-24\n---\n", "title is a list"),
    "offsite.md": (
        "---\ntitle: 外链\ndate: 2022-05-24\npermalink: https://evil.example/x\n---\n",
        "not a path on this site",
    ),
    "bad-permalink.md": (
        "---\ntitle: 占位符\ndate: 2022-05-24\npermalink: /:nope/\n---\n",
        "unknown placeholder :nope",
    ),
}


def test_each_bad_post_is_named_with_its_reason_and_the_rest_publish(
    posts_dir: Path, read: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    for name, (text, _) in BAD_POSTS.items():
        (posts_dir / name).write_text(text, encoding="utf-8")
    (posts_dir / "latin1.md").write_bytes(
        "---\ntitle: café\ndate: 2022-05-24\n---\n".encode("latin-1")
    )
    write(posts_dir, "good.md", "title: 好文章\ndate: 2022-05-24 13:46:42 +0800")
    with caplog.at_level(logging.WARNING, logger="finews.feeds"):
        result = read()
    assert [p.key for p in result.posts()] == ["good.md"]
    expected = {
        **{name: reason for name, (_, reason) in BAD_POSTS.items()},
        "latin1.md": "not UTF-8 (byte 0xe9",
    }
    assert len(result.problems) == len(expected)
    for line in result.problems:
        name = line.split(": ", 1)[0].rsplit("/", 1)[1]
        assert line.startswith(f"{posts_dir / name}: ")
        assert expected[name] in line, line
        assert "\n" not in line
    skipped = [r.getMessage() for r in caplog.records if "event=post_skipped" in r.getMessage()]
    assert len(skipped) == len(expected)
    assert any(f'file="{posts_dir / "no-title.md"}" reason="no title"' in m for m in skipped)


def test_missing_posts_directory_is_a_problem(tmp_path: Path, read: Callable) -> None:
    result = read(posts__dir=str(tmp_path / "nowhere"))
    assert result.posts() == []
    assert result.problems == [f"{tmp_path / 'nowhere'}: posts directory not found"]


def test_hidden_and_other_files_are_ignored(posts_dir: Path, read: Callable) -> None:
    write(posts_dir, ".hidden.md", "title: 隐藏\ndate: 2022-05-24")
    write(posts_dir, ".git/x.md", "title: 仓库\ndate: 2022-05-24")
    (posts_dir / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (posts_dir / "notes.yml").write_text("a: b\n")
    write(posts_dir, "Upper.MD", "title: 大写扩展名\ndate: 2022-05-24")
    write(posts_dir, "page.html", "title: HTML\ndate: 2022-05-23")
    write(posts_dir, "old.markdown", "title: markdown\ndate: 2022-05-22")
    result = read()
    assert result.problems == []
    assert [p.key for p in result.posts()] == ["Upper.MD", "page.html", "old.markdown"]


def test_broken_links_and_link_loops_do_not_stop_a_load(posts_dir: Path, read: Callable) -> None:
    write(posts_dir, "ok.md", "title: 好\ndate: 2022-05-24")
    (posts_dir / "broken-link").symlink_to(posts_dir / "missing-folder", target_is_directory=True)
    write(posts_dir, "loop/inner.md", "title: 内\ndate: 2022-05-23")
    (posts_dir / "loop" / "self.md").symlink_to(posts_dir / "loop" / "self.md")  # ELOOP
    result = read()
    assert sorted(p.key for p in result.posts()) == ["loop/inner.md", "ok.md"]
    assert result.problems == []


def test_finews_check_lists_problems_and_exits_1(posts_dir: Path, tmp_path: Path) -> None:
    write(posts_dir, "good.md", "title: 好\ndate: 2022-05-24")
    (posts_dir / "bad.md").write_text("---\ntitle: 无日期\n---\n", encoding="utf-8")
    env = clean_env(FINEWS_POSTS__DIR=str(posts_dir), FINEWS_DATA__DIR=str(tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, "-m", "finews", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "posts: 1 in" in result.stdout
    assert f"problem: {posts_dir / 'bad.md'}: no date" in result.stdout
    (posts_dir / "bad.md").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "finews", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "problems: 0" in result.stdout


# -- URLs and ids


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("date", "/shamenwanbao/2022/05/04/Hello_World.html"),
        ("pretty", "/shamenwanbao/2022/05/04/Hello_World/"),
        ("ordinal", "/shamenwanbao/2022/124/Hello_World.html"),
        ("none", "/shamenwanbao/Hello_World.html"),
        ("/:year/:i_month/:i_day/:slug:output_ext", "/2022/5/4/hello-world.html"),
        (
            "/news/:short_year/:short_month/:hour:minute:second/:title",
            "/news/22/May/134642/Hello_World",
        ),
        ("/:slugified_categories/:long_month/:title/", "/shamenwanbao/May/Hello_World/"),
    ],
)
def test_permalink_patterns(posts_dir: Path, read: Callable, pattern: str, path: str) -> None:
    write(
        posts_dir,
        "2022-05-04-Hello_World.md",
        "title: 标题\ndate: 2022-05-04 13:46:42 +0800\ncategories: ShaMenWanBao",
    )
    assert only(read(feeds__permalink=pattern)).url == "https://news.example.cn" + path


def test_chinese_slugs_categories_and_own_permalinks_are_percent_encoded(
    posts_dir: Path, read: Callable
) -> None:
    write(posts_dir, "2022-05-24-厦门 新闻!.md", "title: 一\ndate: 2022-05-24\ncategories: 本地")
    write(posts_dir, "own.md", "title: 二\ndate: 2022-05-23\npermalink: /专题/鹭岛.html")
    write(posts_dir, "pattern.md", "title: 三\ndate: 2022-05-22\npermalink: :year/special/")
    write(posts_dir, "slug.md", "title: 四\ndate: 2022-05-21\nslug: my custom slug")
    urls = {p.key: p.url for p in read(site__url="https://news.example.cn/site/").posts()}
    assert urls == {
        "2022-05-24-厦门 新闻!.md": "https://news.example.cn/site/%E6%9C%AC%E5%9C%B0/2022/05/24/"
        "%E5%8E%A6%E9%97%A8-%E6%96%B0%E9%97%BB!.html",
        "own.md": "https://news.example.cn/site/%E4%B8%93%E9%A2%98/%E9%B9%AD%E5%B2%9B.html",
        "pattern.md": "https://news.example.cn/site/2022/special/",
        "slug.md": "https://news.example.cn/site/2022/05/21/my-custom-slug.html",
    }


def test_unknown_permalink_placeholder_is_a_settings_error() -> None:
    with pytest.raises(
        SettingsError, match=re.escape("feeds.permalink: unknown placeholder :yaer")
    ):
        load_settings(env={"FINEWS_FEEDS__PERMALINK": "/:yaer/:title/"})
    with pytest.raises(SettingsError, match=re.escape("feeds.permalink: expected date, pretty")):
        load_settings(env={"FINEWS_FEEDS__PERMALINK": "datum"})
    with pytest.raises(SettingsError, match=re.escape("feeds.summary_length: expected a positive")):
        load_settings(env={"FINEWS_FEEDS__SUMMARY_LENGTH": "0"})


def test_ids_survive_title_edits_and_front_matter_id_survives_renames(
    posts_dir: Path, read: Callable
) -> None:
    plain = write(posts_dir, "2022-05-24-plain.md", "title: 原标题\ndate: 2022-05-24")
    pinned = write(
        posts_dir,
        "pinned.md",
        "title: 原标题\ndate: 2022-05-23\nid: urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    )
    write(posts_dir, "number.md", "title: 编号\ndate: 2022-05-22\nid: 12345")
    before = {p.key: p.id for p in read().posts()}
    assert before["2022-05-24-plain.md"] == "https://news.example.cn/2022/05/24/plain.html"
    assert before["pinned.md"] == "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    assert before["number.md"] == "https://news.example.cn/12345"
    write(posts_dir, plain.name, "title: 新标题，改过了\ndate: 2022-05-24")
    pinned.rename(posts_dir / "renamed.md")
    after = {p.key: (p.id, p.title) for p in read().posts()}
    assert after["2022-05-24-plain.md"] == (before["2022-05-24-plain.md"], "新标题，改过了")
    assert after["renamed.md"][0] == before["pinned.md"]


def test_two_posts_with_one_id_publish_once_and_name_the_duplicate(
    posts_dir: Path, read: Callable
) -> None:
    write(posts_dir, "first.md", "title: 原文\ndate: 2022-05-24\nid: tag:news.example.cn,2022:1")
    write(posts_dir, "copy.md", "title: 副本\ndate: 2022-05-25\nid: tag:news.example.cn,2022:1")
    result = read()
    assert [p.key for p in result.posts()] == ["first.md"]
    assert result.problems == [
        f"{posts_dir / 'copy.md'}: same id as {posts_dir / 'first.md'}: tag:news.example.cn,2022:1"
    ]
    (posts_dir / "first.md").unlink()
    assert result.update([], [posts_dir / "first.md"]) == {"first.md", "copy.md"}
    assert [p.key for p in result.posts()] == ["copy.md"]
    assert result.problems == []


@pytest.mark.parametrize(
    ("front", "body", "code"),
    [
        (
            "",
            "<http://x/html_News/NewsShare.html?infoCode=NW202205242389705455>",
            "NW202205242389705455",
        ),
        (
            "infoCode: NW202201010000000001",
            "[分享](http://x/NewsShare.html?infoCode=NW202205242389705455)",
            "NW202201010000000001",
        ),
        (
            "infoCode: nw202201010000000001",
            "<http://x/NewsShare.html?infoCode=NW202205242389705455>",
            "NW202205242389705455",
        ),
        ("infoCode: 12345", "无链接", None),
        ("", "<http://x/NewsShare.html?infoCode=NW2022052423>", None),
        ("", "http://x/NewsShare.html?infoCode=NW20220524238970545599 长了", None),
        (
            "",
            "<http://x/NewsShare.html?infoCode=bad> 然后 "
            "<http://x/NewsShare.html?infoCode=AB202205242389705455>",
            "AB202205242389705455",
        ),
        ("", "没有分享链接", None),
    ],
)
def test_info_code_rules(
    posts_dir: Path, read: Callable, front: str, body: str, code: str | None
) -> None:
    write(posts_dir, "p.md", f"title: 标题\ndate: 2022-05-24\n{front}", body=body)
    assert only(read()).info_code == code


# -- the persistent index and updates


def test_restart_reuses_the_index_and_rereads_only_changed_files(
    posts_dir: Path, read: Callable
) -> None:
    kept = write(posts_dir, "kept.md", "title: 旧标题AA\ndate: 2022-05-24")
    edited = write(posts_dir, "edited.md", "title: 旧标题BB\ndate: 2022-05-23")
    gone = write(posts_dir, "gone.md", "title: 将删除\ndate: 2022-05-22")
    first = read()
    assert first.content_html(first.posts()[0]) == BODY
    first.close()
    # Same size and mtime: only the index can still know the old title and body.
    stat = kept.stat()
    write(posts_dir, "kept.md", "title: 新标题CC\ndate: 2022-05-24", body=BODY.replace("第", "首"))
    os.utime(kept, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    write(posts_dir, "edited.md", "title: 新标题DD\ndate: 2022-05-23")
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    gone.unlink()
    second = read()
    titles = {p.key: p.title for p in second.posts()}
    assert titles == {"kept.md": "旧标题AA", "edited.md": "新标题DD"}
    assert second.content_html(second.posts()[0]) == BODY
    assert second.posts() == [p for p in first.posts() if p.key == "kept.md"] + [
        p for p in second.posts() if p.key == "edited.md"
    ]


def test_a_body_that_vanished_before_rendering_is_empty_and_logged(
    posts_dir: Path, read: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    write(posts_dir, "p.md", "title: 标题\ndate: 2022-05-24")
    result = read()
    (posts_dir / "p.md").unlink()
    with caplog.at_level(logging.WARNING, logger="finews.feeds"):
        assert result.content_html(result.posts()[0]) == ""
    assert f'event=post_body_unreadable file="{posts_dir / "p.md"}"' in caplog.text


def test_changed_settings_or_a_broken_index_mean_a_fresh_read(
    posts_dir: Path, read: Callable, tmp_path: Path
) -> None:
    write(posts_dir, "p.md", "title: 标题\ndate: 2022-05-24")
    assert only(read()).url.startswith("https://news.example.cn/")
    assert only(read(site__url="https://other.example")).url.startswith("https://other.example/")
    (tmp_path / "data" / "posts-index.sqlite3").write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "data" / f"posts-index.sqlite3{suffix}").unlink(missing_ok=True)
    assert only(read()).title == "标题"


def test_cold_and_warm_loads_give_equal_posts_at_scale(posts_dir: Path, read: Callable) -> None:
    """Enough posts to use worker processes; the restart gives the very same Posts."""
    for i in range(1500):
        write(
            posts_dir,
            f"2022/{i % 7}/2022-05-{i % 28 + 1:02d}-post{i}.md",
            f"title: 第{i}篇\ndate: 2022-05-{i % 28 + 1:02d} {i % 24:02d}:00:00 +0800\n"
            f"categories: cat{i % 5}\ntags: 标签{i % 3} 厦门",
            body=f"<p>第{i}篇正文。</p>\n\n<http://x/NewsShare.html?infoCode=NW20220524{i:010d}>",
        )
    (posts_dir / "2022" / "broken.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    cold = read()
    warm = read()
    assert len(cold.posts()) == 1500
    assert cold.posts() == warm.posts()
    assert cold.problems == warm.problems and len(warm.problems) == 1
    published = [(p.published, p.key) for p in warm.posts()]
    assert published == sorted(published, reverse=True)
    assert warm.posts()[-1].info_code == f"NW20220524{int(warm.posts()[-1].title[1:-1]):010d}"


def test_update_adds_changes_and_removes(posts_dir: Path, read: Callable, tmp_path: Path) -> None:
    write(posts_dir, "a.md", "title: A\ndate: 2022-05-24")
    write(posts_dir, "draft.md", "title: 草稿\ndate: 2022-05-20\npublished: false")
    result = read()
    assert result.update([], []) == set()
    new = write(posts_dir, "sub/b.md", "title: B\ndate: 2022-05-25")
    assert result.update([new], []) == {"sub/b.md"}
    assert [p.key for p in result.posts()] == ["sub/b.md", "a.md"]

    write(posts_dir, "a.md", "title: A2\ndate: 2022-05-24")
    assert result.update([posts_dir / "a.md"], []) == {"a.md"}
    assert {p.title for p in result.posts()} == {"A2", "B"}

    stat = (posts_dir / "a.md").stat()  # touched, same content: nothing to republish
    os.utime(posts_dir / "a.md", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert result.update([Path("a.md")], []) == set()

    write(posts_dir, "a.md", "title: A2")  # no date any more: removed, a problem
    assert result.update([posts_dir / "a.md"], []) == {"a.md"}
    assert [p.key for p in result.posts()] == ["sub/b.md"]
    assert result.problems == [
        f"{posts_dir / 'a.md'}: no date (no `date` in front matter, no YYYY-MM-DD- file name)"
    ]
    write(posts_dir, "a.md", "title: A3\ndate: 2022-05-24")
    assert result.update([posts_dir / "a.md"], []) == {"a.md"}
    assert result.problems == []

    write(posts_dir, "draft.md", "title: 草稿\ndate: 2022-05-20")  # now published
    assert result.update([posts_dir / "draft.md"], []) == {"draft.md"}

    (posts_dir / "sub" / "b.md").unlink()
    assert result.update([], [posts_dir / "sub" / "b.md"]) == {"sub/b.md"}
    assert [p.key for p in result.posts()] == ["a.md", "draft.md"]

    (posts_dir / "photo.jpg").write_bytes(b"\xff\xd8")
    outside = write(tmp_path, "elsewhere.md", "title: 外部\ndate: 2022-05-24")
    assert (
        result.update(
            [posts_dir / "photo.jpg", outside, posts_dir / ".x.md"], [posts_dir / "../elsewhere.md"]
        )
        == set()
    )

    # a folder moved in and a folder deleted
    write(tmp_path, "incoming/c.md", "title: C\ndate: 2022-05-26")
    write(tmp_path, "incoming/deep/d.md", "title: D\ndate: 2022-05-27")
    (tmp_path / "incoming").rename(posts_dir / "moved")
    assert result.update([posts_dir / "moved"], []) == {"moved/c.md", "moved/deep/d.md"}
    for path in sorted((posts_dir / "moved").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (posts_dir / "moved").rmdir()
    assert result.update([], [posts_dir / "moved"]) == {"moved/c.md", "moved/deep/d.md"}
    assert [p.key for p in result.posts()] == ["a.md", "draft.md"]

    restarted = read()  # the index followed every update
    assert restarted.posts() == result.posts()


def test_update_of_the_posts_folder_rereads_only_changed_files(
    posts_dir: Path, read: Callable
) -> None:
    same = write(posts_dir, "same.md", "title: 旧AA\ndate: 2022-05-24")
    write(posts_dir, "edited.md", "title: 旧BB\ndate: 2022-05-23")
    write(posts_dir, "gone.md", "title: 删除\ndate: 2022-05-22")
    result = read()
    stat = same.stat()  # same size and mtime: a folder rescan must not read it again
    write(posts_dir, "same.md", "title: 新CC\ndate: 2022-05-24")
    os.utime(same, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    write(posts_dir, "edited.md", "title: 新标题DD\ndate: 2022-05-23")
    (posts_dir / "gone.md").unlink()
    write(posts_dir, "new.md", "title: 新文章\ndate: 2022-05-25")
    assert result.update([posts_dir], []) == {"edited.md", "gone.md", "new.md"}
    assert [(p.key, p.title) for p in result.posts()] == [
        ("new.md", "新文章"),
        ("same.md", "旧AA"),
        ("edited.md", "新标题DD"),
    ]
    assert result.update([posts_dir / "same.md"], []) == {"same.md"}  # a file event reads it
    assert result.posts()[1].title == "新CC"
