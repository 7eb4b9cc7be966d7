"""Display names of category slugs (`feeds.category_names`), e.g. shamenwanbao -> 厦门晚报."""

from __future__ import annotations

from finews.core.settings import Settings


def category_name(settings: Settings, slug: str) -> str:
    """The configured display name of a category, else the slug as written."""
    return settings.feeds.category_names.get(slug, slug)
