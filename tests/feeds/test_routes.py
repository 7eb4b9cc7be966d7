"""Feeds over real HTTP with a real Redis: URLs, 404s, negotiation, conditional GET, hooks."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import brotli
import pytest
import redis.asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

import feeds
from feeds import keys
from feeds.catalog import term_path
from feeds.model import Post
from feeds.posts import load_posts
from feeds.publish import Publisher
from feeds.store import DocumentStore
from finews.app import create_app
from finews.core.appkeys import REDIS_BYTES, SETTINGS
from finews.core.errors import CONTENT_TYPE, problem_type
from finews.core.settings import Settings
from tests.feed_helpers import (
    NS,
    Source,
    feeds_app,
    parse_json_feed,
    parse_xml_feed,
    xml_tree,
)

SITE = "http://127.0.0.1:8080"
MINSHENG = "/feeds/tag/%E6%B0%91%E7%94%9F"  # 民生
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
FEEDPARSER = (
    "application/atom+xml,application/rdf+xml,application/rss+xml,"
    "application/x-netcdf,application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1"
)
IDENTITY = {"Accept-Encoding": "identity"}
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@pytest.fixture
def feed_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(site__url=SITE, feeds__items_per_feed=2)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], feed_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(feed_settings), auto_decompress=False)


async def fetch(
    client: TestClient, path: str, method: str = "GET", **headers: str
) -> tuple[int, Mapping[str, str], bytes]:
    response = await client.request(method, path, headers=headers, allow_redirects=False)
    return response.status, response.headers, await response.read()


async def test_every_feed_answers_with_its_registered_content_type(client: TestClient) -> None:
    for path in ("/feeds/all", "/feeds/category/shamenwanbao", MINSHENG):
        for fmt, content_type in CONTENT_TYPES.items():
            status, headers, body = await fetch(client, f"{path}.{fmt}", **IDENTITY)
            assert status == 200 and headers["Content-Type"] == content_type
            if fmt == "json":
                doc = parse_json_feed(body)
                assert doc["feed_url"] == f"{SITE}{path}.json"
            else:
                parsed = parse_xml_feed(body, {"rss": "rss20", "atom": "atom10"}[fmt])
                assert parsed.entries and all(
                    e.published.endswith(("+08:00", "+0800")) for e in parsed.entries
                )
                self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
                assert self_links == [f"{SITE}{path}.{fmt}"]
    status, headers, body = await fetch(client, "/feeds.opml", **IDENTITY)
    assert (status, headers["Content-Type"]) == (200, "text/x-opml; charset=utf-8")
    assert f'xmlUrl="{SITE}{MINSHENG}.rss"'.encode() in body
    status, headers, body = await fetch(client, "/", **IDENTITY)
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert (
        f'<link rel="alternate" type="application/atom+xml" title="finews | 全部文章" '
        f'href="{SITE}/feeds/all.atom">'
    ).encode() in body
    assert f'href="{SITE}{MINSHENG}.rss"'.encode() in body


async def test_chinese_tags_work_however_the_url_is_encoded(client: TestClient) -> None:
    bodies = set()
    for path in (f"{MINSHENG}.atom", f"{MINSHENG.lower()}.atom", "/feeds/tag/民生.atom"):
        status, _, body = await fetch(client, path, **IDENTITY)
        assert status == 200
        bodies.add(body)
    assert len(bodies) == 1
    assert parse_xml_feed(bodies.pop(), "atom10").feed.title == "finews | 民生"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/feeds/tag/没有这个标签.rss", "no feed for tag '没有这个标签'"),
        ("/feeds/category/nope.atom", "no feed for category 'nope'"),
        ("/feeds/all.xml", "feeds come as .rss, .atom, .json"),
        ("/feeds/everything.rss", "no feed 'everything'"),
        ("/feeds/all/page/4.rss", "the feed of all posts has no page 4"),
        ("/feeds/all/page/0.rss", "no page '0': pages are numbered 2, 3, ..."),
        ("/feeds/all/page/02.rss", "no page '02': pages are numbered 2, 3, ..."),
        (f"{MINSHENG}/page/2.json", "the feed of tag '民生' has no page 2"),
        (
            f"/feeds/all/page/{'9' * 5000}.rss",
            f"no page '{'9' * 5000}': pages are numbered 2, 3, ...",
        ),
        ("/feeds/all/page/９.rss", "no page '９': pages are numbered 2, 3, ..."),
        ("/feeds/tag/nope/page/2.json", "no feed for tag 'nope'"),
    ],
)
async def test_unknown_feeds_and_pages_are_404_saying_where_the_feeds_are(
    client: TestClient, path: str, message: str
) -> None:
    status, headers, body = await fetch(client, path, **IDENTITY)
    assert status == 404 and headers["Content-Type"].startswith(CONTENT_TYPE)
    assert json.loads(body) == {
        "type": problem_type("not_found"),
        "title": "Not Found",
        "status": 404,
        "detail": message,
        "feeds": f"{SITE}/",
        "opml": f"{SITE}/feeds.opml",
    }
    status, headers, body = await fetch(client, path, Accept=BROWSER, **IDENTITY)
    assert status == 404 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<a href="{SITE}/">'.encode() in body


async def test_archive_pages_are_served_and_page_one_redirects(client: TestClient) -> None:
    status, _, body = await fetch(client, "/feeds/all/page/2.atom", **IDENTITY)
    assert status == 200
    parsed = parse_xml_feed(body, "atom10")
    assert len(parsed.entries) == 2
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["previous"] == f"{SITE}/feeds/all.atom"
    assert links["next"] == links["last"] == f"{SITE}/feeds/all/page/3.atom"
    _, _, first = await fetch(client, "/feeds/all.atom", **IDENTITY)
    first_ids = {e.id for e in parse_xml_feed(first, "atom10").entries}
    assert first_ids.isdisjoint(e.id for e in parsed.entries)
    status, headers, _ = await fetch(client, "/feeds/all/page/1.json")
    assert (status, headers["Location"]) == (301, "/feeds/all.json")


async def test_a_browser_gets_a_readable_page_and_a_reader_gets_the_feed(
    client: TestClient,
) -> None:
    status, page_headers, page = await fetch(
        client, "/feeds/category/shamenwanbao.rss", Accept=BROWSER, **IDENTITY
    )
    assert status == 200 and page_headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.startswith(b"<!doctype html>")
    assert f"{SITE}/feeds/category/shamenwanbao.atom".encode() in page
    assert page_headers["Vary"] == "Accept, Accept-Encoding"
    for accept in (FEEDPARSER, "*/*", "application/rss+xml", None):
        headers = {"Accept": accept} if accept else {}
        _, feed_headers, body = await fetch(
            client, "/feeds/category/shamenwanbao.rss", **headers, **IDENTITY
        )
        assert feed_headers["Content-Type"] == CONTENT_TYPES["rss"]
        parse_xml_feed(body, "rss20")
        assert feed_headers["ETag"] != page_headers["ETag"]
    status, _, _ = await fetch(
        client,
        "/feeds/category/shamenwanbao.rss",
        Accept=BROWSER,
        **{"If-None-Match": page_headers["ETag"]},
        **IDENTITY,
    )
    assert status == 304
    status, _, _ = await fetch(
        client,
        "/feeds/category/shamenwanbao.rss",
        Accept=BROWSER,
        **{"If-None-Match": feed_headers["ETag"]},
        **IDENTITY,
    )
    assert status == 200


def _http_date(value: str, shift: timedelta) -> str:
    return format_datetime(parsedate_to_datetime(value) + shift, usegmt=True)


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        (lambda e, m: {"If-None-Match": e}, 304),
        (lambda e, m: {"If-None-Match": '"something-else"'}, 200),
        (lambda e, m: {"If-None-Match": f'"a", {e}, "b"'}, 304),
        (lambda e, m: {"If-None-Match": "*"}, 304),
        (lambda e, m: {"If-None-Match": f"W/{e}"}, 304),
        (lambda e, m: {"If-None-Match": f'{e[:-1]}-gzip"'}, 304),
        (lambda e, m: {"If-None-Match": f'W/{e[:-1]}-br"'}, 304),
        (lambda e, m: {"If-Modified-Since": _http_date(m, -timedelta(seconds=1))}, 200),
        (lambda e, m: {"If-Modified-Since": m}, 304),
        (lambda e, m: {"If-Modified-Since": _http_date(m, timedelta(days=3))}, 304),
        (lambda e, m: {"If-Modified-Since": "not a date"}, 200),
        (
            lambda e, m: {
                "If-None-Match": '"other"',
                "If-Modified-Since": _http_date(m, timedelta(days=3)),
            },
            200,
        ),
        (
            lambda e, m: {
                "If-None-Match": e,
                "If-Modified-Since": _http_date(m, -timedelta(days=3)),
            },
            304,
        ),
    ],
    ids=[
        "inm-match",
        "inm-mismatch",
        "inm-list",
        "inm-star",
        "inm-weak",
        "inm-gzip-twin",
        "inm-weak-br-twin",
        "ims-older",
        "ims-equal",
        "ims-newer",
        "ims-garbage",
        "inm-mismatch-beats-ims",
        "inm-match-beats-ims",
    ],
)
async def test_conditional_get(
    client: TestClient, conditions: Callable[[str, str], dict[str, str]], status: int
) -> None:
    path = f"{MINSHENG}.atom"
    _, first, body = await fetch(client, path, **IDENTITY)
    got, headers, again = await fetch(
        client, path, **conditions(first["ETag"], first["Last-Modified"]), **IDENTITY
    )
    assert got == status
    for name in ("ETag", "Last-Modified", "Cache-Control", "Vary"):
        assert headers[name] == first[name]
    # discovery is for the 200; a 304 carries only what updates the cached one (RFC 9110)
    assert headers.get("Link") == (None if status == 304 else first["Link"])
    assert again == (b"" if status == 304 else body)


async def test_compressed_twins_decode_to_the_same_bytes(client: TestClient) -> None:
    path = "/feeds/all.json"
    _, plain_headers, plain = await fetch(client, path, **IDENTITY)
    assert "Content-Encoding" not in plain_headers
    assert plain_headers["Cache-Control"] == "public, max-age=300"
    assert plain_headers["Vary"] == "Accept, Accept-Encoding"
    etag = plain_headers["ETag"]
    for accept, coding, decode in (
        ("gzip, deflate", "gzip", gzip.decompress),
        ("gzip, br", "br", brotli.decompress),
        ("br;q=0, gzip;q=0.5", "gzip", gzip.decompress),
    ):
        _, headers, body = await fetch(client, path, **{"Accept-Encoding": accept})
        assert headers["Content-Encoding"] == coding
        assert headers["ETag"] == f'{etag[:-1]}-{coding}"'
        assert decode(body) == plain and len(body) < len(plain)
        status, _, _ = await fetch(
            client, path, **{"Accept-Encoding": "identity", "If-None-Match": headers["ETag"]}
        )
        assert status == 304


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all.rss",
        f"{MINSHENG}.json",
        "/feeds/all/page/2.atom",
        "/feeds.opml",
        "/",
        "/feeds/tag/nope.rss",
    ],
)
async def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    get_status, get_headers, get_body = await fetch(client, path, **IDENTITY)
    status, headers, body = await fetch(client, path, "HEAD", **IDENTITY)
    assert (status, body) == (get_status, b"")
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Link"):
        assert headers.get(name) == get_headers.get(name)
    assert int(headers["Content-Length"]) == len(get_body)


async def test_link_headers_name_the_hub_and_self(client: TestClient) -> None:
    _, headers, _ = await fetch(client, f"{MINSHENG}.rss")
    assert headers["Link"] == f'<{SITE}{MINSHENG}.rss>; rel="self", <{SITE}/websub>; rel="hub"'
    _, headers, _ = await fetch(client, "/feeds/all/page/2.rss")
    assert headers["Link"] == f'<{SITE}/feeds/all/page/2.rss>; rel="self"'


async def test_built_documents_are_shared_through_redis(
    client: TestClient, feed_settings: Settings, redis_url: str
) -> None:
    _, headers, body = await fetch(client, f"{MINSHENG}.rss", **IDENTITY)
    store = redis.asyncio.Redis.from_url(redis_url)
    try:
        etags = await store.hgetall(keys.ETAGS)
        assert etags[f"{MINSHENG}.rss".encode()] == headers["ETag"].encode()
        stored = await store.hgetall(keys.doc(f"{MINSHENG}.rss"))
        assert stored[b"body"] == body
        assert gzip.decompress(stored[b"gzip"]) == body
        assert stored[b"content_type"] == CONTENT_TYPES["rss"].encode()
        assert int(await store.get(keys.VERSION)) >= 1
        # A process that does not build (a restart, or another worker) serves the same bytes.
        app = web.Application()
        app[SETTINGS] = feed_settings
        app[REDIS_BYTES] = store
        publisher = Publisher(app)
        await publisher.restore()
        edition = await publisher.current()
        assert edition is not None and edition.docs[f"{MINSHENG}.rss"].body == body
        assert (await DocumentStore(store).snapshot())[1].keys() == edition.docs.keys()
        await publisher.close()
    finally:
        await store.aclose()


async def test_on_change_fires_for_exactly_the_feeds_whose_bytes_changed(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(site__url=SITE)
    calls: list[tuple[str, bytes, str]] = []
    expected = {"count": 0}
    arrived = asyncio.Event()

    async def on_change(app: web.Application, url: str, body: bytes, content_type: str) -> None:
        calls.append((url, body, content_type))
        if len(calls) == expected["count"]:
            arrived.set()

    app = feeds_app(settings, on_change=on_change)
    client = await aiohttp_client(app, auto_decompress=False)
    assert (await client.get("/feeds/all.rss")).status == 200
    source = Source.copy(load_posts(settings))
    # The first build of an empty store announces every subscription document.
    feeds_count = (
        1
        + len({c for p in source.posts() for c in p.categories})
        + len({t for p in source.posts() for t in p.tags})
    )
    expected["count"] = 3 * feeds_count
    await asyncio.wait_for(arrived.wait(), 10)
    assert len({url for url, _, _ in calls}) == 3 * feeds_count
    calls.clear()
    assert await feeds.publish(app, Source.copy(source)) == []
    target = next(p for p in source.posts() if p.categories and p.tags)
    edited = dataclasses.replace(
        target, title=target.title + "（更新）", updated=target.updated + timedelta(hours=1)
    )
    source.items[source.items.index(target)] = edited
    changed = await feeds.publish(app, source)
    terms = (
        [("all", "")]
        + [("category", c) for c in target.categories]
        + [("tag", tag) for tag in target.tags]
    )
    urls = {
        f"{SITE}{term_path(kind, term)}.{fmt}"
        for kind, term in terms
        for fmt in ("rss", "atom", "json")
    }
    assert set(changed) == urls
    expected["count"] = len(urls)
    arrived.clear()
    await asyncio.wait_for(arrived.wait(), 10)
    assert {url for url, _, _ in calls} == urls
    for url, body, content_type in calls:
        path = url.removeprefix(SITE)
        response = await client.get(path, headers=IDENTITY)
        assert await response.read() == body
        assert response.headers["Content-Type"] == content_type
        assert "（更新）".encode() in body


async def test_share_links_from_the_hook_appear_in_every_format(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    async def share_links(app: web.Application, posts: Sequence[Post]) -> Mapping[str, str]:
        return {
            post.url: f"{SITE}/html_News/NewsShare.html?infoCode=NW{i:018d}"
            for i, post in enumerate(posts)
        }

    client = await aiohttp_client(feeds_app(make_settings(site__url=SITE), share_links=share_links))
    atom = parse_xml_feed(await (await client.get("/feeds/all.atom")).read(), "atom10")
    related = [link.href for e in atom.entries for link in e.links if link.rel == "related"]
    assert len(related) == len(atom.entries) and all("infoCode=NW" in url for url in related)
    assert [e.link for e in atom.entries] != related
    rss = xml_tree(await (await client.get("/feeds/all.rss")).read())
    assert [item.findtext("dc:relation", namespaces=NS) for item in rss.iter("item")] == related
    items = parse_json_feed(await (await client.get("/feeds/all.json")).read())["items"]
    assert [item["_finews"]["share_url"] for item in items] == related


async def test_a_failing_share_link_hook_still_publishes_the_feeds(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def share_links(app: web.Application, posts: Sequence[Post]) -> Mapping[str, str]:
        raise ConnectionError("shortlinks unavailable")

    client = await aiohttp_client(feeds_app(make_settings(site__url=SITE), share_links=share_links))
    response = await client.get("/feeds/all.atom")
    assert response.status == 200
    assert all(
        link.rel != "related"
        for e in parse_xml_feed(await response.read(), "atom10").entries
        for link in e.links
    )
    assert any("event=share_links_failed" in r.getMessage() for r in caplog.records)


async def test_a_rebuild_keeps_serving_the_previous_bytes_until_the_swap(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    hold = asyncio.Event()
    building = asyncio.Event()

    async def share_links(app: web.Application, posts: Sequence[Post]) -> Mapping[str, str]:
        if posts and "（更新）" in posts[0].title:
            building.set()
            await hold.wait()  # the second build stalls here
        return {}

    settings = make_settings(site__url=SITE)
    app = feeds_app(settings, share_links=share_links)
    client = await aiohttp_client(app)
    before = await (await client.get("/feeds/all.atom")).read()
    source = Source.copy(load_posts(settings))
    source.items[0] = dataclasses.replace(source.items[0], title=source.items[0].title + "（更新）")
    rebuild = asyncio.create_task(feeds.publish(app, source))
    await asyncio.wait_for(building.wait(), 10)
    during = await client.get("/feeds/all.atom")
    assert during.status == 200 and await during.read() == before
    hold.set()
    assert f"{SITE}/feeds/all.atom" in await rebuild
    after = await (await client.get("/feeds/all.atom")).read()
    assert after != before and "（更新）".encode() in after


async def test_with_nothing_built_yet_a_request_gets_503_with_retry_after(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    never = asyncio.Event()

    async def share_links(app: web.Application, posts: Sequence[Post]) -> Mapping[str, str]:
        await never.wait()  # the first build never finishes
        return {}

    settings = make_settings(site__url=SITE, feeds__first_build_wait=0.2)
    client = await aiohttp_client(feeds_app(settings, share_links=share_links))
    response = await client.get("/feeds/all.rss")
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    body = await response.json()
    assert body["status"] == 503 and "being built" in body["detail"]


async def test_feeds_are_served_from_memory_when_redis_is_unreachable(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(redis__url=f"unix://{tmp_path}/nobody-home.sock")
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/feeds/all.atom")
    assert response.status == 200
    parse_xml_feed(await response.read(), "atom10")
    assert await feeds.publish(client.app, Source.copy(load_posts(settings))) == []
    assert any("event=feeds_store_failed" in r.getMessage() for r in caplog.records)
    assert (await client.get("/feeds/all.atom")).status == 200
