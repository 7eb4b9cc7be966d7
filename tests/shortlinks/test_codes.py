"""Share codes as pure functions: prefix rule, the years a code can carry, the digits, and
that every code `make` issues parses back to its parts."""

from __future__ import annotations

import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shortlinks import codes

DIGITS = "2389705455"


@pytest.mark.parametrize("prefix", ["N", "NW", "ABCDEFGH", "XYZ"])
def test_a_prefix_of_one_to_eight_capitals_makes_a_code(prefix: str) -> None:
    code = codes.make(prefix, date(2022, 5, 24), DIGITS)
    assert code == f"{prefix}20220524{DIGITS}"
    assert codes.parse(code) == codes.Code(prefix, date(2022, 5, 24), DIGITS)


@pytest.mark.parametrize("prefix", ["", "nw", "Nw", "ABCDEFGHI", "N1", "NW ", "ÄB", "ＮＷ", "N-W"])
def test_any_other_prefix_is_refused_by_name(prefix: str) -> None:
    with pytest.raises(codes.MalformedCode) as caught:
        codes.make(prefix, date(2022, 5, 24), DIGITS)
    assert str(caught.value) == f"prefix {prefix!r}: expected 1 to 8 uppercase letters A-Z"
    assert not isinstance(caught.value, codes.DayOutOfRange)


@pytest.mark.parametrize("day", [date(1000, 1, 1), date(1999, 12, 31), date(9999, 12, 31)])
def test_years_1000_to_9999_make_codes_that_parse_back(day: date) -> None:
    assert codes.check_day(day) is day
    code = codes.make("NW", day, DIGITS)
    assert code == f"NW{day:%Y%m%d}{DIGITS}"
    assert codes.parse(code).day == day


@pytest.mark.parametrize(
    ("day", "shown"), [(date(999, 12, 31), "0999-12-31"), (date(1, 1, 1), "0001-01-01")]
)
def test_a_year_before_1000_makes_no_code(day: date, shown: str) -> None:
    message = f"date {shown}: codes are dated from year 1000 to 9999"
    with pytest.raises(codes.DayOutOfRange) as caught:
        codes.check_day(day)
    assert str(caught.value) == message
    with pytest.raises(codes.DayOutOfRange) as caught:
        codes.make("NW", day, DIGITS)
    assert str(caught.value) == message


def test_the_prefix_is_checked_before_the_date() -> None:
    with pytest.raises(codes.MalformedCode, match=r"^prefix 'nw'"):
        codes.make("nw", date(999, 1, 1), DIGITS)


def test_random_digits_are_ten_decimal_digits_and_differ() -> None:
    drawn = [codes.random_digits() for _ in range(200)]
    assert all(len(d) == 10 and set(d) <= set(string.digits) for d in drawn)
    assert len(set(drawn)) == 200
    assert set("".join(drawn)) == set(string.digits)  # every digit turns up in 2000 draws
    made = codes.make("NW", date(2022, 5, 24))
    assert made.startswith("NW20220524") and len(made) == 20 and made[10:].isdigit()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "NW099912312389705455",
            "'NW099912312389705455': date 0999-12-31: codes are dated from year 1000 to 9999",
        ),
        ("NW000001012389705455", "'NW000001012389705455': 00000101 is not a real date (YYYYMMDD)"),
        ("NW202302292389705455", "'NW202302292389705455': 20230229 is not a real date (YYYYMMDD)"),
        (
            "NW2022052423897054",
            "'NW2022052423897054': expected the prefix, 8 date digits and 10 digits",
        ),
        (
            "nw202205242389705455",
            "'nw202205242389705455': expected a prefix of 1 to 8 uppercase letters",
        ),
        (
            "ABCDEFGHI202205242389705455",
            "'ABCDEFGHI202205242389705455': expected a prefix of 1 to 8 uppercase letters",
        ),
        ("", "'': expected a prefix of 1 to 8 uppercase letters"),
        # long input is quoted by its first 40 characters only
        ("x" * 60, f"{'x' * 40!r}: expected a prefix of 1 to 8 uppercase letters"),
        ("NW" + "1" * 60, f"{'NW' + '1' * 38!r}: expected the prefix, 8 date digits and 10 digits"),
    ],
)
def test_parse_says_exactly_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(codes.MalformedCode) as caught:
        codes.parse(text)
    assert str(caught.value) == message


def test_leap_day_and_year_bounds_parse() -> None:
    assert codes.parse("NW202402292389705455") == codes.Code("NW", date(2024, 2, 29), DIGITS)
    assert codes.parse("ABCDEFGH100001012389705455").day == date(1000, 1, 1)
    assert codes.parse("N999912310000000000") == codes.Code("N", date(9999, 12, 31), "0000000000")


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    prefix=st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=8),
    day=st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)),
    digits=st.text(alphabet=string.digits, min_size=10, max_size=10),
)
def test_every_code_made_parses_back_to_its_parts(prefix: str, day: date, digits: str) -> None:
    code = codes.make(prefix, day, digits)
    assert len(code) == len(prefix) + 18
    parsed = codes.parse(code)
    assert parsed == codes.Code(prefix, day, digits)
    assert str(parsed) == code
