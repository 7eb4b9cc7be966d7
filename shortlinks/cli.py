"""`finews shorten`, `export`, `import`, `visits export`, `links list` and `links top`:
share links from the command line.

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
from datetime import UTC, date, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from tqdm import tqdm

from finews.core.commands import EXIT_PROBLEMS, Context, Subparsers
from shortlinks import boards, codes, events, keys, listing, targets, transfer
from shortlinks.api import PAGE_MAX, SOURCE_RE, ignored
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
            want = service.want(
                args.url,
                day=args.date,
                prefix=args.prefix,
                title=args.title or "",
                expires_at=args.expires and _expires(args.expires, ctx.settings.zone),
                origin="cli",
            )
            [result] = await service.store.issue([want])
            if not isinstance(result, NotIssued) and not result.created:
                given = {"title": args.title, "expires_at": args.expires, "prefix": args.prefix}
                given["date"] = args.date
                asked = {name: value for name, value in given.items() if value is not None}
                for name in ignored(asked, want, result.link):
                    print(
                        f"finews: {args.url} already has {result.link.code}: --{name} ignored "
                        "(change a link with PATCH /api/links/CODE)",
                        file=sys.stderr,
                    )
            if isinstance(result, NotIssued):
                return result
            return result.link.code, service.share_url(result.link.code)

    try:
        result = asyncio.run(run())
    except targets.TargetError as exc:
        print(f"finews: {args.url}: {exc} (rule: {exc.rule})", file=sys.stderr)
        return EXIT_PROBLEMS
    except ValueError as exc:
        print(f"finews: --expires: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if isinstance(result, NotIssued):
        print(f"finews: {args.url}: {result}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(*result)
    return 0


def _expires(text: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 time, in the site's timezone when it has no offset; in the future."""
    when = datetime.fromisoformat(text)
    when = when if when.tzinfo else when.replace(tzinfo=zone)
    if when <= datetime.now(UTC):
        raise ValueError(f"{text} is in the past")
    return when


def cmd_links_list(ctx: Context, args: argparse.Namespace) -> int:
    """Links with counts, one tab-separated line each: code, clicks, clicks_24h, title, URL."""

    async def run() -> listing.Result:
        async with ctx.redis() as redis:
            service = Service(redis, ctx.settings)
            query = listing.Query(q=args.q, sort=args.sort, order=args.order, limit=args.limit)
            return await listing.listing(
                service.store,
                query,
                scan_max=ctx.settings.shortlinks.list_scan_max,
                today=service.clock.now(service.zone).date(),
            )

    result = asyncio.run(run())
    print("code\tclicks\tclicks_24h\ttitle\turl")
    for item in result.items:
        link, counts = item.link, item.counts
        print(f"{link.code}\t{counts.clicks}\t{counts.clicks_24h}\t{link.title}\t{link.url}")
    if result.truncated:
        print(
            f"finews: only the first {ctx.settings.shortlinks.list_scan_max} matches were read "
            "(shortlinks.list_scan_max)",
            file=sys.stderr,
        )
    return 0


def cmd_links_top(ctx: Context, args: argparse.Namespace) -> int:
    """The most clicked links of a window, one tab-separated line each: code, clicks,
    visitors, title (what GET /api/top answers)."""

    async def run() -> list[dict[str, Any]]:
        async with ctx.redis() as redis:
            return await Service(redis, ctx.settings).top(args.window, args.source, args.limit)

    print("code\tclicks\tvisitors\ttitle")
    for link in asyncio.run(run()):
        print(f"{link['code']}\t{link['clicks']}\t{link['visitors']}\t{link['title']}")
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
                    keep=Service(redis, settings).writer.keep,
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


def _source(text: str) -> str:
    if not SOURCE_RE.fullmatch(text):
        raise argparse.ArgumentTypeError("expected a source name, e.g. wechat or weibo")
    return text


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= PAGE_MAX:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {PAGE_MAX}")
    return int(text)


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
    """Add `shorten`, `export`, `import` and `links list` to the `finews` command."""
    shorten = sub.add_parser(
        "shorten", help="print the share code and URL for a URL (made if needed)"
    )
    shorten.add_argument("url", help="absolute URL on an allowed host")
    shorten.add_argument(
        "--date", type=_code_date, help="date part of a new code, YYYY-MM-DD (default: today)"
    )
    shorten.add_argument("--prefix", type=_prefix, help="prefix of a new code (shortlinks.prefix)")
    shorten.add_argument("--title", help="title of a new link (shown on its preview page)")
    shorten.add_argument(
        "--expires",
        metavar="WHEN",
        help="expiry of a new link: ISO 8601 time, e.g. 2026-12-31T23:59:59+08:00 "
        "(without offset: in site.timezone)",
    )
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
    links = sub.add_parser("links", help="share links with their counts")
    links_sub = links.add_subparsers(dest="links_command", required=True, help="what to do")
    lister = links_sub.add_parser(
        "list", help="links with clicks, tab-separated (like GET /api/links)"
    )
    lister.add_argument("--q", default="", help="search code, URL and title")
    lister.add_argument("--sort", choices=listing.SORTS, default="clicks")
    lister.add_argument("--order", choices=listing.ORDERS, default="desc")
    lister.add_argument("--limit", type=int, default=20, help="most links printed")
    lister.set_defaults(run=cmd_links_list)
    top = links_sub.add_parser(
        "top", help="the most clicked links of a window, tab-separated (like GET /api/top)"
    )
    top.add_argument("--window", choices=tuple(boards.WINDOWS), default="24h")
    top.add_argument("--source", type=_source, help="clicks from this source only, e.g. wechat")
    top.add_argument("--limit", type=_limit, default=10, help="most links printed (1 to 100)")
    top.set_defaults(run=cmd_links_top)
