"""Move share-link keys from the names of the release before (`sl:...`) to today's.

The root runs this once, under its migration lock, before anything reads or writes links
(see finews/migrate.py). Links, their statistics, visitor sketches, visit-batch records,
salts and rate-limit windows keep their values and their time to live.
"""

from __future__ import annotations

from finews.core.redis_client import AnyRedis
from finews.core.rekey import rekey
from shortlinks import keys


async def migrate(redis: AnyRedis) -> int:
    """Move every `sl:` key to its name today; returns how many keys moved."""
    return await rekey(redis, keys.LEGACY, keys.renamed)
