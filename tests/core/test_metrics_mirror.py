"""Under workers each process mirrors its request figures into prometheus_client's
multiprocess files, which any worker's scrape sums: the files must hold exactly what the
process counted once the mirror is written, and be rewritten only where figures changed."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from feeds.metrics import FEED_CACHE_HITS
from finews.core.metrics import HttpStats


def scraped(directory: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return registry


def requests(registry: CollectorRegistry, status: str) -> float | None:
    labels = {"route": "/s/{code}", "method": "GET", "status": status}
    return registry.get_sample_value("finews_http_requests_total", labels)


def test_a_written_mirror_holds_every_count_and_the_latency(tmp_path: Path) -> None:
    stats = HttpStats()
    stats.directory = str(tmp_path)
    for _ in range(3):
        stats.observe("/s/{code}", "GET", 302, 0.002)
    stats.observe("/s/{code}", "GET", 404, 0.3)
    FEED_CACHE_HITS.inc()

    assert requests(scraped(tmp_path), "302") is None  # not written yet: no per-request I/O
    stats.mirror_now()
    registry = scraped(tmp_path)
    assert requests(registry, "302") == 3
    assert requests(registry, "404") == 1
    latency = {"route": "/s/{code}", "method": "GET"}
    bucket = "finews_http_request_duration_seconds_bucket"
    assert registry.get_sample_value(bucket, {**latency, "le": "0.005"}) == 3
    assert registry.get_sample_value(bucket, {**latency, "le": "0.5"}) == 4
    total = registry.get_sample_value("finews_http_request_duration_seconds_sum", latency)
    assert total is not None and abs(total - 0.306) < 1e-9
    hits = registry.get_sample_value("finews_feed_cache_hits_total")
    assert hits == FEED_CACHE_HITS.labels().value

    stats.observe("/s/{code}", "GET", 302, 0.002)
    stats.mirror_now()
    assert requests(scraped(tmp_path), "302") == 4
    assert requests(scraped(tmp_path), "404") == 1
