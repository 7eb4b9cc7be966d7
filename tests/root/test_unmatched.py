"""Requests no route takes still get aiohttp's answers (404, or 405 naming the allowed
methods) and are counted under route="unmatched", now that no middleware sees them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.settings import Settings
from tests.core.test_metrics import scrape, value


async def test_unknown_paths_404_known_paths_405_and_both_are_counted(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    before = await scrape(client)
    missing = await client.get("/no/such/page")
    assert missing.status == 404
    wrong = await client.post("/healthz")
    assert wrong.status == 405
    assert set(wrong.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert (await client.delete("/api/links/NW202205242389705455")).status != 405
    after = await scrape(client)
    requests = "finews_http_requests_total"

    def delta(**labels: str) -> float:
        return value(after, requests, **labels) - value(before, requests, **labels)

    assert delta(route="unmatched", method="GET", status="404") == 1
    assert delta(route="unmatched", method="POST", status="405") == 1
