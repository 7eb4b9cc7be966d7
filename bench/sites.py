"""Baseline static sites from a corpus: Hugo and Jekyll configured for per-category feeds.

Both get the same posts (hard links into their expected folders, so a 100,000-post site
costs no copy) and a configuration generated from the corpus manifest: a feed per
category and per tag, 20 items each, like `finews build --no-archives`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from bench.corpus import EXTRA_TAGS, POSTS, load_manifest

FEED_ITEMS = 20
HOSTILE_KINDS = ("ctrl_title", "ctrl_body")  # raw control characters: Hugo aborts on them

HUGO_CONFIG = f"""\
baseURL = "http://finews.example/"
languageCode = "zh-CN"
title = "finews bench"
timeZone = "Asia/Shanghai"
hasCJKLanguage = true
rssLimit = {FEED_ITEMS}
disableKinds = ["sitemap", "robotsTXT", "404"]

[services.rss]
limit = {FEED_ITEMS}

[taxonomies]
category = "categories"
tag = "tags"

# RSS only: the home feed and one feed per category and per tag term
[outputs]
home = ["RSS"]
section = ["RSS"]
taxonomy = ["RSS"]
term = ["RSS"]

# render the posts' HTML bodies (they are HTML) instead of dropping them
[markup.goldmark.renderer]
unsafe = true

# posts get permalinks for the feeds but no page of their own, as in `finews build`
[[cascade]]
[cascade._build]
render = "link"
[cascade._target]
kind = "page"
"""


def link_posts(src: Path, dest: Path, skip: Iterable[str] = ()) -> int:
    """Hard-link (or copy, across file systems) every post of `src` into `dest`."""
    dest.mkdir(parents=True)
    skipped = set(skip)
    count = 0
    for entry in os.scandir(src):
        if entry.name in skipped:
            continue
        try:
            os.link(entry.path, dest / entry.name)
        except OSError:
            shutil.copy2(entry.path, dest / entry.name)
        count += 1
    return count


def hostile_posts(corpus: Path) -> list[str]:
    return [a["file"] for a in load_manifest(corpus)["adversarial"] if a["kind"] in HOSTILE_KINDS]


def hugo_site(corpus: Path, site: Path) -> Path:
    """A Hugo project with the corpus in content/posts."""
    link_posts(corpus / POSTS, site / "content" / "posts")
    (site / "config.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    return site


def jekyll_site(corpus: Path, site: Path) -> Path:
    """A Jekyll source dir with the corpus in _posts and jekyll-feed for every category and tag."""
    manifest = load_manifest(corpus)
    link_posts(corpus / POSTS, site / "_posts")
    (site / "_layouts").mkdir()
    (site / "_layouts" / "post.html").write_text("{{ content }}\n", encoding="utf-8")
    config = {
        "title": "finews bench",
        "url": "http://finews.example",
        "timezone": "Asia/Shanghai",
        "plugins": ["jekyll-feed"],
        "feed": {
            "posts_limit": FEED_ITEMS,
            "categories": [c["slug"] for c in manifest["categories"]],
            "tags": {"only": [c["name"] + "新闻" for c in manifest["categories"]] + EXTRA_TAGS},
        },
    }
    # JSON is YAML: one serializer, no quoting surprises with Chinese tags
    (site / "_config.yml").write_text(
        json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return site


def count_files(root: Path, suffix: str) -> int:
    return sum(1 for p in root.rglob(f"*{suffix}") if p.is_file()) if root.is_dir() else 0
