"""Front-matter dates to timezone-aware datetimes that keep the offset they were written with.

YAML turns `2022-05-24 13:46:42 +08:00` into a datetime but leaves Jekyll's usual
`2022-05-24 13:46:42 +0800` a string, and a date without an offset means the site's
timezone (labelling it UTC would move Chinese news by eight hours).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

_WRITTEN = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?", re.I)
_FILE_NAME_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})-")
_ZONES: dict[timedelta, timezone] = {timedelta(0): timezone.utc}


def fixed(moment: datetime) -> datetime:
    """`moment` with a fixed-offset tzinfo shared by all dates with that offset.

    Dates read from files and from the index then compare and print alike, and 100,000
    posts share a handful of tzinfo objects.
    """
    offset = moment.utcoffset()
    assert offset is not None
    zone = _ZONES.get(offset)
    if zone is None:
        zone = _ZONES.setdefault(offset, timezone(offset))
    return moment if moment.tzinfo is zone else moment.replace(tzinfo=zone)


def _local(moment: datetime, zone: tzinfo) -> datetime:
    return fixed(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def _offset(text: str) -> timezone | None:
    if not text:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return timezone.utc
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _from_text(text: str, zone: tzinfo) -> datetime:
    match = _WRITTEN.fullmatch(text.strip())
    if match:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                          int(second or 0), int((fraction or "0").ljust(6, "0")),
                          tzinfo=_offset(offset or ""))
        return _local(moment, zone)
    return _local(parsedate_to_datetime(text), zone)  # RFC 2822: "Tue, 24 May 2022 ..."


def parse_date(value: object, zone: tzinfo) -> datetime:
    """A front-matter date value as an aware datetime; ValueError saying why not."""
    if isinstance(value, datetime):
        return _local(value, zone)
    if isinstance(value, date):
        return _local(datetime(value.year, value.month, value.day), zone)
    if isinstance(value, str) and value.strip():
        try:
            return _from_text(value, zone)
        except (ValueError, TypeError, OverflowError):
            pass
    raise ValueError(f"{value!r} is not a date (expected e.g. 2022-05-24 13:46:42 +0800)")


def file_name_date(name: str, zone: tzinfo) -> datetime | None:
    """Midnight of a Jekyll `YYYY-MM-DD-` file name prefix in the site's timezone, if any."""
    match = _FILE_NAME_DATE.match(name)
    if not match:
        return None
    try:
        return _local(datetime(*map(int, match.groups())), zone)
    except ValueError:
        return None
