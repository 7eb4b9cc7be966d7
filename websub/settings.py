"""Checks of the `[websub]` settings, handed to the settings loader by the root."""

from __future__ import annotations

from finews.core.settings import Check, check_urls, positive


def _check_paths(values: list[str]) -> str | None:
    return None if all(v.startswith("/") for v in values) else "expected paths starting with /"


def checks() -> dict[str, Check]:
    """Key -> check of the [websub] settings; a function, as core_checks is."""
    return {
        "websub.topic_paths": _check_paths,
        "websub.publish_hubs": check_urls,
        **{
            f"websub.{key}": positive
            for key in (
                "max_subscriptions_per_host",
                "lease_seconds",
                "min_lease_seconds",
                "max_lease_seconds",
                "delivery_timeout",
                "max_response_bytes",
                "max_attempts",
                "retry_delay",
                "retry_max_delay",
                "concurrency",
                "max_pending_verifications",
            )
        },
    }
