"""Words shown to people (home page, feed views, OPML groups) in the site's language."""

from __future__ import annotations

from collections.abc import Mapping

LABELS = {
    "zh": {
        "category": "分类",
        "tag": "标签",
        "opml": "OPML 订阅列表",
        "subscribe": "把下面任一地址加入阅读器即可订阅：",
        "newer": "← 较新",
        "older": "较早 →",
        "page": "第 {number} / {count} 页",
        "posts": "{count} 篇",
        "home": "全部订阅源",
        "not_found": "找不到",
    },
    "en": {
        "category": "Categories",
        "tag": "Tags",
        "opml": "OPML subscription list",
        "subscribe": "Add any of these addresses to your feed reader:",
        "newer": "← Newer",
        "older": "Older →",
        "page": "Page {number} of {count}",
        "posts": "{count} posts",
        "home": "All feeds",
        "not_found": "Not found",
    },
}


def labels(language: str) -> Mapping[str, str]:
    """Chinese for zh-* sites, English otherwise."""
    return LABELS["zh" if language.lower().startswith("zh") else "en"]
