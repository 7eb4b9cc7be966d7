"""The settings of the whole service: the core loader with every feature's checks.

Each feature checks its own sections (feeds/settings.py, shortlinks/settings.py,
websub/settings.py); only the root knows all features, so only it can hand them all over,
and check rules that span two features.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from feeds.settings import CHECKS as FEEDS
from finews.core.settings import Settings, SettingsError
from finews.core.settings import load as load_core
from shortlinks.settings import CHECKS as SHORTLINKS
from websub.settings import CHECKS as WEBSUB

CHECKS = {**FEEDS, **SHORTLINKS, **WEBSUB}


def load(config_file: str | os.PathLike[str] | None = None,
         env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the config file (argument or FINEWS_CONFIG), then FINEWS_* variables,
    every key checked; SettingsError names the first key that is wrong."""
    settings = load_core(config_file, env, CHECKS)
    if not settings.websub.enabled and settings.feeds.hub == "{site}/websub":
        raise SettingsError("feeds.hub: names the built-in hub, which websub.enabled = false "
                            'turns off; set feeds.hub = "" or an external hub URL')
    return settings
