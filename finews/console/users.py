"""People who sign in to the console: a name, a role and an argon2 password hash in Redis.

Roles are ordered: a viewer reads, an editor also creates and changes links, an admin also
manages users and API keys.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from finews.console import keys

ROLES = ("viewer", "editor", "admin")
NAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
PASSWORD_MIN = 8
HASHER = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """Verified against when the name is unknown, so a wrong name costs as long as a wrong
    password. Made on the first sign-in, not at import: a hash takes 0.2 s, and every
    `finews` command imports this module."""
    return HASHER.hash("no such user")


class UserError(ValueError):
    """A name, role or password the console refuses: the message says which rule."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str

    def can(self, role: str) -> bool:
        """Whether this user has `role` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


def check(name: str, role: str | None = None, password: str | None = None) -> None:
    if not NAME_RE.fullmatch(name):
        raise UserError(f"name {name!r}: use 1 to 64 letters, digits and _ . @ -")
    if role is not None and role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    if password is not None and len(password) < PASSWORD_MIN:
        raise UserError(f"password: at least {PASSWORD_MIN} characters")


async def get(redis: Any, name: str) -> User | None:
    text = await redis.hget(keys.USERS, name)
    return User(name, json.loads(text)["role"]) if text else None


async def all_users(redis: Any) -> list[User]:
    found = await redis.hgetall(keys.USERS)
    return [User(name, json.loads(text)["role"]) for name, text in sorted(found.items())]


async def add(redis: Any, name: str, role: str, password: str) -> None:
    """A new user; UserError when the name is taken or a rule is broken."""
    check(name, role, password)
    record = json.dumps({"role": role, "hash": HASHER.hash(password)})
    if not await redis.hsetnx(keys.USERS, name, record):
        raise UserError(f"user {name} exists already")


async def set_password(redis: Any, name: str, password: str) -> None:
    check(name, password=password)
    text = await redis.hget(keys.USERS, name)
    if not text:
        raise UserError(f"no user {name}")
    record = {**json.loads(text), "hash": HASHER.hash(password)}
    await redis.hset(keys.USERS, name, json.dumps(record))


async def remove(redis: Any, name: str) -> bool:
    return bool(await redis.hdel(keys.USERS, name))


async def verify(redis: Any, name: str, password: str) -> User | None:
    """The user when the password is theirs, else None (the same work either way)."""
    text = await redis.hget(keys.USERS, name) if NAME_RE.fullmatch(name) else None
    record = json.loads(text) if text else {"hash": dummy_hash(), "role": ""}
    try:
        HASHER.verify(record["hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return User(name, record["role"]) if text else None
