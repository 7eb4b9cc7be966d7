"""Feed documents: RSS 2.0 and Atom 1.0 with feedgen, JSON Feed 1.1 by hand, and OPML.

Every document is a pure function of the posts and the settings: no clock, JSON keys in a
fixed order, so the same posts give the same bytes and a hash of the bytes is a true ETag.

feedgen's traps (research §5), and what this module does about each:
- RSS `<link>` is the last link added, whatever its rel: the alternate link goes last.
- `add_entry()` prepends: entries use `order="append"` on the newest-first list.
- `updated`/`lastBuildDate` default to now(): both are set to the page's newest change.
- `type="CDATA"` writes invalid Atom: content is escaped `type="html"` (so `]]>` is safe).
- RSS has no `<author>` without an email: `dc:creator` instead.
- `content:encoded` appears only next to a description: the summary is always set.
- `rel="hub"` and paging links are not written in RSS: an extension adds them as channel
  `atom:link` elements (the atom namespace is declared on the root).
- Entry links lose their `rel` and `type` (a shadowed variable in `atom_entry()`): the
  share link is added by the same extension.
- lxml refuses XML-forbidden characters: every string passes through `xml_safe()`.

An item's share link is `<link rel="related">` in Atom, `<dc:relation>` in RSS (an item
`atom:link` would replace the item link in feedparser-based readers) and the custom
extension `_finews.share_url` in JSON Feed.
"""

from __future__ import annotations

import html
import json
import logging
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.catalog import Catalog, Feed, Site
from feeds.labels import labels
from feeds.model import Post, PostSource
from feeds.text import xml_safe

log = logging.getLogger("finews.feeds")

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "finews"
MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
    "html": "text/html",
    "opml": "text/x-opml",
}
# The date of an empty feed (only `all` can be empty): fixed, so its bytes are too.
EMPTY_FEED_DATE = datetime(1970, 1, 1, tzinfo=UTC)


def content_type(view: str) -> str:
    return f"{MEDIA_TYPES[view]}; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Item:
    """One post as every format needs it, every string XML-safe."""

    id: str
    url: str
    title: str
    content: str  # sanitized HTML
    summary: str  # plain text
    published: datetime
    updated: datetime
    author: str | None
    categories: tuple[tuple[str, str], ...]  # (slug, display name)
    tags: tuple[str, ...]
    image: str | None
    share: str | None  # public share link, when the hook gave one

    @classmethod
    def of(cls, post: Post, site: Site, source: PostSource, shares: Mapping[str, str]) -> Item:
        try:
            content = source.content_html(post)
        except Exception as exc:  # a body that cannot be read must not cost the whole feed
            log.error("event=content_missing post=%s error=%r", post.key, exc)
            content = f"<p>{html.escape(post.summary)}</p>"
        share = shares.get(post.url)
        return cls(
            id=xml_safe(post.id),
            url=xml_safe(post.url),
            title=xml_safe(post.title),
            content=xml_safe(content),
            summary=xml_safe(post.summary),
            published=post.published,
            updated=post.updated,
            author=xml_safe(post.author) if post.author else None,
            categories=tuple(
                (xml_safe(slug), xml_safe(site.category_name(slug)))
                for slug in dict.fromkeys(post.categories)
                if slug
            ),
            tags=tuple(xml_safe(tag) for tag in dict.fromkeys(post.tags) if tag),
            image=xml_safe(post.image) if post.image else None,
            share=xml_safe(share) if share else None,
        )


@dataclass(frozen=True, slots=True)
class Page:
    """Page `number` of `count` of one feed: what one document of each format shows."""

    site: Site
    feed: Feed
    number: int
    count: int
    items: tuple[Item, ...]

    @property
    def updated(self) -> datetime:
        """The newest change among this page's own items: never the build time."""
        return max((item.updated for item in self.items), default=EMPTY_FEED_DATE)

    @property
    def title(self) -> str:
        return xml_safe(self.feed.title(self.site))

    @property
    def description(self) -> str:
        return xml_safe(self.feed.description(self.site))

    @property
    def home_page(self) -> str:
        return xml_safe(self.feed.home_page(self.site))

    @property
    def hub(self) -> str:
        """Only subscription documents name the hub: later pages are never pinged."""
        return self.site.hub if self.number == 1 else ""

    def url(self, fmt: str, number: int | None = None) -> str:
        return self.site.absolute(self.feed.page_path(number or self.number, fmt))

    def paging(self) -> list[tuple[str, int]]:
        """RFC 5005 paged-feed links: (rel, page number); next is older, previous newer."""
        if self.count == 1:
            return []
        rels = [("first", 1)]
        if self.number > 1:
            rels.append(("previous", self.number - 1))
        if self.number < self.count:
            rels.append(("next", self.number + 1))
        rels.append(("last", self.count))
        return rels

    def links_header(self, fmt: str) -> str:
        """The HTTP Link header: WebSub discovery (self, and hub on subscription documents)."""
        links = [f'<{self.url(fmt)}>; rel="self"']
        if self.hub:
            links.append(f'<{self.hub}>; rel="hub"')
        return ", ".join(links)


def make_page(
    site: Site, source: PostSource, shares: Mapping[str, str], feed: Feed, number: int
) -> Page | None:
    """Page `number` of `feed`, or None past the end."""
    count = feed.page_count(site.items_per_feed)
    if not 1 <= number <= count:
        return None
    posts = feed.page_posts(number, site.items_per_feed)
    return Page(
        site, feed, number, count, tuple(Item.of(post, site, source, shares) for post in posts)
    )


class _Links(BaseExtension):
    """Channel `atom:link`s that feedgen writes only in Atom: hub and paging (RSS only)."""

    def __init__(self) -> None:
        self.rss_links: list[dict[str, str]] = []

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed[0]
        for link in self.rss_links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", link)
        return feed


class _EntryLinks(BaseEntryExtension):
    """The item's share link as Atom `<link rel="related">` (feedgen drops entry link rels)."""

    def __init__(self) -> None:
        self.related: str | None = None

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self.related:
            etree.SubElement(entry, "link", href=self.related, rel="related")
        return entry


def _feed_generator(page: Page) -> FeedGenerator:
    site = page.site
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.load_extension("media", atom=True, rss=True)
    fg.register_extension("finews", _Links, _EntryLinks, atom=True, rss=True)
    fg.id(page.url("atom", 1))  # one id for all pages of the feed
    fg.title(page.title)
    fg.subtitle(page.description)  # Atom subtitle and RSS description
    fg.language(site.language)
    fg.author(name=xml_safe(site.name))  # Atom feed author
    fg.dc.dc_creator(xml_safe(site.name))  # RSS channel author
    fg.generator(GENERATOR)
    fg.updated(page.updated)  # sets lastBuildDate too
    if site.max_age >= 60:
        fg.ttl(site.max_age // 60)
    category_scheme = site.absolute("/feeds/category/")
    tag_scheme = site.absolute("/feeds/tag/")
    for item in page.items:
        entry = fg.add_entry(order="append")
        entry.guid(item.id, permalink=item.id == item.url)  # also the Atom id
        entry.title(item.title)
        entry.link(href=item.url)  # alternate: RSS <link>, Atom <link>
        if item.share:
            entry.finews.related = item.share  # Atom
            entry.dc.dc_relation(item.share)  # RSS
        entry.published(item.published)
        entry.updated(item.updated)
        entry.summary(html.escape(item.summary or item.title), type="html")
        entry.content(item.content, type="html")
        if item.author:
            entry.author(name=item.author)
            entry.dc.dc_creator(item.author)
        for slug, name in item.categories:
            entry.category(term=slug, label=name, scheme=category_scheme)
        for tag in item.tags:
            entry.category(term=tag, scheme=tag_scheme)
        if item.image:
            image = {"url": item.image, "medium": "image", "group": None}
            guessed = mimetypes.guess_type(item.image)[0]
            if guessed and guessed.startswith("image/"):
                image["type"] = guessed
            entry.media.content(image)
    return fg


def _set_links(fg: FeedGenerator, page: Page, fmt: str) -> None:
    """Links for one format: self first and alternate last (RSS <link> = last added)."""
    own = MEDIA_TYPES[fmt]
    extra = [{"href": page.hub, "rel": "hub"}] if page.hub else []
    extra += [
        {"href": page.url(fmt, number), "rel": rel, "type": own} for rel, number in page.paging()
    ]
    links = [{"href": page.url(fmt), "rel": "self", "type": own}]
    if fmt == "atom":
        links += extra
        fg.finews.rss_links = []
    else:
        fg.finews.rss_links = extra
    links.append({"href": page.home_page, "rel": "alternate", "type": "text/html"})
    fg.link(links, replace=True)


def xml_feeds(page: Page) -> dict[str, bytes]:
    """The RSS and Atom documents of one page, from one FeedGenerator."""
    fg = _feed_generator(page)
    out = {}
    for fmt in ("atom", "rss"):
        _set_links(fg, page, fmt)
        out[fmt] = fg.atom_str() if fmt == "atom" else fg.rss_str()
    return out


def json_feed(page: Page) -> bytes:
    """JSON Feed 1.1; the share link is the custom `_finews.share_url` item extension.

    `version` comes first, as the spec asks, for clients that sniff the start of the bytes;
    the other keys keep the order they are written in here."""
    items = []
    for item in page.items:
        entry: dict[str, Any] = {
            "id": item.id,
            "url": item.url,
            "title": item.title,
            "content_html": item.content,
            "summary": item.summary,
            "date_published": item.published.isoformat(),
            "date_modified": item.updated.isoformat(),
            "tags": list(dict.fromkeys([name for _, name in item.categories] + list(item.tags))),
        }
        if item.author:
            entry["authors"] = [{"name": item.author}]
        if item.image:
            entry["image"] = item.image
        if item.share:
            entry["_finews"] = {"share_url": item.share}
        items.append(entry)
    doc: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": page.title,
        "home_page_url": page.home_page,
        "feed_url": page.url("json", 1),
        "description": page.description,
        "language": page.site.language,
        "authors": [{"name": xml_safe(page.site.name)}],
        "items": items,
    }
    if page.hub:
        doc["hubs"] = [{"type": "WebSub", "url": page.hub}]
    if page.number < page.count:
        doc["next_url"] = page.url("json", page.number + 1)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def feed_documents(page: Page) -> dict[str, bytes]:
    """Every format of one page: rss, atom, json."""
    return {**xml_feeds(page), "json": json_feed(page)}


def opml(site: Site, catalog: Catalog) -> bytes:
    """OPML 2.0 subscription list: every feed (RSS), grouped as categories and tags."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = xml_safe(site.name)
    etree.SubElement(head, "ownerId").text = site.url + "/"
    body = etree.SubElement(root, "body")

    def outline(parent: etree._Element, feed: Feed) -> None:
        text = xml_safe(feed.title(site))
        etree.SubElement(
            parent,
            "outline",
            type="rss",
            text=text,
            title=text,
            xmlUrl=site.absolute(feed.page_path(1, "rss")),
            htmlUrl=xml_safe(feed.home_page(site)),
        )

    for feed in catalog.of_kind("all"):
        outline(body, feed)
    for kind in ("category", "tag"):
        feeds: Sequence[Feed] = catalog.of_kind(kind)
        if feeds:
            name = labels(site.language)[kind]
            group = etree.SubElement(body, "outline", text=name, title=name)
            for feed in feeds:
                outline(group, feed)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
