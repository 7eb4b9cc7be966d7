"""Canonical article paths from Jekyll permalink styles and placeholders.

The same pattern language as Jekyll (`/:categories/:year/:month/:day/:title:output_ext`),
so a site moved from Jekyll keeps its article URLs, and with them its feed item ids.
Deliberately free of finews imports: the settings validator uses `pattern_problem`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
PLACEHOLDERS = ("slugified_categories", "categories", "short_month", "long_month", "short_year",
                "output_ext", "i_month", "minute", "second", "title", "month", "y_day", "i_day",
                "slug", "year", "hour", "day")
_PLACEHOLDER = re.compile(":(" + "|".join(PLACEHOLDERS) + ")")  # a name before its prefixes
_UNKNOWN = re.compile(r":[a-z_]+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LONG_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
OUTPUT_EXT = ".html"  # every post source (.md, .markdown, .html, .txt) becomes a page
# Jekyll's slugify modes: "default" keeps letters and digits, "pretty" also ._~!$&'()+,;=@
_SLUG_DEFAULT = re.compile(r"[\W_]+")
_SLUG_PRETTY = re.compile(r"[^\w.~!$&'()+,;=@]+")
_FILE_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}-")
_PATH_SAFE = "-._~!$&'()*+,;=:@/%"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def template(value: str) -> str:
    """The pattern for a style name (date, pretty, ordinal, none) or the pattern itself."""
    return STYLES.get(value, value)


def pattern_problem(value: str) -> str | None:
    """Why `value` is not a usable permalink style or pattern, or None."""
    pattern = template(value)
    if not pattern.startswith("/") or pattern.startswith("//"):
        return f"expected {', '.join(STYLES)} or a path starting with /"
    unknown = _UNKNOWN.search(_PLACEHOLDER.sub("", pattern))
    if unknown:
        return f"unknown placeholder {unknown.group()} (known: :{', :'.join(PLACEHOLDERS)})"
    return None


def slugify(text: str, *, pretty: bool = False) -> str:
    """Jekyll's slugify: other characters become "-"; "default" mode is also lowercased.

    Chinese letters are letters, so they stay (and are percent-encoded in the URL).
    """
    if pretty:
        return _SLUG_PRETTY.sub("-", text).strip("-")
    return _SLUG_DEFAULT.sub("-", text).strip("-").lower()


def file_slug(stem: str) -> str:
    """A post's name slug: its file name without extension and `YYYY-MM-DD-` prefix."""
    return _FILE_DATE_PREFIX.sub("", stem, count=1)


def _clean_path(path: str) -> str:
    """Single slashes, no `.` or `..` segments, a leading slash, percent-encoded."""
    trailing = path.endswith("/")
    segments = [s for s in path.split("/") if s not in ("", ".", "..")]
    clean = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    return quote(_STRAY_PERCENT.sub("%25", clean), safe=_PATH_SAFE)


def expand(pattern: str, *, published: datetime, categories: Sequence[str], slug: str) -> str:
    """The percent-encoded path for one post; ValueError names an unknown placeholder."""
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(f"permalink {pattern!r}: {problem}")
    values = {
        "year": f"{published.year:04d}", "month": f"{published.month:02d}",
        "i_month": str(published.month), "short_month": _MONTHS[published.month - 1],
        "long_month": _LONG_MONTHS[published.month - 1], "day": f"{published.day:02d}",
        "i_day": str(published.day), "y_day": published.strftime("%j"),
        "short_year": published.strftime("%y"), "hour": f"{published.hour:02d}",
        "minute": f"{published.minute:02d}", "second": f"{published.second:02d}",
        "title": slugify(slug, pretty=True), "slug": slugify(slug),
        "categories": "/".join(dict.fromkeys(c.lower() for c in categories)),
        "slugified_categories": "/".join(dict.fromkeys(slugify(c) for c in categories)),
        "output_ext": OUTPUT_EXT,
    }
    return _clean_path(_PLACEHOLDER.sub(lambda m: values[m.group(1)], template(pattern)))
