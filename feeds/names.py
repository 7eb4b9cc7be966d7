"""Display names of category slugs (`feeds.category_names`), e.g. shamenwanbao -> 厦门晚报."""

from __future__ import annotations

from collections.abc import Mapping

from finews.core.settings import Settings


def category_names(settings: Settings) -> Mapping[str, str]:
    """The slug -> display name table (`feeds.category_names`), empty when not configured."""
    # Section has no .get on purpose (a setting may be named `get`, see Section), so no SIM401.
    return settings.feeds["category_names"] if "category_names" in settings.feeds else {}  # noqa: SIM401


def category_name(names: Mapping[str, str], slug: str) -> str:
    """The configured display name of a category, else the slug as written."""
    return names.get(slug, slug)
