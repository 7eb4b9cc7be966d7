"""The bearer-key check of every /api/ endpoint (share links, feeds), in one place."""

from __future__ import annotations

import hmac

from aiohttp import web

from finews.core.errors import Problem


def authenticate(request: web.Request, keys: list[str]) -> str:
    """The caller's key; every configured key is compared in constant time."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # header bytes that are not UTF-8 arrive as surrogate escapes; they match no key
    token = given.strip().encode("utf-8", "surrogateescape")
    matched = ""
    for key in keys:
        if hmac.compare_digest(token, key.encode()):
            matched = key
    if scheme.lower() != "bearer" or not token or not matched:
        reason = (
            "the API is disabled: no api.keys are configured"
            if not keys
            else "send Authorization: Bearer <key> with a valid key"
        )
        raise Problem(
            401, "unauthorized", reason, headers={"WWW-Authenticate": 'Bearer realm="finews"'}
        )
    return matched
