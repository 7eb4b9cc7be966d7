"""Which feeds exist, what each holds, and where each lives.

One feed of all posts, one per category and one per tag, Chinese tags included (jekyll-feed
drops them). Each feed is cut into pages of `feeds.items_per_feed` posts, newest first:
page 1 is the subscription document, later pages are RFC 5005 paged-feed pages at path
URLs (`/feeds/tag/民生/page/2.atom`), so that a static build can mirror every URL as a file.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import attrgetter
from urllib.parse import quote

from feeds.model import Post
from feeds.names import category_name, category_names
from finews.core.clock import SYSTEM, Clock
from finews.core.settings import Settings

FORMATS = ("rss", "atom", "json")
VIEWS = (*FORMATS, "html")  # every format and the HTML view of a page
KINDS = ("all", "category", "tag")
FeedKey = tuple[str, str]  # (kind, term): ("all", ""), ("tag", "民生")
ALL: FeedKey = ("all", "")


@dataclass(frozen=True, slots=True)
class Site:
    """The settings that shape every document, read once per build."""

    url: str  # site.url without a trailing slash
    name: str
    language: str
    items_per_feed: int
    max_age: int
    hub: str  # absolute URL, or "" for none
    category_page: str  # str.format pattern with {site} and {slug}
    tag_page: str  # str.format pattern with {site} and {tag}
    description: str  # str.format pattern with {site} and {name}
    all_name: str  # display name of the feed of all posts
    category_names: Mapping[str, str]
    clock: Clock = SYSTEM  # dates new documents (Last-Modified)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = SYSTEM) -> Site:
        url = settings.site.url.rstrip("/")
        feeds = settings.feeds
        return cls(
            url=url,
            name=settings.site.name,
            language=settings.site.language,
            items_per_feed=feeds.items_per_feed,
            max_age=feeds.max_age,
            hub=feeds.hub.format(site=url),
            category_page=feeds.category_page,
            tag_page=feeds.tag_page,
            description=feeds.description,
            all_name=feeds.all_name,
            category_names=category_names(settings),
            clock=clock,
        )

    def absolute(self, path: str) -> str:
        return self.url + path

    def category_name(self, slug: str) -> str:
        return category_name(self.category_names, slug)


def term_path(kind: str, term: str) -> str:
    """A feed's URL path without the format suffix: /feeds/all, /feeds/tag/%E6%B0%91%E7%94%9F."""
    if kind == "all":
        return "/feeds/all"
    name = quote(term, safe="")
    if not name.strip("."):  # "." or "..": a segment URL normalisation would remove
        name = name.replace(".", "%2E")
    return f"/feeds/{kind}/{name}"


@functools.lru_cache(maxsize=8192)  # on every feed request: quote the term once, not each time
def page_path(kind: str, term: str, number: int, fmt: str) -> str:
    """Page 1 is the subscription document; later pages live under /page/."""
    base = term_path(kind, term)
    return f"{base}.{fmt}" if number == 1 else f"{base}/page/{number}.{fmt}"


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed: all posts, or those of one category or tag, newest first."""

    kind: str  # "all", "category" or "tag"
    term: str  # the slug or tag as written; "" for all
    name: str  # display name
    posts: tuple[Post, ...]

    @property
    def path(self) -> str:
        return term_path(self.kind, self.term)

    def page_count(self, per_page: int) -> int:
        return max(1, math.ceil(len(self.posts) / per_page))

    def page_posts(self, page: int, per_page: int) -> Sequence[Post]:
        return self.posts[(page - 1) * per_page : page * per_page]

    def page_path(self, page: int, fmt: str) -> str:
        return page_path(self.kind, self.term, page, fmt)

    def title(self, site: Site) -> str:
        return f"{site.name} | {self.name}"

    def description(self, site: Site) -> str:
        return site.description.format(site=site.name, name=self.name)

    def home_page(self, site: Site) -> str:
        """The page on the site this feed mirrors: the feed's alternate link."""
        term = quote(self.term, safe="")
        if self.kind == "category":
            return site.category_page.format(site=site.url, slug=term)
        if self.kind == "tag":
            return site.tag_page.format(site=site.url, tag=term)
        return site.url + "/"


def feed_keys(post: Post) -> set[FeedKey]:
    """The feeds holding `post`: all, each of its categories and each of its tags."""
    return {
        ALL,
        *(("category", slug) for slug in post.categories if slug),
        *(("tag", tag) for tag in post.tags if tag),
    }


_NEWEST_FIRST = attrgetter("published", "key")  # PostSource.posts() order, reversed


def _position(members: Sequence[Post], post: Post) -> int:
    """Where `post` is, or would go, in `members` (newest first): a binary search."""
    target = _NEWEST_FIRST(post)
    low, high = 0, len(members)
    while low < high:
        middle = (low + high) // 2
        if _NEWEST_FIRST(members[middle]) > target:
            low = middle + 1
        else:
            high = middle
    return low


def _holds(key: FeedKey, post: Post) -> bool:
    kind, term = key
    return kind == "all" or term in (post.categories if kind == "category" else post.tags)


class Catalog:
    """Every feed of one set of posts: all first, then categories, then tags, each by term."""

    def __init__(self, site: Site, posts: Sequence[Post]) -> None:
        members: dict[FeedKey, list[Post]] = {}
        for post in posts:
            for kind, terms in (("category", post.categories), ("tag", post.tags)):
                for term in dict.fromkeys(terms):
                    if term:
                        members.setdefault((kind, term), []).append(post)
        self.feeds = self._feeds(site, {ALL: posts, **members})
        self.by_key = {post.key: post for post in posts}  # file key -> post

    @staticmethod
    def _feeds(site: Site, members: Mapping[FeedKey, Sequence[Post]]) -> dict[FeedKey, Feed]:
        """Feeds in catalog order; `all` is always there, other feeds only with posts."""
        feeds: dict[FeedKey, Feed] = {ALL: Feed("all", "", site.all_name, tuple(members[ALL]))}
        for kind, term in sorted(
            members.keys() - {ALL}, key=lambda key: (KINDS.index(key[0]), key[1])
        ):
            if members[(kind, term)]:
                name = site.category_name(term) if kind == "category" else term
                feeds[(kind, term)] = Feed(kind, term, name, tuple(members[(kind, term)]))
        return feeds

    def revised(
        self, site: Site, posts: Sequence[Post], changes: Mapping[str, Post | None]
    ) -> tuple[Catalog, set[FeedKey]]:
        """The catalog after the posts of some files changed, and the keys of the feeds
        that held one of them before or after.

        `changes`: file key -> its post now (None: it has none any more); `posts`: every
        post now, newest first. Only the feeds touched are recomputed, each by taking the
        old posts out of and the new ones into its sorted list (binary searches), so a
        live update costs little however large the site; the result equals
        Catalog(site, posts).
        """
        old = [self.by_key[key] for key in changes if key in self.by_key]
        new = [post for post in changes.values() if post is not None]
        touched: set[FeedKey] = set().union(*map(feed_keys, chain(old, new)))
        members: dict[FeedKey, Sequence[Post]] = {
            key: feed.posts for key, feed in self.feeds.items() if key not in touched
        }
        members[ALL] = posts
        for key in touched - {ALL}:
            listed = list(self.feeds[key].posts) if key in self.feeds else []
            for post in filter(partial(_holds, key), old):
                at = _position(listed, post)
                if at < len(listed) and listed[at].key == post.key:
                    del listed[at]
            for post in filter(partial(_holds, key), new):
                listed.insert(_position(listed, post), post)
            members[key] = listed
        catalog = Catalog.__new__(Catalog)
        catalog.feeds = self._feeds(site, members)
        catalog.by_key = dict(self.by_key)
        for file_key, now in changes.items():
            if now is None:
                catalog.by_key.pop(file_key, None)
            else:
                catalog.by_key[file_key] = now
        return catalog, touched

    def get(self, kind: str, term: str) -> Feed | None:
        return self.feeds.get((kind, term))

    def __iter__(self) -> Iterator[Feed]:
        return iter(self.feeds.values())

    def of_kind(self, kind: str) -> list[Feed]:
        return [feed for feed in self.feeds.values() if feed.kind == kind]
