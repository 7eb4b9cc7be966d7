"""The `finews` command: serve, check, build, shorten, export, import."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from tqdm import tqdm

import shortlinks
from feeds.build import build_static
from feeds.posts import load_posts
from finews import workers
from finews.core import logs
from finews.app import create_app
from finews.embedded_redis import EmbeddedRedis, EmbeddedRedisError, ping
from finews.core.redis_client import AnyRedis, Limits, connect
from finews.config import load
from finews.migrate import migrate
from finews.core.settings import Settings, SettingsError
from shortlinks import codes, keys, targets, transfer
from shortlinks.codes import PREFIX_RE
from shortlinks.service import Service
from shortlinks.store import IssueError

log = logging.getLogger("finews.cli")

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    count = args.workers if args.workers is not None else settings.server.workers
    if count < 1:
        print(f"finews: settings error: --workers: expected 1 or more, got {count}",
              file=sys.stderr)
        return EXIT_USAGE
    if count > 1:
        if port == 0:
            print("finews: settings error: server.port: workers share one port; 0 picks a "
                  "different one for each", file=sys.stderr)
            return EXIT_USAGE
        return workers.run_master(settings, args.config, host, port, count)
    index = workers.worker_index()
    return workers.serve(create_app(settings, index or 0), settings, host, port,
                         reuse_port=index is not None)


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    print(f"settings: {' < '.join(settings.sources)} < environment")
    result = load_posts(settings)
    print(f"posts: {len(result.posts())} in {settings.posts.dir}")
    problems = result.problems + shortlinks.code_conflicts(result.posts())
    for problem in problems:
        print(f"problem: {problem}")
    print(f"problems: {len(problems)}")
    return EXIT_PROBLEMS if problems else 0


@contextlib.asynccontextmanager
async def cli_redis(settings: Settings, *, decode_responses: bool = True
                    ) -> AsyncIterator[AnyRedis]:
    """Redis for a command run outside the server: the configured URL; else the socket of
    the embedded server when `finews serve` runs on this data dir; else one started for
    this command and stopped after it. Its data is brought to today's key names first."""
    url, embedded = settings.redis.url, None
    if not url:
        embedded = EmbeddedRedis(Path(settings.data.dir), settings.redis.start_timeout)
        if ping(embedded.socket_path):
            url, embedded = embedded.url, None
        else:
            await embedded.start_async()
            url = embedded.url
    client = await connect(url, Limits.of(settings.redis), decode_responses=decode_responses)
    try:
        await migrate(client)
        yield client
    finally:
        await client.aclose()
        if embedded is not None:
            embedded.stop()


def run_command(work: Coroutine[Any, Any, Any]) -> Any:
    """Run a command's work; Redis or file trouble ends it with one line and status 1."""
    try:
        return asyncio.run(work)
    except (RedisError, EmbeddedRedisError, OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"finews: {type(exc).__name__}: {exc}") from None


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


def cmd_shorten(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> Any:
        async with cli_redis(settings) as redis:
            service = Service(redis, settings)
            want = service.want(args.url, day=args.date, prefix=args.prefix, origin="cli")
            [result] = await service.store.issue([want])
            return result if isinstance(result, IssueError) else (
                result.link.code, service.share_url(result.link.code))
    try:
        result = run_command(run())
    except targets.TargetError as exc:
        print(f"finews: {args.url}: {exc} (rule: {exc.rule})", file=sys.stderr)
        return EXIT_PROBLEMS
    if isinstance(result, IssueError):
        print(f"finews: {args.url}: {result}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(*result)
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with cli_redis(settings, decode_responses=False) as redis:
            progress = Progress(await redis.zcard(keys.CODES), "links")
            with open(args.file, "w", encoding="utf-8") as out:
                written = await transfer.export_links(redis, out, progress)
            progress.close()
            return written
    print(f"exported: {run_command(run())} links to {args.file}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    hosts = targets.allowed_hosts(settings.site.url, settings.shortlinks.allowed_hosts)

    async def run() -> transfer.ImportResult:
        async with cli_redis(settings, decode_responses=False) as redis:
            with open(args.file, encoding="utf-8") as lines:
                progress = Progress(sum(1 for _ in lines), "lines")
                lines.seek(0)
                result = await transfer.import_links(
                    redis, lines, hosts, lambda problem: print(problem, file=sys.stderr),
                    progress, max_depth=settings.api.json_max_depth,
                    max_number_length=settings.api.json_max_number_length)
            progress.close()
            return result
    result = run_command(run())
    print(f"imported: {result.imported} links, skipped: {result.skipped} lines")
    return EXIT_PROBLEMS if result.skipped else 0


def _prefix(text: str) -> str:
    if not PREFIX_RE.fullmatch(text):
        raise argparse.ArgumentTypeError("expected 1 to 8 uppercase letters A-Z")
    return text


def _code_date(text: str) -> date:
    """A YYYY-MM-DD date that can be a code's date part (years 1000 to 9999)."""
    try:
        return codes.check_day(date.fromisoformat(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_build(settings: Settings, args: argparse.Namespace) -> int:
    report = build_static(settings, Path(args.out), archives=args.archives)
    print(f"feeds: {report.feeds}, pages: {report.pages}, files: {report.files} "
          f"({report.bytes / 1e6:.1f} MB) in {args.out}")
    for problem in report.problems:
        print(f"problem: {problem}")
    return EXIT_PROBLEMS if any("not written" in p for p in report.problems) else 0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help="settings file over config/default.toml (or FINEWS_CONFIG)")
    top = argparse.ArgumentParser(prog="finews", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", parents=[common], help="run the HTTP service")
    serve.add_argument("--host", help="listen address (server.host)")
    serve.add_argument("--port", type=int, help="listen port (server.port)")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="worker processes sharing the port (server.workers)")
    serve.set_defaults(run=cmd_serve)
    check = sub.add_parser("check", parents=[common],
                           help="load settings and posts, report problems (exit 1 if any)")
    check.set_defaults(run=cmd_check)
    build = sub.add_parser("build", parents=[common],
                           help="write every feed, archive page, OPML and index as static files")
    build.add_argument("--out", required=True, metavar="DIR", help="output directory")
    build.add_argument("--no-archives", dest="archives", action="store_false",
                       help="write only the subscription documents (page 1 of each feed)")
    build.set_defaults(run=cmd_build)
    shorten = sub.add_parser("shorten", parents=[common],
                             help="print the share code and URL for a URL (made if needed)")
    shorten.add_argument("url", help="absolute URL on an allowed host")
    shorten.add_argument("--date", type=_code_date,
                         help="date part of a new code, YYYY-MM-DD (default: today)")
    shorten.add_argument("--prefix", type=_prefix, help="prefix of a new code (shortlinks.prefix)")
    shorten.set_defaults(run=cmd_shorten)
    export = sub.add_parser("export", parents=[common],
                            help="write every share link with its statistics as JSON Lines")
    export.add_argument("file")
    export.set_defaults(run=cmd_export)
    importer = sub.add_parser("import", parents=[common],
                              help="read share links from an export (bad lines are skipped)")
    importer.add_argument("file")
    importer.set_defaults(run=cmd_import)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load(args.config)
    except SettingsError as exc:
        print(f"finews: settings error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.setup(settings.log.level)
    return args.run(settings, args)


if __name__ == "__main__":
    sys.exit(main())
