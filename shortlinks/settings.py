"""Checks of the `[shortlinks]` and `[api]` settings, handed to the settings loader by the root."""

from __future__ import annotations

import re

from finews.core.settings import Check, one_of, positive
from shortlinks.codes import prefix_problem


def _check_hosts(value: list[str]) -> str | None:
    bad = [
        h
        for h in value
        if not re.fullmatch(r"[a-z0-9.-]+(:\d{1,5})?|\[[0-9a-f:.]+\](:\d{1,5})?", h)
    ]
    return f"expected lower-case host or host:port entries, not {bad[0]!r}" if bad else None


def checks() -> dict[str, Check]:
    """Key -> check of the [shortlinks] and [api] settings; a function, as core_checks is."""
    return {
        "shortlinks.prefix": prefix_problem,
        "shortlinks.redirect_status": one_of(301, 302, 307, 308),
        "shortlinks.qr_error": one_of("L", "M", "Q", "H"),
        "shortlinks.allowed_hosts": _check_hosts,
        **{
            f"shortlinks.{key}": positive
            for key in (
                "cache_size",
                "cache_ttl",
                "visit_flush_interval",
                "visit_batch",
                "visit_queue_max",
                "repeat_window",
                "qr_scale",
                "qr_max_scale",
                "api_body_max",
                "rate_create_per_key",
                "rate_create_per_address",
                "rate_scan_per_address",
                "rate_window",
                "claim_attempts",
                "replica_wait",
                "sources_max",
                "hourly_days",
                "retention_days",
                "events_max",
                "events_days",
                "list_scan_max",
                "qr_max_border",
            )
        },
        **{f"api.{key}": positive for key in ("json_max_depth", "json_max_number_length")},
    }
