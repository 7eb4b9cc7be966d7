"""Checks of the `[posts]` and `[feeds]` settings, handed to the settings loader by the root.

They live with the code that reads these values, so the loader (finews.core) needs to know
nothing of feeds.
"""

from __future__ import annotations

from feeds.permalink import pattern_problem
from finews.core.settings import Check, at_least, check_pattern, one_of, positive


def checks() -> dict[str, Check]:
    """Key -> check of the [posts] and [feeds] settings; a function, as core_checks is."""
    return {
        **{f"posts.{key}": positive for key in ("max_bytes", "max_front_matter_nodes")},
        "feeds.items_per_feed": at_least(1),
        "feeds.max_age": at_least(0, "seconds"),
        "feeds.category_page": check_pattern("site", "slug"),
        "feeds.tag_page": check_pattern("site", "tag"),
        "feeds.hub": check_pattern("site", optional=True),
        "feeds.description": check_pattern("site", "name", url=False),
        "feeds.archive_cache": at_least(0, "pages"),
        "feeds.first_build_wait": lambda v: None if v > 0 else "expected more than 0 seconds",
        "feeds.permalink": pattern_problem,
        "feeds.summary_length": lambda v: None if v > 0 else "expected a positive integer",
        "feeds.parse_workers": lambda v: None if v >= 0 else "expected 0 (one per CPU) or more",
        "feeds.role": one_of("auto", "builder", "follower"),
        "feeds.lease_seconds": lambda v: None if v > 0 else "expected more than 0 seconds",
        "feeds.watch_debounce": at_least(1, "milliseconds"),
        "feeds.poll_stats_interval": lambda v: None if v > 0 else "expected more than 0 seconds",
        "feeds.poll_stats_days": at_least(1, "days"),
        "feeds.poll_stats_readers": at_least(1, "names"),
    }
