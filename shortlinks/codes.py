"""Share codes: `{PREFIX}{YYYYMMDD}{10 digits}`, e.g. NW202205242389705455.

The prefix names the issuer (uppercase letters), the date is the article's publication day
in the site's timezone, and the ten digits come from shortuuid over the digit alphabet
(it draws from `secrets`, i.e. os.urandom), so codes cannot be enumerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import shortuuid

DIGITS = 10
PREFIX_RE = re.compile(r"[A-Z]{1,8}")
CODE_RE = re.compile(r"([A-Z]{1,8})([0-9]{8})([0-9]{10})")
_DIGITS = shortuuid.ShortUUID(alphabet="0123456789")


class MalformedCode(ValueError):
    """Text that is not a share code; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class Code:
    prefix: str
    day: date
    digits: str

    def __str__(self) -> str:
        return f"{self.prefix}{self.day:%Y%m%d}{self.digits}"


def random_digits() -> str:
    """Ten random digits from the operating system's CSPRNG."""
    return _DIGITS.random(DIGITS)


def make(prefix: str, day: date, digits: str | None = None) -> str:
    """A new code for `day`; `digits` defaults to fresh random ones."""
    if not PREFIX_RE.fullmatch(prefix):
        raise MalformedCode(f"prefix {prefix!r}: expected 1 to 8 uppercase letters A-Z")
    return str(Code(prefix, day, digits or random_digits()))


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
    return Code(prefix, real_day, digits)
