"""Rename the feeds' ETags hash from its name in the release before (`...:index`).

The stored documents are a cache the builder rewrites, but their names did not change:
only the hash that lists them is renamed (one slot, one atomic RENAMENX), so a follower
restarted on the old data serves the stored documents at once.
"""

from __future__ import annotations

from feeds import keys
from finews.core.redis_client import AnyRedis
from finews.core.rekey import rekey


async def migrate(redis: AnyRedis) -> int:
    """Rename the old ETags hash when it is there; returns how many keys moved."""
    return await rekey(redis, keys.LEGACY_ETAGS, keys.renamed)
