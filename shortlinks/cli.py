"""`finews shorten`, `export`, `import` and `visits export`: share links from the command
line.

They run beside or without the server; the root command hands each handler the settings
and a Redis client (see finews/core/commands.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from datetime import date
from typing import TextIO

from tqdm import tqdm

from finews.core.commands import EXIT_PROBLEMS, Context, Subparsers
from shortlinks import codes, events, keys, targets, transfer
from shortlinks.service import Service
from shortlinks.store import NotIssued

log = logging.getLogger("finews.shortlinks")
EXPORT_PAGE = 1000


class Progress:
    """A tqdm bar on a terminal, else a log line at most every 5 seconds."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.done, self.last = total, what, 0, time.monotonic()
        self.bar = tqdm(total=total, unit=what, file=sys.stderr) if sys.stderr.isatty() else None

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif time.monotonic() - self.last >= 5:
            self.last = time.monotonic()
            log.info("event=progress %s=%d total=%d", self.what, self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_shorten(ctx: Context, args: argparse.Namespace) -> int:
    async def run() -> NotIssued | tuple[str, str]:
        async with ctx.redis() as redis:
            service = Service(redis, ctx.settings)
            want = service.want(args.url, day=args.date, prefix=args.prefix, origin="cli")
            [result] = await service.store.issue([want])
            return (
                result
                if isinstance(result, NotIssued)
                else (result.link.code, service.share_url(result.link.code))
            )

    try:
        result = asyncio.run(run())
    except targets.TargetError as exc:
        print(f"finews: {args.url}: {exc} (rule: {exc.rule})", file=sys.stderr)
        return EXIT_PROBLEMS
    if isinstance(result, NotIssued):
        print(f"finews: {args.url}: {result}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(*result)
    return 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with ctx.redis(decode_responses=False) as redis:
            progress = Progress(await redis.zcard(keys.CODES), "links")
            out = await asyncio.to_thread(open, args.file, "w", encoding="utf-8")
            with out:
                written = await transfer.export_links(redis, out, progress)
            progress.close()
            return written

    print(f"exported: {asyncio.run(run())} links to {args.file}")
    return 0


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    settings = ctx.settings
    hosts = targets.allowed_hosts(settings.site.url, settings.shortlinks.allowed_hosts)

    async def run() -> transfer.ImportResult:
        async with ctx.redis(decode_responses=False) as redis:
            lines = await asyncio.to_thread(open, args.file, encoding="utf-8")
            with lines:
                progress = Progress(await asyncio.to_thread(_count_lines, lines), "lines")
                result = await transfer.import_links(
                    redis,
                    lines,
                    hosts,
                    lambda problem: print(problem, file=sys.stderr),
                    progress,
                    max_depth=settings.api.json_max_depth,
                    max_number_length=settings.api.json_max_number_length,
                )
            progress.close()
            return result

    result = asyncio.run(run())
    print(f"imported: {result.imported} links, skipped: {result.skipped} lines")
    return EXIT_PROBLEMS if result.skipped else 0


def _count_lines(lines: TextIO) -> int:
    """How many lines the file has, leaving it at its start again (for the progress bar)."""
    count = sum(1 for _ in lines)
    lines.seek(0)
    return count


def cmd_visits_export(ctx: Context, args: argparse.Namespace) -> int:
    async def run() -> tuple[int, str]:
        async with ctx.redis() as redis:
            written, cursor = 0, args.since
            out = await asyncio.to_thread(open, args.file, "w", encoding="utf-8")
            with out:
                while True:
                    found, cursor = await events.read(redis, cursor, EXPORT_PAGE)
                    for visit in found:
                        out.write(json.dumps(visit, ensure_ascii=False, sort_keys=True) + "\n")
                    written += len(found)
                    if len(found) < EXPORT_PAGE:
                        return written, cursor

    written, cursor = asyncio.run(run())
    print(f"exported: {written} visits to {args.file}; next: --since {cursor}")
    return 0


def _cursor(text: str) -> str:
    problem = events.cursor_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _prefix(text: str) -> str:
    problem = codes.prefix_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _code_date(text: str) -> date:
    """A YYYY-MM-DD date that can be a code's date part (years 1000 to 9999)."""
    try:
        return codes.check_day(date.fromisoformat(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(sub: Subparsers) -> None:
    """Add `shorten`, `export` and `import` to the `finews` command."""
    shorten = sub.add_parser(
        "shorten", help="print the share code and URL for a URL (made if needed)"
    )
    shorten.add_argument("url", help="absolute URL on an allowed host")
    shorten.add_argument(
        "--date", type=_code_date, help="date part of a new code, YYYY-MM-DD (default: today)"
    )
    shorten.add_argument("--prefix", type=_prefix, help="prefix of a new code (shortlinks.prefix)")
    shorten.set_defaults(run=cmd_shorten)
    export = sub.add_parser(
        "export", help="write every share link with its statistics as JSON Lines"
    )
    export.add_argument("file", help="JSON Lines file to write (replaced if it exists)")
    export.set_defaults(run=cmd_export)
    importer = sub.add_parser(
        "import", help="read share links from an export (bad lines are skipped)"
    )
    importer.add_argument("file", help="JSON Lines file written by `finews export`")
    importer.set_defaults(run=cmd_import)
    visits = sub.add_parser("visits", help="the visit event stream")
    visits_sub = visits.add_subparsers(dest="visits_command", required=True, help="what to do")
    visits_export = visits_sub.add_parser(
        "export", help="write visit events after a cursor as JSON Lines"
    )
    visits_export.add_argument(
        "--since", type=_cursor, default="0", help="cursor (an event id) to start after"
    )
    visits_export.add_argument("file", help="JSON Lines file to write (replaced if it exists)")
    visits_export.set_defaults(run=cmd_visits_export)
