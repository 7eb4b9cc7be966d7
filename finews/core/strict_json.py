"""JSON from clients, parsed in one place that refuses what would fail later.

`json.loads` accepts three things that crash code downstream: nesting deep enough to
exhaust the stack (RecursionError), numbers of thousands of digits (int() refuses them,
and they are never a real value), and strings holding lone surrogates such as "\\ud800"
(valid JSON escapes, but not Unicode scalar values: they cannot be encoded to UTF-8,
so writing them to Redis or to a response fails). `loads` refuses each with a
`JsonRefused` naming the field (`links[2].title`) and the rule, before any handler sees
the value; `problem()` turns it into the service's 400/422 answer.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from finews.core.errors import Problem

MAX_DEPTH = 32
MAX_NUMBER_LENGTH = 100
SURROGATE_RE = re.compile("[\ud800-\udfff]")
SYNTAX_RULES = frozenset({"syntax", "depth"})  # 400: not a usable document at all


class JsonRefused(ValueError):
    """A document refused: `field` is a path such as `links[2].title` (`body` for the
    whole), `rule` one of syntax, depth, number, unicode."""

    def __init__(self, field: str, rule: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field, self.rule, self.detail = field, rule, detail

    def problem(self) -> Problem:
        """400 for a body that is not usable JSON; 422 for a value that breaks a rule."""
        error = {"field": self.field, "rule": self.rule, "detail": self.detail}
        if self.rule in SYNTAX_RULES:
            return Problem(
                400, "malformed_json", f"request body is not usable JSON: {self}", errors=[error]
            )
        return Problem(422, "invalid_field", str(self), errors=[error])


class _Refused:
    """What the parser hooks leave in place of a number or constant that is refused."""

    def __init__(self, detail: str) -> None:
        self.detail = detail


def _field(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if path == "body" else f"{path}.{shown}"


def _check(value: Any, max_depth: int) -> None:
    """Walk the parsed value (without recursion) and raise on the first refused part."""
    stack: list[tuple[Any, str, int]] = [(value, "body", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if SURROGATE_RE.search(item):
                raise JsonRefused(
                    path,
                    "unicode",
                    "holds a lone surrogate (\\ud800-\\udfff), which is not a Unicode character",
                )
        elif isinstance(item, _Refused):
            raise JsonRefused(path, "number", item.detail)
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonRefused(path, "number", "is too large for a number")
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise JsonRefused(path, "depth", f"nested deeper than {max_depth} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in reversed(list(pairs)):
                field = _field(path, key)
                if isinstance(key, str) and SURROGATE_RE.search(key):
                    raise JsonRefused(field, "unicode", "the name holds a lone surrogate")
                stack.append((child, field, depth + 1))


def loads(
    data: bytes | str, *, max_depth: int = MAX_DEPTH, max_number_length: int = MAX_NUMBER_LENGTH
) -> Any:
    """The JSON value of `data` (UTF-8 when bytes), or JsonRefused saying where and why."""

    def number(kind: type) -> Any:
        def parse(text: str) -> Any:
            if len(text) > max_number_length:
                return _Refused(f"a number of {len(text)} characters; at most {max_number_length}")
            return kind(text)

        return parse

    def constant(text: str) -> _Refused:
        return _Refused(f"{text} is not a JSON number")

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(
            text, parse_int=number(int), parse_float=number(float), parse_constant=constant
        )
    except UnicodeDecodeError as exc:
        raise JsonRefused(
            "body", "syntax", f"not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        raise JsonRefused(
            "body", "syntax", f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise JsonRefused("body", "depth", f"nested deeper than {max_depth} levels") from None
    _check(value, max_depth)
    return value
