"""What the root `finews` command hands a feature's subcommands.

Each feature owns its subcommands (`feeds/cli.py`, `shortlinks/cli.py`): its
`add_commands(subparsers)` adds them, each with `set_defaults(run=handler)`. The root owns
the rest and features never import it: it parses, loads the settings, sets up logging, and
calls `handler(Context, args)`, which returns the exit status. Redis, file and decoding
errors a handler lets through end the command with one line and EXIT_PROBLEMS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from finews.core.redis_client import AnyRedis
from finews.core.settings import Settings

EXIT_PROBLEMS = 1  # the command found problems or could not finish
EXIT_USAGE = 2  # bad arguments or settings, as argparse exits


class OpenRedis(Protocol):
    """A client for one command: the configured Redis or an embedded one, which the root
    starts if needed and stops (closing the client) when the `async with` ends."""

    def __call__(
        self, *, decode_responses: bool = True
    ) -> AbstractAsyncContextManager[AnyRedis]: ...


@dataclass(frozen=True)
class Context:
    """The loaded settings and a way to reach Redis, for a subcommand's handler."""

    settings: Settings
    redis: OpenRedis


# What each subcommand sets as `run`: it returns the exit status.
Handler: TypeAlias = Callable[[Context, argparse.Namespace], int]

# What `ArgumentParser.add_subparsers` returns (a string: not subscriptable at run time);
# its parser class (the root's, adding `--config`) is the root's business.
Subparsers: TypeAlias = "argparse._SubParsersAction[Any]"
