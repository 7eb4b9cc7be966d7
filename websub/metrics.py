"""WebSub metrics, in the registry /metrics scrapes (finews.core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

WEBSUB_DELIVERIES = Counter(
    "finews_websub_deliveries_total",
    "WebSub subscriptions, content deliveries and publish pings, by kind and outcome.",
    ["kind", "outcome"],
)
