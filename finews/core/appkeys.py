"""Typed application keys every feature reads: the settings, the Redis clients, the clock.

feeds/, shortlinks/ and websub/ read them through these keys and never import each other;
the root (finews.app) puts the values in place. Keys only the root uses live there.
"""

from __future__ import annotations

from aiohttp import web

from finews.core.clock import Clock
from finews.core.redis_client import AnyRedis
from finews.core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
# Text client (decode_responses=True) and bytes client for cached documents.
REDIS: web.AppKey[AnyRedis] = web.AppKey("redis")
REDIS_BYTES: web.AppKey[AnyRedis] = web.AppKey("redis_bytes")
# The one source of the current time (finews.core.clock): tests put a FrozenClock here.
CLOCK = web.AppKey("clock", Clock)
