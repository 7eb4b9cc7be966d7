"""Canonical article paths from Jekyll permalink styles and placeholders.

The same pattern language as Jekyll (`/:categories/:year/:month/:day/:title:output_ext`),
so a site moved from Jekyll keeps its article URLs, and with them its feed item ids.
Deliberately free of finews imports: the settings validator uses `pattern_problem`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from urllib.parse import quote

STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
PLACEHOLDERS = (
    "slugified_categories",
    "categories",
    "short_month",
    "long_month",
    "short_year",
    "output_ext",
    "i_month",
    "minute",
    "second",
    "title",
    "month",
    "y_day",
    "i_day",
    "slug",
    "year",
    "hour",
    "day",
)
_PLACEHOLDER = re.compile(":(" + "|".join(PLACEHOLDERS) + ")")  # a name before its prefixes
_UNKNOWN = re.compile(r":[a-z_]+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LONG_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
OUTPUT_EXT = ".html"  # every post source (.md, .markdown, .html, .txt) becomes a page
# Jekyll's slugify modes: "default" keeps letters and digits, "pretty" also ._~!$&'()+,;=@
_SLUG_DEFAULT = re.compile(r"[\W_]+")
_SLUG_PRETTY = re.compile(r"[^\w.~!$&'()+,;=@]+")
_FILE_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}-")
_PATH_SAFE = "-._~!$&'()*+,;=:@/%"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")  # needs no encoding


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
    if "//" in path or "/." in path or not path.startswith("/"):
        trailing = path.endswith("/")
        segments = [s for s in path.split("/") if s not in ("", ".", "..")]
        path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    if _PATH_CHARS.fullmatch(path):
        return path
    return quote(_STRAY_PERCENT.sub("%25", path), safe=_PATH_SAFE)


_VALUES: dict[str, Callable[[datetime, Sequence[str], str], str]] = {
    "year": lambda d, c, s: f"{d.year:04d}",
    "month": lambda d, c, s: f"{d.month:02d}",
    "i_month": lambda d, c, s: str(d.month),
    "short_month": lambda d, c, s: _MONTHS[d.month - 1],
    "long_month": lambda d, c, s: _LONG_MONTHS[d.month - 1],
    "day": lambda d, c, s: f"{d.day:02d}",
    "i_day": lambda d, c, s: str(d.day),
    "y_day": lambda d, c, s: f"{d.timetuple().tm_yday:03d}",
    "short_year": lambda d, c, s: f"{d.year % 100:02d}",
    "hour": lambda d, c, s: f"{d.hour:02d}",
    "minute": lambda d, c, s: f"{d.minute:02d}",
    "second": lambda d, c, s: f"{d.second:02d}",
    "title": lambda d, c, s: slugify(s, pretty=True),
    "slug": lambda d, c, s: slugify(s),
    "categories": lambda d, c, s: "/".join(dict.fromkeys(name.lower() for name in c)),
    "slugified_categories": lambda d, c, s: "/".join(dict.fromkeys(slugify(n) for n in c)),
    "output_ext": lambda d, c, s: OUTPUT_EXT,
}


@cache
def _checked(pattern: str) -> str:
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(f"permalink {pattern!r}: {problem}")
    return template(pattern)


def expand(pattern: str, *, published: datetime, categories: Sequence[str], slug: str) -> str:
    """The percent-encoded path for one post; ValueError names an unknown placeholder."""
    path = _PLACEHOLDER.sub(
        lambda m: _VALUES[m.group(1)](published, categories, slug), _checked(pattern)
    )
    return _clean_path(path)
