"""Checks of the `[console]` settings, handed to the settings loader by finews.config."""

from __future__ import annotations

from finews.core.settings import Check, positive


def checks() -> dict[str, Check]:
    return {
        f"console.{key}": positive
        for key in ("session_seconds", "login_per_name", "login_per_address", "page_size")
    }
