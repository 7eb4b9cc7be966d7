"""Typed application keys shared by finews and the packages it wires together.

feeds/ and shortlinks/ read the settings and Redis clients through these keys and never
import each other; finews puts the values in place.
"""

from __future__ import annotations

from aiohttp import web

from finews.embedded_redis import EmbeddedRedis
from finews.redis_client import AnyRedis
from finews.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
# Text client (decode_responses=True) and bytes client for cached documents.
REDIS = web.AppKey("redis", AnyRedis)
REDIS_BYTES = web.AppKey("redis_bytes", AnyRedis)
EMBEDDED = web.AppKey("embedded_redis", EmbeddedRedis | None)
# 0 for a single process; 0..N-1 under `finews serve --workers N` (FINEWS_WORKER_INDEX).
# Work that one process should do for all (building feeds) belongs to worker 0.
WORKER_INDEX = web.AppKey("worker_index", int)
