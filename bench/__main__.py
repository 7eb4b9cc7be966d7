"""`python -m bench [--quick] [--only NAME ...]`: measure every figure, print one table."""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import tools
from bench.figures import FIGURES, TOOLS_NEEDED, Config
from bench.table import Row, attempt, render

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench"
EXPLAIN = (
    "This machine is shared: absolute numbers move with everyone else's load. The "
    "comparable figures are the ratios, each against a baseline measured in the same "
    "run right beside ours."
)


def header(cfg: Config, names: Sequence[str], quick: bool) -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cpus = len(os.sched_getaffinity(0))
    versions = [f"Python {platform.python_version()}"]
    needed = {tool for name in names for tool in TOOLS_NEEDED.get(name, ())}
    for tool in ("hugo", "jekyll", "wrk"):
        if tool in needed:
            extra = f" + jekyll-feed {tools.jekyll_feed_version()}" if tool == "jekyll" else ""
            versions.append(f"{tool}: {tools.version(tool)}{extra}")
    return "\n".join(
        [
            f"finews bench, {time.strftime('%Y-%m-%d %H:%M:%S %z')}: {', '.join(names)}; "
            f"corpora of {cfg.small:,} and {cfg.large:,} posts{' (--quick)' if quick else ''}",
            f"machine: {cpus} CPUs (nproc), load average {load}, {platform.machine()} "
            f"{platform.system()} {platform.release()}",
            "versions: " + "; ".join(versions),
            EXPLAIN,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="corpora of 1,000 and 5,000 posts instead of 10,000 and 100,000, shorter wrk runs",
    )
    ap.add_argument(
        "--only",
        action="append",
        choices=sorted(FIGURES),
        metavar="NAME",
        help=f"run only this figure (repeatable): {', '.join(FIGURES)}",
    )
    a = ap.parse_args(argv)
    names = a.only or list(FIGURES)
    small, large = (1_000, 5_000) if a.quick else (10_000, 100_000)
    cfg = Config(
        small=small,
        large=large,
        wrk_seconds=3 if a.quick else 5,
        rounds=5,
        cache=CACHE,
        work=CACHE / "run",
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # one bench at a time on this cache
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"bench: another bench run holds {CACHE / '.lock'}: wait for it to finish",
                file=sys.stderr,
            )
            return 1
        rows = run(cfg, names, a.quick)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n{render(rows)}\n\nload average at the end: {load}")
    return 0


def run(cfg: Config, names: Sequence[str], quick: bool) -> list[Row]:
    """Each figure in turn, its rows printed as they come; scratch space removed at the end."""
    for tool in sorted({t for name in names for t in TOOLS_NEEDED.get(name, ())}):
        tools.ensure(tool)  # prints when it installs; failures become n/a in the rows
    print(header(cfg, names, quick), flush=True)
    shutil.rmtree(cfg.work, ignore_errors=True)
    rows: list[Row] = []
    try:
        for name in names:
            print(f"bench: {name} ...", flush=True)
            started = time.monotonic()
            got = attempt(FIGURES[name], cfg)
            if isinstance(got, str):  # a bug in the harness itself: still a row, not a stop
                got = [Row(name, got, "-", "n/a")]
            for row in got:
                print(
                    f"bench:   {row.figure}: ours {row.ours}, baseline {row.baseline}", flush=True
                )
            print(f"bench: {name} done in {time.monotonic() - started:.0f} s", flush=True)
            rows += got
    finally:
        shutil.rmtree(cfg.work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    sys.exit(main())
