"""The environment for subprocesses a test starts: the developer's own settings stay out.

A `FINEWS_*` variable (say FINEWS_SERVER__PORT or FINEWS_POSTS__DIR) exported in the shell
that runs pytest would otherwise reach every `finews` a test runs and change what it
does; PROMETHEUS_MULTIPROC_DIR would move the metrics into a shared directory.
"""

from __future__ import annotations

import os

DROPPED_PREFIXES = ("FINEWS_",)
DROPPED = frozenset({"PROMETHEUS_MULTIPROC_DIR"})


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without FINEWS_* and PROMETHEUS_MULTIPROC_DIR, plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(DROPPED_PREFIXES) and name not in DROPPED
    }
    env.update(extra)
    return env
