"""Plain-text helpers: XML-safe characters, whitespace, cutting without breaking a character.

Scraped articles carry control characters that XML 1.0 forbids (lxml refuses them, readers
reject the whole feed), so every string that can reach a feed passes through `xml_safe`.
"""

from __future__ import annotations

import re
import unicodedata

# Everything outside XML 1.0's Char production: C0 controls except tab, LF and CR, lone
# surrogates, U+FFFE and U+FFFF.
_XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")
ELLIPSIS = "…"


def log_quote(text: str) -> str:
    """A value for a `key=value` log field: in double quotes, inner quotes as '."""
    return '"' + text.replace('"', "'") + '"'


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids."""
    return _XML_FORBIDDEN.sub("", text)


def one_line(text: str) -> str:
    """Runs of whitespace (newlines, tabs, ideographic spaces) as one space, ends trimmed."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # the usual case, without a regex pass
    return _SPACES.sub(" ", text).strip()


def _joins_previous(char: str) -> bool:
    """True for characters that belong to the character before them (marks, ZWJ, selectors)."""
    return (
        unicodedata.combining(char) != 0
        or char == "\u200d"
        or "\ufe00" <= char <= "\ufe0f"
        or "\U000e0100" <= char <= "\U000e01ef"
        or "\U0001f3fb" <= char <= "\U0001f3ff"
    )


def cut(text: str, length: int) -> str:
    """`text` cut to at most `length` characters plus "…" when cut.

    The cut backs up over combining marks, joiners and variation selectors so an accented
    letter or an emoji sequence is never split; Python strings never split a code point.
    """
    if len(text) <= length:
        return text
    end = length
    while end > 0 and (_joins_previous(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    return text[:end].rstrip() + ELLIPSIS
