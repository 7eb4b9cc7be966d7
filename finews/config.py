"""The settings of the whole service: the core loader with every feature's checks.

Each feature checks its own sections (feeds/settings.py, shortlinks/settings.py,
websub/settings.py); only the root knows all features, so only it can hand them all over,
and check rules that span two features.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from feeds import settings as feeds_settings
from finews.console import settings as console_settings
from finews.core.settings import Check, Settings
from finews.core.settings import load as load_core
from shortlinks import settings as shortlinks_settings
from websub import settings as websub_settings


def checks() -> dict[str, Check]:
    """Every feature's checks, keyed by `section.key`."""
    return {
        **feeds_settings.checks(),
        **shortlinks_settings.checks(),
        **websub_settings.checks(),
        **console_settings.checks(),
    }


def built_in_hub_needs_websub(data: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Feeds name the built-in hub (feeds.hub) only while the hub runs (websub.enabled)."""
    if not data["websub"]["enabled"] and data["feeds"]["hub"] == "{site}/websub":
        return (
            "feeds.hub: names the built-in hub, which websub.enabled = false turns off; "
            'set feeds.hub = "" or an external hub URL'
        )
    return None


def load(
    config_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then the config file (argument or FINEWS_CONFIG), then FINEWS_* variables,
    every key checked; SettingsError names the first key that is wrong."""
    return load_core(config_file, env, checks(), [built_in_hub_needs_websub])
