"""Feed metrics, in the registry /metrics scrapes (finews.core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from finews.core.metrics import PlainCounter

# On the path of every cached feed request: a plain counter (finews/core/metrics.py).
FEED_CACHE_HITS = PlainCounter("finews_feed_cache_hits_total", "Feed requests answered from cache.")
FEED_CACHE_MISSES = Counter(
    "finews_feed_cache_misses_total", "Feed requests that found no cached document."
)
# Its _count is the number of builds.
FEED_BUILD_SECONDS = Histogram(
    "finews_feed_build_duration_seconds",
    "Feed builds and their duration.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
# 1 in the process that builds the feeds, 0 in followers (one series per live worker).
FEEDS_BUILDER = Gauge(
    "finews_feeds_builder",
    "1 when this process builds the feeds (feeds.role, or the builder lease), else 0.",
    multiprocess_mode="liveall",
)
