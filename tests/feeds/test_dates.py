"""The date parser called directly, on the strings YAML hands over unparsed.

YAML turns many front-matter dates into datetimes before `parse_date` sees them, so the
post tests never reach the parser's own branches for offsets with minutes, `Z`/`UTC`/`GMT`,
fractions, date-only strings or RFC 2822 dates without a zone. These do, one branch each.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from feeds.dates import (
    MAX_YEAR,
    MIN_YEAR,
    DateOutOfRange,
    carried,
    file_name_date,
    from_epoch,
    parse_date,
    to_epoch,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = UTC


def fixed(hours: int = 0, minutes: int = 0, seconds: int = 0) -> timezone:
    return timezone(timedelta(hours=hours, minutes=minutes, seconds=seconds))


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2022-05-24 13:46:42 +05:30", fixed(5, 30)),  # India
        ("2022-05-24 13:46:42 +0545", fixed(5, 45)),  # Nepal, Jekyll's spelling
        ("2022-05-24 13:46:42 -03:30", fixed(-3, -30)),  # Newfoundland: the sign covers minutes
        ("2022-05-24 13:46:42 -0930", fixed(-9, -30)),
        ("2022-05-24 13:46:42 +08", fixed(8)),  # hours only
        ("2022-05-24 13:46:42 -05", fixed(-5)),
        ("2022-05-24 13:46:42+0800", fixed(8)),  # no space before the offset
        ("2022-05-24 13:46:42 +00:00", UTC),
        ("2022-05-24 13:46:42 +14:00", fixed(14)),
        ("2022-05-24 13:46:42 -12:00", fixed(-12)),
    ],
)
def test_numeric_offsets_keep_hours_minutes_and_sign(text: str, offset: timezone) -> None:
    moment = parse_date(text, SHANGHAI)
    assert moment == datetime(2022, 5, 24, 13, 46, 42, tzinfo=offset)
    assert moment.utcoffset() == offset.utcoffset(None)
    assert (moment.hour, moment.minute, moment.second) == (13, 46, 42)


@pytest.mark.parametrize("zone", ["Z", "z", "UTC", "utc", "GMT", "gmt", "Gmt"])
@pytest.mark.parametrize("gap", ["", " "])
def test_z_utc_and_gmt_mean_utc_not_the_site_timezone(zone: str, gap: str) -> None:
    moment = parse_date(f"2022-05-24T05:46:42{gap}{zone}", SHANGHAI)
    assert moment.isoformat() == "2022-05-24T05:46:42+00:00"


@pytest.mark.parametrize(
    ("text", "microsecond"),
    [
        ("2022-05-24 13:46:42.5 +0800", 500_000),
        ("2022-05-24 13:46:42.25 +0800", 250_000),
        ("2022-05-24 13:46:42.000001 +0800", 1),
        ("2022-05-24 13:46:42.123456 +0800", 123_456),
        ("2022-05-24 13:46:42.1234567 +0800", 123_456),  # beyond microseconds: cut, not refused
        ("2022-05-24 13:46:42,75 +0800", 750_000),  # ISO 8601 allows a comma
        ("2022-05-24T13:46:42.050Z", 50_000),
    ],
)
def test_fractional_seconds_become_microseconds(text: str, microsecond: int) -> None:
    moment = parse_date(text, SHANGHAI)
    assert moment.microsecond == microsecond
    assert (moment.hour, moment.minute, moment.second) == (13, 46, 42)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-05-24", "2022-05-24T00:00:00+08:00"),
        ("2022/5/4", "2022-05-04T00:00:00+08:00"),
        ("  2022-05-24  ", "2022-05-24T00:00:00+08:00"),
        ("2022-05-24 13:46", "2022-05-24T13:46:00+08:00"),
        ("2022-05-24t09:05:07", "2022-05-24T09:05:07+08:00"),
        ("2022-05-24   9:05", "2022-05-24T09:05:00+08:00"),
        ("2022-05-24 +0530", "2022-05-24T00:00:00+05:30"),  # a date with an offset: its midnight
    ],
)
def test_date_only_and_short_times_are_in_the_site_timezone(text: str, expected: str) -> None:
    assert parse_date(text, SHANGHAI).isoformat() == expected


def test_a_date_without_offset_takes_the_zone_rules_of_that_day() -> None:
    assert parse_date("2022-01-10 12:00", BERLIN).isoformat() == "2022-01-10T12:00:00+01:00"
    assert parse_date("2022-07-10 12:00", BERLIN).isoformat() == "2022-07-10T12:00:00+02:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue, 24 May 2022 13:46:42 +0800", "2022-05-24T13:46:42+08:00"),
        ("Tue, 24 May 2022 13:46:42 +0545", "2022-05-24T13:46:42+05:45"),
        ("24 May 2022 13:46:42 GMT", "2022-05-24T13:46:42+00:00"),
        ("Tue, 24 May 2022 13:46:42", "2022-05-24T13:46:42+08:00"),  # no zone: the site's
        ("Tue, 24 May 2022 13:46:42 -0000", "2022-05-24T13:46:42+08:00"),  # "zone unknown"
    ],
)
def test_rfc_2822_dates(text: str, expected: str) -> None:
    assert parse_date(text, SHANGHAI).isoformat() == expected


def test_datetime_and_date_values_from_yaml() -> None:
    aware = datetime(2022, 5, 24, 13, 46, 42, tzinfo=fixed(5, 30))
    assert parse_date(aware, SHANGHAI) is aware
    naive = parse_date(datetime(2022, 5, 24, 13, 46, 42), SHANGHAI)
    assert naive.isoformat() == "2022-05-24T13:46:42+08:00"
    assert parse_date(date(2022, 5, 24), SHANGHAI).isoformat() == "2022-05-24T00:00:00+08:00"
    assert parse_date(date(2022, 7, 1), BERLIN).isoformat() == "2022-07-01T00:00:00+02:00"


@pytest.mark.parametrize(
    "value",
    [
        20220524,
        1653371202,
        2022.5,
        True,
        None,
        [],
        ["2022-05-24"],
        {"date": "2022-05-24"},
        b"2022-05-24",
        "",
        "   ",
        "yesterday",
        "2022-13-01",
        "2022-02-30",
        "2022-05-24 24:00",
        "2022-05-24 13:60",
        "2022-05-24 13:46:42 +2400",
        "2022-05-24 13:46:42 EST5",
        "22-05-24",
        "2022-05-24x",
        "Tue, 24 May 2022 25:00:00 +0800",
    ],
)
def test_what_is_not_a_date_is_a_value_error_quoting_it(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_date(value, SHANGHAI)
    message = str(caught.value)
    assert message == f"{value!r} is not a date (expected e.g. 2022-05-24 13:46:42 +0800)"


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (datetime(1000, 1, 1, tzinfo=UTC), True),
        (datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), False),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), True),
        (datetime(1000, 1, 1, 0, 30, tzinfo=fixed(1)), False),  # 999 in UTC
        (datetime(1000, 1, 1, 8, tzinfo=fixed(8)), True),  # 1000-01-01 00:00 UTC
        (datetime(999, 12, 31, 23, tzinfo=fixed(-1)), False),  # 1000 in UTC, 999 as written
        (datetime(9999, 12, 31, 22, tzinfo=fixed(-1)), True),  # 9999-12-31 23:00 UTC
        (datetime(9999, 12, 31, 23, tzinfo=fixed(-1)), False),  # year 10000 in UTC
        (datetime(1, 1, 1, tzinfo=UTC), False),
    ],
)
def test_years_from_1000_to_9999_in_utc_and_as_written(value: datetime, accepted: bool) -> None:
    if accepted:
        assert carried(value) == value
        assert parse_date(value, SHANGHAI) == value
    else:
        with pytest.raises(DateOutOfRange) as caught:
            carried(value)
        assert str(caught.value) == (
            f"date out of range: {value.isoformat()} (feeds carry years {MIN_YEAR} to "
            f"{MAX_YEAR}, in UTC and at the written offset)"
        )


def test_the_utc_year_is_checked_in_utc_whatever_the_server_timezone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """999-12-31 in UTC is refused on a server in Tokyo too, where it is already 1000."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        with pytest.raises(DateOutOfRange):
            carried(datetime(1000, 1, 1, 0, 30, tzinfo=fixed(1)))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_year_bounds_are_the_documented_ones() -> None:
    assert (MIN_YEAR, MAX_YEAR) == (1000, 9999)


def test_a_naive_moment_is_refused_naming_it() -> None:
    with pytest.raises(
        DateOutOfRange,
        match=r"^date out of range: 2022-05-24T13:46:42 has no "
        r"UTC offset$",
    ):
        carried(datetime(2022, 5, 24, 13, 46, 42))


@pytest.mark.parametrize(
    ("offset", "rounded"),
    [
        (fixed(8, 5, 43), fixed(8, 6)),  # Shanghai local mean time
        (fixed(8, 5, 29), fixed(8, 5)),
        (fixed(-4, -56, -2), fixed(-4, -56)),  # New York local mean time
        (fixed(0, 0, 30), UTC),  # half a minute rounds to even: zero
        (fixed(0, 1, 30), fixed(0, 2)),
    ],
)
def test_offsets_with_seconds_are_rounded_to_whole_minutes(
    offset: timezone, rounded: timezone
) -> None:
    moment = carried(datetime(1850, 3, 1, 9, tzinfo=offset))
    assert (moment.year, moment.month, moment.day, moment.hour) == (1850, 3, 1, 9)
    assert moment.utcoffset() == rounded.utcoffset(None)


def test_offsets_of_whole_minutes_are_kept_as_written() -> None:
    zone = fixed(5, 45)
    moment = datetime(2022, 5, 24, 13, 46, 42, tzinfo=zone)
    assert carried(moment).tzinfo is zone


def test_a_zone_with_local_mean_time_is_rounded_through_the_parser() -> None:
    moment = parse_date("1850-03-01 09:00:00", SHANGHAI)
    assert moment.isoformat() == "1850-03-01T09:00:00+08:06"


@pytest.mark.parametrize(
    ("moment", "epoch"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), (0, 0)),
        (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC), (1, 0)),
        (datetime(2022, 5, 24, 13, 46, 42, tzinfo=fixed(8)), (1_653_371_202_000_000, 28_800)),
        (
            datetime(2022, 5, 24, 13, 46, 42, 250_000, tzinfo=fixed(-3, -30)),
            (1_653_412_602_250_000, -12_600),
        ),
        (datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), (-1, 0)),
    ],
)
def test_index_epoch_round_trip(moment: datetime, epoch: tuple[int, int]) -> None:
    assert to_epoch(moment) == epoch
    assert all(type(part) is int for part in to_epoch(moment))  # the index stores integers
    back = from_epoch(*epoch)
    assert back == moment
    assert back.utcoffset() == moment.utcoffset()
    assert back.microsecond == moment.microsecond
    assert (back.hour, back.minute) == (moment.hour, moment.minute)


def test_moments_from_the_index_share_one_tzinfo_per_offset() -> None:
    """Sorting compares same-tzinfo datetimes field by field: one object per offset."""
    first = from_epoch(0, 19_800)
    second = from_epoch(1_000_000, 19_800)
    assert first.tzinfo is second.tzinfo
    assert from_epoch(0, 0).tzinfo is UTC
    assert from_epoch(0, -19_800).tzinfo is not first.tzinfo


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2022-06-10-jimei-library.md", "2022-06-10T00:00:00+08:00"),
        ("1999-12-31-a.md", "1999-12-31T00:00:00+08:00"),
        ("2022-06-10-", "2022-06-10T00:00:00+08:00"),
    ],
)
def test_file_name_dates_are_midnight_in_the_site_timezone(name: str, expected: str) -> None:
    moment = file_name_date(name, SHANGHAI)
    assert moment is not None and moment.isoformat() == expected


@pytest.mark.parametrize(
    "name",
    [
        "jimei-2022-06-10-library.md",
        "2022-06-10.md",
        "2022-6-10-short.md",
        "2022-13-10-no-month.md",
        "2022-02-30-no-day.md",
        "about.md",
    ],
)
def test_file_names_without_a_real_leading_date_give_none(name: str) -> None:
    assert file_name_date(name, SHANGHAI) is None
