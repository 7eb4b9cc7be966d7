"""The Redis data model of the newsroom console: every key name is built here.

| key | type | holds |
| --- | --- | --- |
| `finews:console:users` | hash | user name -> JSON: role, argon2 password hash |
| `finews:console:session:{H}` | string, TTL `console.session_seconds` | a session (H = SHA-256 of the cookie's token): name, CSRF token, expiry |

Sign-in attempts are counted by the shortlinks rate limiter (`finews:shortlinks:rl:login-name:…`
and `…:login-address:…`, see shortlinks/keys.py).
"""

from __future__ import annotations

PREFIX = "finews:console"
USERS = f"{PREFIX}:users"


def session(token_hash: str) -> str:
    return f"{PREFIX}:session:{token_hash}"
