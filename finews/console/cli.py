"""`finews users add|list|remove|passwd`: the console's people, managed from a shell.

Passwords come from stdin (`--password-stdin`), never from the command line, where other
users of the machine could read them in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from finews.console import users
from finews.core.commands import EXIT_PROBLEMS, EXIT_USAGE, Context


def _password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        print("finews: give the password on stdin with --password-stdin", file=sys.stderr)
        return None
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users(ctx: Context, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with ctx.redis() as redis:
            if args.action == "list":
                for user in await users.all_users(redis):
                    print(f"{user.name}\t{user.role}")
                return 0
            if args.action == "remove":
                if await users.remove(redis, args.name):
                    print(f"removed {args.name}")
                    return 0
                print(f"finews: no user {args.name}", file=sys.stderr)
                return EXIT_PROBLEMS
            password = _password(args)
            if password is None:
                return EXIT_USAGE
            try:
                if args.action == "add":
                    await users.add(redis, args.name, args.role, password)
                else:
                    await users.set_password(redis, args.name, password)
            except users.UserError as exc:
                print(f"finews: {exc}", file=sys.stderr)
                return EXIT_PROBLEMS
            print(f"{'added' if args.action == 'add' else 'changed the password of'} {args.name}")
            return 0

    return asyncio.run(run())


def add_commands(sub: Any) -> None:
    top = sub.add_parser("users", help="people who sign in to the console")
    actions = top.add_subparsers(
        dest="action", required=True, parser_class=type(top), help="add, list, remove or passwd"
    )
    add = actions.add_parser("add", help="a new user (password on stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=users.ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    actions.add_parser("list", help="every user and role")
    remove = actions.add_parser("remove", help="remove a user")
    remove.add_argument("name")
    passwd = actions.add_parser("passwd", help="set a user's password (on stdin)")
    passwd.add_argument("name")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    top.set_defaults(run=cmd_users)
