"""The `finews` command: serve, check, build, shorten, export, import.

The root owns `serve` and `check`, the settings, logging and the embedded Redis; each feature
adds its own subcommands (`feeds/cli.py`, `shortlinks/cli.py`, see finews/core/commands.py).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

import feeds.cli
import shortlinks
import shortlinks.cli
from finews import workers
from finews.app import create_app
from finews.config import load
from finews.console import cli as console_cli
from finews.core import logs
from finews.core.commands import EXIT_PROBLEMS, EXIT_USAGE, Context, Handler
from finews.core.redis_client import AnyRedis, Limits, connect
from finews.core.settings import Settings, SettingsError
from finews.embedded_redis import EmbeddedRedis, EmbeddedRedisError, ping
from finews.migrate import migrate

# What a command may fail with that is no bug: one line naming it, and EXIT_PROBLEMS.
TROUBLE = (RedisError, EmbeddedRedisError, OSError, UnicodeDecodeError)


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    settings = ctx.settings
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    count = args.workers if args.workers is not None else settings.server.workers
    if count < 1:
        print(
            f"finews: settings error: --workers: expected 1 or more, got {count}", file=sys.stderr
        )
        return EXIT_USAGE
    if count > 1:
        if port == 0:
            print(
                "finews: settings error: server.port: workers share one port; 0 picks a "
                "different one for each",
                file=sys.stderr,
            )
            return EXIT_USAGE
        return workers.run_master(settings, args.config, host, port, count)
    index = workers.worker_index()
    return workers.serve(
        create_app(settings, index or 0), settings, host, port, reuse_port=index is not None
    )


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    settings = ctx.settings
    print(f"settings: {' < '.join(settings.sources)} < environment")
    result = feeds.cli.check_posts(settings)
    problems = result.problems + shortlinks.code_conflicts(result.posts())
    for problem in problems:
        print(f"problem: {problem}")
    print(f"problems: {len(problems)}")
    return EXIT_PROBLEMS if problems else 0


@contextlib.asynccontextmanager
async def cli_redis(
    settings: Settings, *, decode_responses: bool = True
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


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: every one, the features' too, takes `--config`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--config",
            metavar="FILE",
            help="settings file over config/default.toml (or FINEWS_CONFIG)",
        )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="finews", description=__doc__.partition("\n")[0])
    sub = top.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="listen address (server.host)")
    serve.add_argument("--port", type=int, help="listen port (server.port)")
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes sharing the port (server.workers)",
    )
    serve.set_defaults(run=cmd_serve)
    check = sub.add_parser("check", help="load settings and posts, report problems (exit 1 if any)")
    check.set_defaults(run=cmd_check)
    feeds.cli.add_commands(sub)
    shortlinks.cli.add_commands(sub)
    console_cli.add_commands(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, load the settings, set up logging, run the subcommand; its exit status."""
    args = parser().parse_args(argv)
    try:
        settings = load(args.config)
    except SettingsError as exc:
        print(f"finews: settings error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.setup(settings.log.level)
    try:
        run: Handler = args.run
        return run(Context(settings, functools.partial(cli_redis, settings)), args)
    except TROUBLE as exc:
        print(f"finews: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
