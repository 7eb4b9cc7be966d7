"""`make mutation`: mutmut on the code that decides what is accepted, then one score per module.

The modules, their tests and mutmut's settings are in pyproject.toml ([tool.mutmut]). A run
starts from an empty mutants/ so the scores are of this checkout, not of a cached earlier one.

Prints `mutation: MODULE killed/total = N%` per module and a total line; a mutant counts as
killed when a test failed or timed out with it, and anything else (survived, no tests) counts
against the score. `--survivors` also lists the surviving mutants (see them with
`.venv/bin/mutmut show NAME`; the known equivalent ones are in mutation/equivalent.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3, 24, -24, 36, 37, 152, 255}  # failed, pytest internal error, timeouts, type check


def run_mutmut(children: int) -> None:
    """mutmut run, in-process: its exit after the run is not a failure."""
    from mutmut.__main__ import cli

    try:
        cli(["run", "--max-children", str(children)], standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def scores(modules: list[str]) -> tuple[list[str], list[str]]:
    """The report lines and the names of the mutants that were not killed."""
    lines, alive = [], []
    killed_all = total_all = 0
    for module in modules:
        meta = ROOT / "mutants" / f"{module}.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        killed = sum(code in KILLED for code in codes.values())
        alive += sorted(
            (name for name, code in codes.items() if code not in KILLED),
            key=lambda name: (name.rsplit("_", 1)[0], int(name.rsplit("_", 1)[1])),
        )
        percent = f"{100 * killed / len(codes):.0f}%" if codes else "n/a (no mutants)"
        lines.append(f"mutation: {module} {killed}/{len(codes)} = {percent}")
        killed_all += killed
        total_all += len(codes)
    percent = f"{100 * killed_all / total_all:.0f}%" if total_all else "n/a"
    lines.append(f"mutation: total {killed_all}/{total_all} = {percent}")
    return lines, alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--children",
        type=int,
        default=os.cpu_count() or 2,
        help="mutants tested at once (default: one per CPU)",
    )
    parser.add_argument("--survivors", action="store_true", help="list the mutants not killed")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="print the scores of the last run without running mutmut",
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    modules = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    started = time.monotonic()
    if not args.report_only:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
        run_mutmut(args.children)
    lines, alive = scores(modules)
    print()
    if args.survivors:
        print("\n".join(f"survivor: {name}" for name in alive))
    print("\n".join(lines))
    if not args.report_only:
        print(f"mutation: run time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
