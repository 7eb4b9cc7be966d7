"""Who may call the /api/ endpoints: bearer keys, in one place for every feature.

The keys in `api.keys` (settings) keep full rights. People (the console's admins) add keys
with scopes, stored hashed in Redis, that they can create and revoke without a restart.
A key is shown once, when made: Redis keeps only its SHA-256
(a key is 32 random bytes, so a fast hash is enough; argon2 is for passwords people pick).

| key | type | holds |
| --- | --- | --- |
| `finews:access:keys` | hash | SHA-256 hex of a key -> JSON: name, scopes, created_at |
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from finews.core.errors import Problem

KEYS = "finews:access:keys"
SCOPES = ("links:read", "links:write", "stats:read")
ALL = frozenset(SCOPES)
TOKEN_PREFIX = "fnk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str  # the first 12 hex digits of the key's hash: names it in lists and revocations
    name: str
    scopes: frozenset[str]
    created_at: datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _load(field: str, text: str) -> ApiKey:
    data = json.loads(text)
    return ApiKey(
        field[:12],
        data["name"],
        frozenset(data["scopes"]),
        datetime.fromisoformat(data["created_at"]),
    )


async def create(redis: Any, name: str, scopes: set[str], now: datetime) -> tuple[str, ApiKey]:
    """A new key with these scopes (each one of SCOPES): the token, shown once, and its record."""
    unknown = sorted(set(scopes) - ALL)
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]}; scopes are {', '.join(SCOPES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    field = digest(token)
    record = {"name": name, "scopes": sorted(scopes), "created_at": now.isoformat()}
    await redis.hset(KEYS, field, json.dumps(record, ensure_ascii=False))
    return token, _load(field, json.dumps(record))


async def find(redis: Any, token: str) -> ApiKey | None:
    """The stored key of this token, or None (a hash lookup: no timing to learn from)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    field = digest(token)
    text = await redis.hget(KEYS, field)
    return _load(field, text) if text else None


async def all_keys(redis: Any) -> list[ApiKey]:
    found = await redis.hgetall(KEYS)
    return sorted((_load(f, t) for f, t in found.items()), key=lambda k: (k.created_at, k.id))


async def revoke(redis: Any, key_id: str) -> bool:
    """Remove the key whose id is `key_id`; whether there was one."""
    for field in await redis.hkeys(KEYS):
        if field[:12] == key_id:
            return bool(await redis.hdel(KEYS, field))
    return False


def configured(token: str, keys: list[str]) -> str:
    """The key of `api.keys` this token is ("" for none); every one is compared in constant
    time. Header bytes that are not UTF-8 arrive as surrogate escapes; they match no key."""
    given = token.encode("utf-8", "surrogateescape")
    matched = ""
    for key in keys:
        if hmac.compare_digest(given, key.encode()):
            matched = key
    return matched


async def authorize(request: web.Request, redis: Any, keys: list[str], scope: str) -> str:
    """The caller's key: one of `api.keys` (every right), or a stored key holding `scope`.
    401 problem without a valid key, 403 naming the scope a stored key lacks."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    token = given.strip() if scheme.lower() == "bearer" else ""
    if token and (matched := configured(token, keys)):
        return matched
    stored = await find(redis, token) if token else None
    if stored is None:
        reason = (
            "no api.keys are configured, and this is no key made in the console"
            if not keys
            else "send Authorization: Bearer <key> with a valid key"
        )
        raise Problem(
            401, "unauthorized", reason, headers={"WWW-Authenticate": 'Bearer realm="finews"'}
        )
    if scope not in stored.scopes:
        raise Problem(403, "forbidden", f"this key lacks the scope {scope}", scope=scope)
    return token
