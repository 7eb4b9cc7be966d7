"""The result table: one row per figure, ours beside its baseline, and the ratio's direction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
Value = float | str  # a measurement, or "n/a (reason)"


def attempt(measure: Callable[..., T], *args: Any, **kwargs: Any) -> T | str:
    """measure(*args, **kwargs), or `n/a (reason)`: one failing figure never stops the run."""
    try:
        return measure(*args, **kwargs)
    except RuntimeError as exc:  # the harness's own errors carry their reason
        return na(str(exc))
    except Exception as exc:  # anything else the measured program causes becomes its cell
        return na(f"{type(exc).__name__}: {exc}")


def na(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if reason.startswith("n/a") else f"n/a ({reason[:300]})"


@dataclass
class Row:
    figure: str
    ours: str
    baseline: str
    ratio: str
    notes: list[str] = field(default_factory=list)


def fmt(value: Value, unit: str, digits: int = 2) -> str:
    if isinstance(value, str):
        return value
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    return f"{value:,.{digits}f} {unit}"


def compare(
    figure: str,
    ours: Value,
    base: Value,
    unit: str,
    *,
    higher_is_better: bool,
    base_name: str,
    aim: str = "",
    notes: Sequence[str] = (),
) -> Row:
    """A row whose ratio reads `>1 = ours better` for times and sizes, ours/baseline for rates."""
    if isinstance(ours, str) or isinstance(base, str) or not ours or not base:
        ratio = "n/a"
    elif higher_is_better:
        ratio = f"{ours / base:.2f} ours/{base_name}, higher is better"
    elif unit in ("s", "MB"):
        better = "faster" if unit == "s" else "smaller"
        ratio = f"{base / ours:.2f} {base_name}/ours, >1 = ours {better}"
    else:
        ratio = f"{ours / base:.2f} ours/{base_name}, lower is better"
    if aim and ratio != "n/a":
        ratio += f"; aim {aim}"
    return Row(figure, fmt(ours, unit), fmt(base, unit), ratio, list(notes))


def render(rows: Sequence[Row]) -> str:
    header = ("#", "figure", "ours", "baseline", "ratio")
    cells = [header] + [
        (str(i), r.figure, r.ours, r.baseline, r.ratio) for i, r in enumerate(rows, 1)
    ]
    widths = [min(max(len(c[i]) for c in cells), 70) for i in range(len(header))]
    lines = []
    for n, cell in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  #{i}: {note}" for i, r in enumerate(rows, 1) for note in r.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)
