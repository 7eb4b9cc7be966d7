"""`finews build --out DIR`: static files that mirror the URLs, byte-identical per run."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from feeds.build import build_static, disk_path
from finews.core.settings import Settings
from tests.conftest import SAMPLE_POSTS
from tests.envs import clean_env
from tests.feed_helpers import parse_json_feed, parse_xml_feed

ODD_POST = """---
title: "标签里有斜杠和点"
date: 2022-07-03 08:00:00 +0800
categories: shamenwanbao
tags: [a/b, "..", 民生]
---
<p>正文</p>
"""


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_two_builds_write_identical_bytes(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(feeds__items_per_feed=2)
    first = build_static(settings, tmp_path / "a", progress=False)
    second = build_static(settings, tmp_path / "b", progress=False)
    assert first.files == second.files > 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_files_mirror_the_urls_with_gzip_twins(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    build_static(make_settings(feeds__items_per_feed=2), tmp_path, progress=False)
    files = tree(tmp_path)
    for name in (
        "feeds/all.rss",
        "feeds/all.atom",
        "feeds/all.json",
        "feeds/all/page/3.json",
        "feeds/category/shamenwanbao.atom",
        "feeds/tag/民生.rss",
        "feeds.opml",
        "index.html",
    ):
        assert gzip.decompress(files[name + ".gz"]) == files[name]
    assert parse_xml_feed(files["feeds/tag/民生.rss"], "rss20").feed.title == "finews | 民生"
    page = parse_xml_feed(files["feeds/all/page/2.atom"], "atom10")
    assert {link.rel: link.href for link in page.feed.links}["next"] == (
        "http://127.0.0.1:8080/feeds/all/page/3.atom"
    )
    assert "next_url" not in parse_json_feed(files["feeds/all/page/3.json"])
    assert b'xmlUrl="http://127.0.0.1:8080/feeds/tag/%E6%B0%91%E7%94%9F.rss"' in files["feeds.opml"]


def test_without_archives_only_subscription_documents_remain(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(feeds__items_per_feed=2)
    build_static(settings, tmp_path, progress=False)
    assert (tmp_path / "feeds/all/page/2.rss").is_file()
    report = build_static(settings, tmp_path, archives=False, progress=False)
    assert report.pages == report.feeds
    assert not (tmp_path / "feeds/all/page").exists()
    assert (tmp_path / "feeds/all.rss").is_file() and (tmp_path / "index.html").is_file()


def test_odd_tags_stay_inside_the_output_directory(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    posts = tmp_path / "posts"
    shutil.copytree(SAMPLE_POSTS, posts)
    (posts / "odd.md").write_text(ODD_POST, encoding="utf-8")
    out = tmp_path / "out"
    build_static(make_settings(posts__dir=str(posts), feeds__items_per_feed=1), out, progress=False)
    assert (out / "feeds/tag/a%2Fb.rss").is_file()  # "/" cannot be in a file name
    assert (out / "feeds/tag/...rss").is_file()  # the tag "..", plus ".rss"
    assert not (out / "feeds/page").exists() and not (out / "feeds/tag/page").exists()
    assert disk_path(out, "/feeds/tag/%2E%2E/page/2.rss") == out / "feeds/tag/%2E%2E/page/2.rss"
    assert disk_path(out, "/feeds/tag/%E6%B0%91%E7%94%9F.rss") == out / "feeds/tag/民生.rss"


def test_the_command_reports_and_shows_progress(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text(
        f'[posts]\ndir = "{SAMPLE_POSTS}"\n[feeds]\nitems_per_feed = 2\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "finews", "build", "--config", str(config), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(FINEWS_DATA__DIR=str(tmp_path / "data")),
    )
    assert done.returncode == 0, done.stderr
    assert f"in {out}" in done.stdout and "pages:" in done.stdout
    assert "page/s]" in done.stderr  # the tqdm bar
    assert (out / "feeds/all/page/2.rss.gz").is_file()
