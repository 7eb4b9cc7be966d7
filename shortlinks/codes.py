"""Share codes: `{PREFIX}{YYYYMMDD}{10 digits}`, e.g. NW202205242389705455.

The prefix names the issuer (uppercase letters), the date is the article's publication day
in the site's timezone, and the ten digits come from shortuuid over the digit alphabet
(it draws from `secrets`, i.e. os.urandom), so codes cannot be enumerated.

The date part is always eight digits, so only years 1000 to 9999 make codes: a code the
parser would refuse is never issued (`make` raises DayOutOfRange for other years).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import shortuuid

DIGITS = 10
PREFIX_RE = re.compile(r"[A-Z]{1,8}")
PREFIX_RULE = "expected 1 to 8 uppercase letters A-Z"
CODE_RE = re.compile(r"([A-Z]{1,8})([0-9]{8})([0-9]{10})")
_DIGITS = shortuuid.ShortUUID(alphabet="0123456789")


FIRST_YEAR, LAST_YEAR = 1000, 9999


class MalformedCode(ValueError):
    """Text that is not a share code; the message says which part is wrong."""


class DayOutOfRange(MalformedCode):
    """A date whose year has not four digits: it cannot be the date part of a code."""


def check_day(day: date) -> date:
    """`day`, or DayOutOfRange when its year is outside 1000 to 9999."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise DayOutOfRange(
            f"date {day.isoformat()}: codes are dated from year {FIRST_YEAR} to {LAST_YEAR}"
        )
    return day


@dataclass(frozen=True, slots=True)
class Code:
    prefix: str
    day: date
    digits: str

    def __str__(self) -> str:
        return f"{self.prefix}{self.day:%Y%m%d}{self.digits}"


def unknown_message(code: str) -> str:
    """What every 404 for a code no link has says (API, redirects, previews, QR codes)."""
    return f"no share link has the code {code}"


def random_digits() -> str:
    """Ten random digits from the operating system's CSPRNG."""
    return _DIGITS.random(DIGITS)


def prefix_problem(prefix: object) -> str | None:
    """None for a valid code prefix, else what a prefix must be: the one prefix rule, used
    for codes made here, the `shortlinks.prefix` setting and the API's `prefix` field."""
    if isinstance(prefix, str) and PREFIX_RE.fullmatch(prefix):
        return None
    return PREFIX_RULE


def make(prefix: str, day: date, digits: str | None = None) -> str:
    """A new code for `day`; `digits` defaults to fresh random ones. Raises MalformedCode
    for a bad prefix, DayOutOfRange for a year outside 1000 to 9999."""
    problem = prefix_problem(prefix)
    if problem:
        raise MalformedCode(f"prefix {prefix!r}: {problem}")
    return str(Code(prefix, check_day(day), digits or random_digits()))


def parse(text: str) -> Code:
    """The three parts of a code, or MalformedCode naming the part that is wrong."""
    match = CODE_RE.fullmatch(text)
    if match is None:
        if not re.match(r"[A-Z]{1,8}(?![A-Z])", text):
            raise MalformedCode(f"{text[:40]!r}: expected a prefix of 1 to 8 uppercase letters")
        raise MalformedCode(f"{text[:40]!r}: expected the prefix, 8 date digits and 10 digits")
    prefix, day, digits = match.groups()
    try:
        real_day = datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise MalformedCode(f"{text!r}: {day} is not a real date (YYYYMMDD)") from None
    try:
        return Code(prefix, check_day(real_day), digits)
    except DayOutOfRange as exc:
        raise MalformedCode(f"{text!r}: {exc}") from None
