"""The `finews` command: serve, check, build."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from feeds.build import build_static
from feeds.posts import load_posts
from finews import logs
from finews.app import create_app
from finews.settings import Settings, SettingsError, load

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    web.run_app(create_app(settings), host=host, port=port, print=None,
                access_log_class=logs.AccessLogger,
                access_log=logging.getLogger("finews.access") if settings.log.access else None)
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    print(f"settings: {' < '.join(settings.sources)} < environment")
    result = load_posts(settings)
    print(f"posts: {len(result.posts())} in {settings.posts.dir}")
    for problem in result.problems:
        print(f"problem: {problem}")
    print(f"problems: {len(result.problems)}")
    return EXIT_PROBLEMS if result.problems else 0


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
