"""Words shown to people (home page, feed views, 404 pages, OPML groups) in the site's
language, from the gettext catalogue feeds/locale/LANG/LC_MESSAGES/feeds.po (see
finews.core.i18n): Chinese for zh-* sites, English otherwise."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

from finews.core.i18n import translations

LOCALE = Path(__file__).resolve().parent / "locale"


@functools.cache
def labels(language: str) -> Mapping[str, str]:
    """Each word of the feeds' pages by name; `page` and `posts` are format strings."""
    _ = translations(LOCALE, "feeds", language).gettext
    return {
        "category": _("Categories"),
        "tag": _("Tags"),
        "opml": _("OPML subscription list"),
        "subscribe": _("Add any of these addresses to your feed reader:"),
        "newer": _("← Newer"),
        "older": _("Older →"),
        "page": _("Page {number} of {count}"),
        "posts": _("{count} posts"),
        "home": _("All feeds"),
        "not_found": _("Not found"),
        "not_found_text": _("There is no feed or page at this address."),
    }
