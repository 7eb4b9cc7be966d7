"""`finews build` and the posts part of `finews check`: feeds from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from feeds.build import build_static
from feeds.posts import LoadResult, load_posts
from finews.core.commands import EXIT_PROBLEMS, Context, Subparsers
from finews.core.settings import Settings


def check_posts(settings: Settings) -> LoadResult:
    """Load every post and say how many; the caller prints `problems` together with what
    other features find in `posts()` (the root's `finews check`)."""
    result = load_posts(settings)
    print(f"posts: {len(result.posts())} in {settings.posts.dir}")
    return result


def cmd_build(ctx: Context, args: argparse.Namespace) -> int:
    report = build_static(ctx.settings, Path(args.out), archives=args.archives)
    print(
        f"feeds: {report.feeds}, pages: {report.pages}, files: {report.files} "
        f"({report.bytes / 1e6:.1f} MB) in {args.out}"
    )
    for problem in report.problems:
        print(f"problem: {problem}")
    return EXIT_PROBLEMS if any("not written" in p for p in report.problems) else 0


def add_commands(sub: Subparsers) -> None:
    """Add `build` to the `finews` command."""
    build = sub.add_parser(
        "build", help="write every feed, archive page, OPML and index as static files"
    )
    build.add_argument("--out", required=True, metavar="DIR", help="output directory")
    build.add_argument(
        "--no-archives",
        dest="archives",
        action="store_false",
        help="write only the subscription documents (page 1 of each feed)",
    )
    build.set_defaults(run=cmd_build)
