"""Logger names follow the one rule README's Logs section documents: `finews.<area>`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("finews", "feeds", "shortlinks", "websub")


def _logger_names() -> dict[str, set[str]]:
    """Every literal name passed to logging.getLogger in the packages -> files using it."""
    names: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "getLogger"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    names.setdefault(node.args[0].value, set()).add(str(path.relative_to(ROOT)))
    return names


def _documented() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Logs\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(finews\.[a-z]+)` \|", section, re.M))


def test_every_logger_is_a_documented_area() -> None:
    used = _logger_names()
    assert used, "no getLogger calls found: the scan is broken"
    undocumented = {
        name: sorted(files) for name, files in used.items() if name not in _documented()
    }
    assert not undocumented, f"loggers missing from README's Logs table: {undocumented}"


def test_every_documented_logger_is_used() -> None:
    documented = _documented()
    assert {"finews.feeds", "finews.shortlinks", "finews.websub"} <= documented
    assert documented - _logger_names().keys() == set()


def test_a_feature_logs_under_its_own_name() -> None:
    for name, files in _logger_names().items():
        for file in files:
            package = file.split("/", 1)[0]
            if package != "finews":
                assert name == f"finews.{package}", f"{file} logs as {name}"
