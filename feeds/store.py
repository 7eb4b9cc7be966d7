"""Built documents as bytes with their validators, compressed once, shared through Redis.

A poll is answered from a Document in process memory: no rendering, no compression and no
Redis round trip on the hot path. Redis holds the same Documents so that a restart serves
the previous build at once and so that processes that do not build (followers, see
feeds/follow.py) can load them: every build writes the documents that changed, the ETags
of the current documents and a new version number in one script (fenced by the builder
lease's epoch, feeds/lease.py), then publishes the
version on keys.CHANGED (every name: feeds/keys.py).

Last-Modified is the time a document's bytes last changed, kept with the document (here and
in Redis): a build that makes the same bytes keeps the stored date, one that makes new
bytes dates them at the build, and always later than the bytes they replace (RFC 9110
§8.8.2: a reader that sends If-Modified-Since must not be told "not modified" for bytes it
has not seen). Archive pages, rendered on request, keep their dates in keys.PAGE_DATES.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime

import brotli
from redis.typing import EncodableT

from feeds import keys
from finews.core.redis_client import AnyRedis

log = logging.getLogger("finews.feeds")

GZIP_LEVEL = 9
# Measured on a 140 kB Atom page: quality 6 takes 3 ms for 7.4 kB, 9 takes 13 ms for
# 7.1 kB, 11 takes 200 ms for 6.8 kB. 6 keeps a full rebuild short.
BROTLI_QUALITY = 6
FIELDS = ("body", "gzip", "br", "etag", "modified", "content_type", "links")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Document:
    """One representation, in every content coding, with its validators."""

    body: bytes
    gzip: bytes
    br: bytes
    etag: str  # strong ETag of `body`, quoted; coded twins add -gzip / -br
    modified: int  # Unix seconds when these bytes were first built: Last-Modified
    content_type: str
    links: str = ""  # HTTP Link header (WebSub self and hub), "" for none
    last_modified: str = field(init=False, default="")  # `modified` as an HTTP-date
    # coding -> (body, ETag), made once here rather than on every request
    variants: dict[str, tuple[bytes, str]] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        stamp = datetime.fromtimestamp(self.modified, UTC)
        object.__setattr__(self, "last_modified", format_datetime(stamp, usegmt=True))
        self.variants.update(
            {
                "identity": (self.body, self.etag),
                "gzip": (self.gzip, f'{self.etag[:-1]}-gzip"'),
                "br": (self.br, f'{self.etag[:-1]}-br"'),
            }
        )

    @classmethod
    def build(cls, body: bytes, content_type: str, links: str = "", *, modified: float) -> Document:
        """Hash and compress once; every later request reuses the results. Dated
        `modified` (the build's time): `succeeding` gives it the date of the same bytes
        built before."""
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        return cls(
            body=body,
            gzip=gzip.compress(body, GZIP_LEVEL, mtime=0),
            br=brotli.compress(body, quality=BROTLI_QUALITY),
            etag=f'"{digest}"',
            modified=int(modified),
            content_type=content_type,
            links=links,
        )

    def succeeding(self, etag: str, modified: int) -> Document:
        """This document as the successor of the bytes tagged `etag`, dated `modified`:
        the same bytes keep that date; new bytes get a later one (a second later when
        built within the same second), so the old date never matches them."""
        if etag == self.etag:
            return self if modified == self.modified else replace(self, modified=modified)
        return self if self.modified > modified else replace(self, modified=modified + 1)

    def after(self, previous: Document | None) -> Document:
        """`succeeding` the document this one replaces: `previous` itself when the bytes
        are the same (validators and all), else this one dated after it."""
        if previous is None:
            return self
        return (
            previous
            if previous.etag == self.etag
            else self.succeeding(previous.etag, previous.modified)
        )

    def coded(self, coding: str) -> tuple[bytes, str]:
        """The body and the ETag for a content coding: identity, gzip or br."""
        return self.variants[coding]

    def to_redis(self) -> dict[EncodableT, EncodableT]:
        return {
            "body": self.body,
            "gzip": self.gzip,
            "br": self.br,
            "etag": self.etag.encode(),
            "modified": str(self.modified).encode(),
            "content_type": self.content_type.encode(),
            "links": self.links.encode(),
        }

    @classmethod
    def from_redis(cls, fields: Mapping[bytes, bytes]) -> Document:
        return cls(
            body=fields[b"body"],
            gzip=fields[b"gzip"],
            br=fields[b"br"],
            etag=fields[b"etag"].decode(),
            modified=int(fields[b"modified"]),
            content_type=fields[b"content_type"].decode(),
            links=fields[b"links"].decode(),
        )


# KEYS: epoch, etags, version, the changed documents, the removed documents.
# ARGV: fence ("" for none), changed count, removed count, then the 7 field/value pairs of
# each changed document, then path/ETag pairs of every current document (HSET in chunks:
# Lua's unpack holds a few thousand values at most).
SAVE_SCRIPT = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local changed, removed = tonumber(ARGV[2]), tonumber(ARGV[3])
local arg = 4
for i = 1, changed do
  redis.call('HSET', KEYS[3 + i], unpack(ARGV, arg, arg + 13))
  arg = arg + 14
end
for i = 1, removed do redis.call('DEL', KEYS[3 + changed + i]) end
redis.call('DEL', KEYS[2])
while arg <= #ARGV do
  local last = math.min(arg + 999, #ARGV)
  redis.call('HSET', KEYS[2], unpack(ARGV, arg, last))
  arg = last + 1
end
return redis.call('INCR', KEYS[3])
"""


class Fenced(Exception):
    """A builder's write refused: its lease epoch is no longer the current one."""


class DocumentStore:
    """The Redis copy of the current documents (a bytes client: decode_responses=False)."""

    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis

    async def snapshot(self) -> tuple[int, dict[str, str]]:
        """The current version and the ETag of every current document, read atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.VERSION)
            pipe.hgetall(keys.ETAGS)
            version, etags = await pipe.execute()
        return int(version or 0), {_text(path): _text(etag) for path, etag in etags.items()}

    async def documents(
        self, paths: Iterable[str], key: Callable[[str], str] = keys.doc
    ) -> dict[str, Document]:
        """The stored documents of `paths`; a path without one (deleted since) is left out."""
        paths = list(paths)
        async with self.redis.pipeline(transaction=False) as pipe:
            for path in paths:
                pipe.hgetall(key(path))
            rows = await pipe.execute() if paths else []
        return {
            path: Document.from_redis(row)
            for path, row in zip(paths, rows, strict=True)
            if all(field.encode() in row for field in FIELDS)
        }

    async def save(
        self,
        docs: Mapping[str, Document],
        changed: Iterable[str],
        removed: Iterable[str],
        *,
        epoch: int | None = None,
    ) -> int:
        """Write what changed, drop what is gone, replace the ETags; returns the new version.

        One script, so all of it happens or none. `epoch`: the builder lease's fencing token
        (feeds/lease.py); the write is refused with Fenced when the stored epoch differs,
        because a newer builder took over while this one was paused. None: not fenced
        (`feeds.role = "builder"` set by hand).
        """
        changed, removed = list(changed), list(removed)
        args: list[EncodableT] = ["" if epoch is None else str(epoch), len(changed), len(removed)]
        for path in changed:
            for name, value in docs[path].to_redis().items():
                args += [name, value]
        for path, doc in docs.items():
            args += [path, doc.etag]
        version = int(
            await self.redis.eval(
                SAVE_SCRIPT,
                3 + len(changed) + len(removed),
                keys.EPOCH,
                keys.ETAGS,
                keys.VERSION,
                *map(keys.doc, changed),
                *map(keys.doc, removed),
                *args,
            )
        )
        if version < 0:
            raise Fenced(f"epoch {epoch} is no longer the builder's ({keys.EPOCH})")
        await self.redis.publish(keys.CHANGED, str(version))
        return version

    async def save_page(self, version: int, docs: Mapping[str, Document], ttl: int) -> None:
        """An archive page's documents for followers, kept `ttl` seconds."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for path, doc in docs.items():
                pipe.hset(keys.page(version, path), mapping=doc.to_redis())
                pipe.expire(keys.page(version, path), ttl)
            await pipe.execute()

    async def dated(self, docs: Mapping[str, Document]) -> dict[str, Document]:
        """Freshly rendered archive page documents, dated by keys.PAGE_DATES (which records
        the dates of the new bytes)."""
        paths = list(docs)
        stored = await self.redis.hmget(keys.PAGE_DATES, paths)
        out: dict[str, Document] = {}
        new: dict[EncodableT, EncodableT] = {}
        for path, raw in zip(paths, stored, strict=True):
            doc = docs[path]
            if raw:
                etag, _, seconds = _text(raw).rpartition(" ")
                doc = doc.succeeding(etag, int(seconds))
            stamp = f"{doc.etag} {doc.modified}"
            if raw is None or _text(raw) != stamp:
                new[path] = stamp
            out[path] = doc
        if new:
            await self.redis.hset(keys.PAGE_DATES, mapping=new)
        return out

    async def page(self, version: int, paths: Iterable[str]) -> dict[str, Document]:
        """The archive page documents the builder wrote for `version`, by path."""
        return await self.documents(paths, lambda path: keys.page(version, path))
