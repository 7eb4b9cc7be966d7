"""The `finews` command: serve, check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from feeds.posts import load_posts
from finews import logs, workers
from finews.app import create_app
from finews.settings import Settings, SettingsError, load

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
    for problem in result.problems:
        print(f"problem: {problem}")
    print(f"problems: {len(result.problems)}")
    return EXIT_PROBLEMS if result.problems else 0


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
