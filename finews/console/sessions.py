"""Console sessions: a random token in an HttpOnly cookie, its hash as the Redis key.

The record carries the session's CSRF token and its expiry by the app's clock (the key's
Redis TTL only clears it away), so a test moves a FrozenClock past it instead of waiting.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from finews.console import keys

COOKIE = "finews_console"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    name: str
    csrf: str
    expires: float


def _key(token: str) -> str:
    return keys.session(hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest())


async def start(redis: Any, name: str, now: float, seconds: int) -> Session:
    found = Session(secrets.token_urlsafe(32), name, secrets.token_urlsafe(32), now + seconds)
    record = {"name": name, "csrf": found.csrf, "expires": found.expires}
    await redis.set(_key(found.token), json.dumps(record), ex=seconds)
    return found


async def find(redis: Any, token: str, now: float) -> Session | None:
    """The live session of a cookie's token; an expired one is deleted and None."""
    if not token:
        return None
    text = await redis.get(_key(token))
    if not text:
        return None
    data = json.loads(text)
    if data["expires"] <= now:
        await redis.delete(_key(token))
        return None
    return Session(token, data["name"], data["csrf"], data["expires"])


async def end(redis: Any, token: str) -> None:
    await redis.delete(_key(token))
