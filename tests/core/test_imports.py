"""Dependencies point one way: finews.core at the bottom, the features on it, the root on top.

An AST walk of every module, so that a new edge pointing the wrong way fails here the day it
is written, including imports inside functions or under TYPE_CHECKING:
- finews.core imports no feature and nothing else of finews;
- feeds, shortlinks and websub import only finews.core from outside themselves;
- no two modules import each other, directly or round a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("feeds", "shortlinks", "websub")
PACKAGES = ("finews", *FEATURES)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {
    module_name(path): path
    for package in PACKAGES
    for path in sorted((ROOT / package).rglob("*.py"))
}


def resolve(name: str) -> str:
    """The project module a dotted name lives in (`feeds.dates.parse_date` -> `feeds.dates`)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports(module: str) -> set[str]:
    """The project modules `module` imports, wherever its import statements stand."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else resolve(node.module))
    return {name for name in found if name in MODULES and name != module}


def allowed(importer: str, imported: str) -> bool:
    if importer.startswith("finews.core"):
        return imported.startswith("finews.core")
    feature = importer.split(".")[0]
    if feature in FEATURES:
        return imported.startswith(("finews.core", feature + ".")) or imported == feature
    return True  # the root wires everything


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    wrong = sorted(name for name in imports(module) if not allowed(module, name))
    assert not wrong, f"{module} imports {', '.join(wrong)}"


def test_no_import_cycles() -> None:
    graph = {module: imports(module) for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for name in sorted(graph[module]):
            visit(name, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_the_rules_catch_a_wrong_edge() -> None:
    """The checks above see what they claim to: these edges are refused."""
    assert not allowed("finews.core.settings", "feeds.permalink")
    assert not allowed("shortlinks.api", "feeds.dates")
    assert not allowed("feeds.publish", "finews.app")
    assert not allowed("shortlinks.api", "finews.console.users")  # the console is root
    assert allowed("shortlinks.api", "finews.core.access")
    assert allowed("feeds.publish", "finews.core.metrics")
    assert resolve("feeds.dates.parse_date") == "feeds.dates"
