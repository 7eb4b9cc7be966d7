"""Move WebSub keys from the names of the release before (`{websub}:...`) to today's.

The root runs this once, under its migration lock, before the hub reads or writes
(see finews/migrate.py). Subscriptions, address cap sets, queued jobs, their bytes and
the queue keep their values and their time to live; obsolete per-host cap sets are
deleted.
"""

from __future__ import annotations

from finews.core.redis_client import AnyRedis
from finews.core.rekey import rekey
from websub import keys


async def migrate(redis: AnyRedis) -> int:
    """Move every `{websub}:` key to its name today; returns how many keys moved."""
    return await rekey(redis, keys.LEGACY, keys.renamed)
