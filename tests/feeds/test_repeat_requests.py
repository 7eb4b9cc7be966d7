"""A repeat request (same feed, headers and validator) is answered from the memo of the
current edition: byte for byte what the full path answers, counted as a cache hit, and
never an answer of an older edition."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import feeds
from feeds.posts import load_posts
from feeds.routes import MEMO
from finews.app import create_app
from finews.core.settings import Settings
from tests.core.test_metrics import scrape, value
from tests.feed_helpers import Source
from tests.metric_samples import sample

PATH = "/feeds/all.rss"


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]):
    return await aiohttp_client(create_app(make_settings()), auto_decompress=False)


async def answer(client: TestClient, **headers: str) -> tuple[int, dict[str, str], bytes]:
    response = await client.get(PATH, headers=headers)
    kept = {k.lower(): v for k, v in response.headers.items() if k not in ("Date", "Server")}
    return response.status, kept, await response.read()


async def test_repeats_get_the_same_answer_for_each_coding_and_validator(
    client: TestClient,
) -> None:
    first = await answer(client, **{"Accept-Encoding": "gzip"})
    assert first[0] == 200, first
    etag = first[1]["etag"]
    variants = [
        {"Accept-Encoding": "gzip"},
        {"Accept-Encoding": "identity"},
        {"Accept-Encoding": "br"},
        {"Accept-Encoding": "gzip", "If-None-Match": etag},
        {"Accept-Encoding": "identity", "If-None-Match": etag},  # any coding's tag matches
        {"Accept-Encoding": "gzip", "If-None-Match": '"someone-else"'},
        {"Accept-Encoding": "gzip", "If-Modified-Since": first[1]["last-modified"]},
        {"Accept": "text/html", "Accept-Encoding": "identity"},
    ]
    hits = sample("finews_feed_cache_hits_total")
    answers = [await answer(client, **headers) for headers in variants]
    assert len(client.app[MEMO].answers) >= len(variants)
    repeats = [await answer(client, **headers) for headers in variants]
    assert repeats == answers
    assert sample("finews_feed_cache_hits_total") - hits == 2 * len(variants)
    statuses = [status for status, _, _ in answers]
    assert statuses == [200, 200, 200, 304, 304, 200, 304, 200]
    codings = [headers.get("content-encoding") for _, headers, _ in answers[:3]]
    assert codings == ["gzip", None, "br"]
    assert answers[-1][1]["content-type"].startswith("text/html")


async def test_a_new_edition_is_never_answered_from_the_old_memo(
    client: TestClient, make_settings: Callable[..., Settings]
) -> None:
    status, before, _ = await answer(client, **{"Accept-Encoding": "identity"})
    assert status == 200
    again = await answer(client, **{"Accept-Encoding": "identity", "If-None-Match": before["etag"]})
    assert again[0] == 304
    source = Source.copy(load_posts(make_settings()))
    newest = source.items[0]
    source.items[0] = dataclasses.replace(
        newest, title=newest.title + "（更新）", updated=newest.updated + timedelta(hours=1)
    )
    assert any(url.endswith(PATH) for url in await feeds.publish(client.app, source))
    status, after, body = await answer(
        client, **{"Accept-Encoding": "identity", "If-None-Match": before["etag"]}
    )
    assert status == 200 and after["etag"] != before["etag"]
    assert "（更新）".encode() in body


async def test_remembered_answers_are_counted_under_their_route(client: TestClient) -> None:
    """Answered before routing (finews/core/hot.py), still counted as the route's requests."""
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get(PATH)).status == 200
    assert (await client.get("/feeds/category/no-such-category.rss")).status == 404
    after = await scrape(client)
    labels = {"route": "/feeds/{name}", "method": "GET", "status": "200"}
    requests = "finews_http_requests_total"
    assert value(after, requests, **labels) - value(before, requests, **labels) == 3
