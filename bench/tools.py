"""The external programs the figures need (wrk, hugo, jekyll): found, or installed with apt.

Each is a Debian package; a missing one is installed (saying so) when a selected figure
needs it, and when that fails the figures that need it report `n/a` instead of stopping.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tool:
    name: str
    packages: tuple[str, ...]
    present: tuple[str, ...]  # command that succeeds when the tool is usable
    version: tuple[str, ...]  # command printing the version (first line is kept)


TOOLS = {
    "wrk": Tool("wrk", ("wrk",), ("sh", "-c", "command -v wrk"), ("wrk", "-v")),
    "hugo": Tool("hugo", ("hugo",), ("sh", "-c", "command -v hugo"), ("hugo", "version")),
    "jekyll": Tool(
        "jekyll",
        ("jekyll", "ruby-jekyll-feed"),
        ("dpkg-query", "-W", "-f", "${Status}\\n", "jekyll", "ruby-jekyll-feed"),
        ("jekyll", "--version"),
    ),
}
_missing: dict[str, str] = {}  # tool -> why it could not be installed


def _ok(cmd: tuple[str, ...]) -> bool:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    removed = "not-installed" in out.stdout or "deinstall" in out.stdout
    return out.returncode == 0 and not removed


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        [*prefix, "apt-get", *args], capture_output=True, text=True, env=env, timeout=900
    )


def _apt_lists_empty() -> bool:
    lists = Path("/var/lib/apt/lists")
    return not any(lists.glob("*Packages*")) if lists.is_dir() else True


def ensure(name: str) -> str | None:
    """None when the tool is usable (installing it if needed), else the reason it is not."""
    if name in _missing:
        return _missing[name]
    tool = TOOLS[name]
    if _ok(tool.present):
        return None
    if shutil.which("apt-get") is None:
        _missing[name] = f"{name} missing and no apt-get to install it"
        return _missing[name]
    install = ("install", "-y", "--no-install-recommends", *tool.packages)
    print(f"bench: {name} is missing: installing it with `apt-get {' '.join(install)}`", flush=True)
    try:
        if _apt_lists_empty():
            print("bench: apt package lists are empty: running `apt-get update` first", flush=True)
            _apt("update")
        result = _apt(*install)
        if result.returncode != 0:  # stale package lists: refresh once and retry
            print("bench: install failed: running `apt-get update` and retrying", flush=True)
            _apt("update")
            result = _apt(*install)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _missing[name] = f"{name} install failed: {exc}"
        return _missing[name]
    if result.returncode != 0 or not _ok(tool.present):
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        _missing[name] = f"{name} install failed: {last}"
        return _missing[name]
    return None


def version(name: str) -> str:
    """First line of the tool's version output, or why it is unavailable."""
    if name not in TOOLS:
        return platform.python_version()
    if not _ok(TOOLS[name].present):
        return _missing.get(name, "not installed")
    try:
        out = subprocess.run(TOOLS[name].version, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def jekyll_feed_version() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "ruby-jekyll-feed"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "not installed"
