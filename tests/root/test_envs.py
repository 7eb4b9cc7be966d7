"""A developer's FINEWS_* variables do not reach the processes the tests start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.envs import clean_env


def test_a_subprocess_sees_no_finews_setting_of_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEWS_POSTS__DIR", "/nonexistent")
    monkeypatch.setenv("FINEWS_SERVER__PORT", "1")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent")
    env = clean_env(FINEWS_LOG__LEVEL="WARNING")
    assert {name for name in env if name.startswith("FINEWS_")} == {"FINEWS_LOG__LEVEL"}
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from finews.config import load; s = load(); "
            "print(s.server.port, s.posts.dir, s.log.level)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.split() == ["8080", "content/posts", "WARNING"]
