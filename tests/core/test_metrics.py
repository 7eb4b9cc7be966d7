"""GET /metrics: Prometheus text with requests by route pattern and status, and latency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from finews.app import create_app
from finews.core.settings import Settings


async def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_scrape_counts_requests_by_route_and_status_with_latency_buckets(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/healthz")).status == 200
    assert (await client.get("/no/such/page/12345")).status == 404
    assert (await client.post("/websub", data={"hub.mode": "nonsense"})).status == 400
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "finews_http_requests_total"
    assert delta(requests, route="/healthz", method="GET", status="200") == 3
    assert delta(requests, route="unmatched", method="GET", status="404") == 1
    assert delta(requests, route="/websub", method="POST", status="400") == 1
    assert not any("/no/such/page" in str(labels) for _, labels in after)  # bounded labels
    latency = "finews_http_request_duration_seconds"
    assert delta(f"{latency}_count", route="/healthz", method="GET") == 3
    assert delta(f"{latency}_bucket", route="/healthz", method="GET", le="+Inf") == 3
    buckets = [
        labels
        for name, labels in after
        if name == f"{latency}_bucket" and ("route", "/healthz") in labels
    ]
    assert len(buckets) > 5


async def test_the_shared_metric_objects_are_exported(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    text = await (await client.get("/metrics")).text()
    for name, kind in [
        ("finews_redirects_total", "counter"),
        ("finews_feed_cache_hits_total", "counter"),
        ("finews_feed_cache_misses_total", "counter"),
        ("finews_feed_build_duration_seconds", "histogram"),
        ("finews_websub_deliveries_total", "counter"),
        ("finews_redis_errors_total", "counter"),
    ]:
        assert f"# TYPE {name} {kind}" in text
    assert "_created" not in text  # no creation-time gauges doubling every series


async def test_feed_builds_cache_hits_misses_and_redirects_are_counted(
    aiohttp_client: Callable[..., Awaitable[TestClient]], make_settings: Callable[..., Settings]
) -> None:
    client = await aiohttp_client(create_app(make_settings(feeds__items_per_feed=1)))
    assert (await client.get("/feeds/all.rss")).status == 200  # waits for the first build
    before = await scrape(client)
    assert value(before, "finews_feed_build_duration_seconds_count") >= 1
    assert (await client.get("/feeds/all.atom")).status == 200  # built: a hit
    assert (await client.get("/feeds/all/page/2.rss")).status == 200  # rendered: a miss
    assert (await client.get("/feeds/all/page/2.rss")).status == 200  # then kept: a hit
    code = (await (await client.get("/feeds/all.json")).json())["items"][0]["_finews"][
        "share_url"
    ].rpartition("=")[2]
    assert (await client.get(f"/s/{code}", allow_redirects=False)).status == 302
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("finews_feed_cache_hits_total") == 3  # atom, page 2 again, json
    assert delta("finews_feed_cache_misses_total") == 1
    assert delta("finews_redirects_total", status="302") == 1
