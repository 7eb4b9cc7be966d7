"""Front-matter dates to timezone-aware datetimes that keep the offset they were written with.

YAML turns `2022-05-24 13:46:42 +08:00` into a datetime but leaves Jekyll's usual
`2022-05-24 13:46:42 +0800` a string, and a date without an offset means the site's
timezone (labelling it UTC would move Chinese news by eight hours).

Every date handed out is one every output can carry (`carried`): a year from 1000 to 9999
both in UTC and at its own offset (RFC 3339 and RFC 822 write four digits, and the RSS
writer writes years below 1000 with fewer; share codes need YYYYMMDD), an offset of whole
minutes (local mean time before standard zones had seconds: rounded), and a round trip
through the index (`to_epoch`/`from_epoch`) that gives it back unchanged.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

_WRITTEN = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:(?:[Tt]|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?",
    re.I,
)
_FILE_NAME_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})-")
_ZONES: dict[int, timezone] = {0: UTC}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MIN_YEAR, MAX_YEAR = 1000, 9999


def _zone(offset_seconds: int) -> timezone:
    """One shared fixed-offset tzinfo per offset: datetimes with the same tzinfo object
    compare field by field, with different ones through utcoffset() calls (sorting
    100,000 posts would be several times slower)."""
    zone = _ZONES.get(offset_seconds)
    if zone is None:
        zone = _ZONES.setdefault(offset_seconds, timezone(timedelta(seconds=offset_seconds)))
    return zone


def to_epoch(moment: datetime) -> tuple[int, int]:
    """An aware datetime as (microseconds since 1970 UTC, UTC offset in seconds)."""
    offset = moment.utcoffset()
    assert offset is not None
    return (moment - _EPOCH) // _MICROSECOND, offset // timedelta(seconds=1)


def from_epoch(microseconds: int, offset_seconds: int) -> datetime:
    """The datetime `to_epoch` took apart, with the shared tzinfo of its offset."""
    seconds, micro = divmod(microseconds, 1_000_000)
    moment = datetime.fromtimestamp(seconds, _zone(offset_seconds))
    return moment.replace(microsecond=micro) if micro else moment


def _local(moment: datetime, zone: tzinfo) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


class DateOutOfRange(ValueError):
    """A real date that a feed or the index cannot carry."""


def carried(moment: datetime) -> datetime:
    """`moment` (aware) if every feed format and the index can carry it, with an offset of
    whole minutes; DateOutOfRange ("date out of range: ...") if not."""
    offset = moment.utcoffset()
    if offset is None:
        raise DateOutOfRange(f"date out of range: {moment.isoformat()} has no UTC offset")
    if offset % timedelta(minutes=1):  # +08:05:43 (LMT): RFC 3339 has no seconds there
        minutes = round(offset / timedelta(minutes=1))
        moment = moment.replace(tzinfo=_zone(minutes * 60))
    try:
        utc: datetime | None = moment.astimezone(UTC)
        back: datetime | None = from_epoch(*to_epoch(moment))
    except (ValueError, OverflowError, OSError):
        utc = back = None
    years = (utc.year, moment.year) if utc else (0,)
    if (
        back is None
        or back != moment
        or back.utcoffset() != moment.utcoffset()
        or not all(MIN_YEAR <= year <= MAX_YEAR for year in years)
    ):
        raise DateOutOfRange(
            f"date out of range: {moment.isoformat()} (feeds carry years "
            f"{MIN_YEAR} to {MAX_YEAR}, in UTC and at the written offset)"
        )
    return moment


def _offset(text: str) -> timezone | None:
    if not text:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _from_text(text: str, zone: tzinfo) -> datetime:
    match = _WRITTEN.fullmatch(text.strip())
    if match:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=_offset(offset or ""),
        )
        return _local(moment, zone)
    return _local(parsedate_to_datetime(text), zone)  # RFC 2822: "Tue, 24 May 2022 ..."


def parse_date(value: object, zone: tzinfo) -> datetime:
    """A front-matter date value as an aware datetime; ValueError saying why not."""
    if isinstance(value, datetime):
        return carried(_local(value, zone))
    if isinstance(value, date):
        return carried(_local(datetime(value.year, value.month, value.day), zone))
    if isinstance(value, str) and value.strip():
        try:
            moment = _from_text(value, zone)
        except (ValueError, TypeError, OverflowError):
            pass
        else:
            return carried(moment)
    raise ValueError(f"{value!r} is not a date (expected e.g. 2022-05-24 13:46:42 +0800)")


def file_name_date(name: str, zone: tzinfo) -> datetime | None:
    """Midnight of a Jekyll `YYYY-MM-DD-` file name prefix in the site's timezone, if any."""
    match = _FILE_NAME_DATE.match(name)
    if not match:
        return None
    try:
        year, month, day = map(int, match.groups())
        return _local(datetime(year, month, day), zone)
    except ValueError:
        return None
