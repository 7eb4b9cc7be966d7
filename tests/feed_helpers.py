"""Helpers shared by the feed tests: an in-memory PostSource, posts, and format checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import feedparser
import jsonschema
from aiohttp import web
from lxml import etree

import feeds
from feeds.model import Post, PostSource
from finews.app import redis_context
from finews.core.appkeys import CLOCK, SETTINGS
from finews.core.clock import SYSTEM
from finews.core.settings import Settings

CST = timezone(timedelta(hours=8))
SITE = "https://news.example.cn"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
}

# JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/): required fields and types.
JSON_FEED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string"},
        "home_page_url": {"type": "string"},
        "feed_url": {"type": "string"},
        "description": {"type": "string"},
        "next_url": {"type": "string"},
        "language": {"type": "string"},
        "authors": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "hubs": {"type": "array", "items": {"type": "object", "required": ["type", "url"]}},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id"],
                "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
                "properties": {
                    "id": {"type": "string"},
                    "url": {"type": "string"},
                    "title": {"type": "string"},
                    "content_html": {"type": "string"},
                    "summary": {"type": "string"},
                    "image": {"type": "string"},
                    "date_published": {"type": "string"},
                    "date_modified": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "authors": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
}


@dataclass
class Source:
    """A PostSource held in memory."""

    items: list[Post]
    bodies: dict[str, str]
    problems: list[str] = field(default_factory=list)

    def posts(self) -> Sequence[Post]:
        return self.items

    def post(self, key: str) -> Post | None:
        return next((post for post in self.items if post.key == key), None)

    def content_html(self, post: Post) -> str:
        return self.bodies[post.key]

    @classmethod
    def of(cls, posts: Sequence[Post], bodies: dict[str, str] | None = None) -> Source:
        items = sorted(posts, key=lambda p: (p.published, p.key), reverse=True)
        return cls(items, bodies or {p.key: f"<p>正文 {p.title}</p>" for p in posts})

    @classmethod
    def copy(cls, source: PostSource) -> Source:
        return cls(list(source.posts()), {p.key: source.content_html(p) for p in source.posts()})


def post(n: int, **changes: Any) -> Post:
    """Post number n: published n days after 2022-05-01 09:00 +08:00, newer for larger n."""
    published = datetime(2022, 5, 1, 9, 0, tzinfo=CST) + timedelta(days=n)
    values: dict[str, Any] = {
        "key": f"2022/post-{n:03d}.md",
        "id": f"{SITE}/p/{n}.html",
        "url": f"{SITE}/p/{n}.html",
        "title": f"第{n}篇 新闻",
        "published": published,
        "updated": published,
        "categories": ("shamenwanbao",),
        "tags": ("民生",),
        "author": None,
        "summary": f"摘要 {n}",
        "image": None,
        "info_code": None,
    }
    values.update(changes)
    return Post(**values)


def parse_xml_feed(body: bytes, version: str) -> feedparser.FeedParserDict:
    """feedparser's reading, asserting it found no problem and the expected format."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == version
    return parsed


def parse_json_feed(body: bytes) -> dict[str, Any]:
    doc = json.loads(body)
    jsonschema.validate(doc, JSON_FEED_SCHEMA)
    for item in doc["items"]:
        for key in ("date_published", "date_modified"):
            assert datetime.fromisoformat(item[key]).utcoffset() is not None
    return doc


def xml_tree(body: bytes) -> etree._Element:
    """lxml's reading: fails on an undeclared namespace prefix or a forbidden character."""
    return etree.fromstring(body, etree.XMLParser(resolve_entities=False))


def feeds_app(settings: Settings, **hooks: Any) -> web.Application:
    """The feeds package alone, wired as finews wires it, with the hooks under test."""
    app = web.Application()
    app[SETTINGS] = settings
    app[CLOCK] = SYSTEM
    app.cleanup_ctx.append(redis_context)
    feeds.setup(app, **hooks)
    return app
