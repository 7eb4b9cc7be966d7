"""Share-link metrics, in the registry /metrics scrapes (finews.core.metrics)."""

from __future__ import annotations

from finews.core.metrics import PlainCounter

# On the path of every redirect: a plain counter (finews/core/metrics.py).
REDIRECTS = PlainCounter(
    "finews_redirects_total", "Share-link redirects sent, by status.", ("status",)
)
