"""Share-link metrics, in the registry /metrics scrapes (finews.core.metrics)."""

from __future__ import annotations

from prometheus_client import Counter

REDIRECTS = Counter("finews_redirects_total", "Share-link redirects sent, by status.", ["status"])
