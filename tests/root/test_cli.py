"""`finews --help` and each subcommand's `--help`, as a user runs them.

The features add their own subcommands (feeds/cli.py, shortlinks/cli.py); these tests catch
one that stops being wired into the root command, or an option without help text.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from finews.cli import parser
from tests.envs import clean_env

COMMANDS = ("serve", "check", "build", "shorten", "export", "import", "visits", "links", "users")


def finews(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finews", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )


def subcommands() -> dict[str, argparse.ArgumentParser]:
    [sub] = [
        action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    return dict(sub.choices)


def test_help_lists_every_subcommand_with_what_it_does() -> None:
    result = finews("--help")
    assert result.returncode == 0, result.stderr
    assert f"{{{','.join(COMMANDS)}}}" in result.stdout
    listed = {
        line.split()[0]: line
        for line in result.stdout.splitlines()
        if line.startswith("    ") and line.split()[0] in COMMANDS
    }
    assert sorted(listed) == sorted(COMMANDS)
    assert all(len(line.split()) > 1 for line in listed.values()), listed
    assert tuple(subcommands()) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_help_names_every_option_with_help_text(command: str) -> None:
    # The text `finews COMMAND --help` prints, formatted in-process: a subprocess per
    # command cost a second each (the entry point itself is run by the test above).
    text = subcommands()[command].format_help()
    assert text.startswith(f"usage: finews {command} ")
    assert "--config FILE" in text  # every subcommand takes the settings file
    shown = " ".join(text.split())  # argparse wraps lines to the terminal width
    for action in subcommands()[command]._actions:
        assert action.help, f"finews {command}: {action.dest} has no help text"
        assert action.help in shown


def test_a_missing_subcommand_or_bad_option_is_a_usage_error() -> None:
    assert finews().returncode == 2
    bad = finews("check", "--no-such-option")
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-option" in bad.stderr
    assert finews("build").returncode == 2  # --out is required
