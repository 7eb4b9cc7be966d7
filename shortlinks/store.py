"""Links in Redis: atomic, idempotent issuance, lookups, changes and cursor paging.

Issuance works on batches and pipelines each step, so one request and 100,000 posts take
the same code path (a handful of round trips per 1,000 links). See `shortlinks.keys` for
the data model. Every command touches one key, so the same code runs on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from finews.core.clock import SYSTEM, Clock
from finews.core.redis_client import AnyRedis
from shortlinks import codes, indexes, keys
from shortlinks.replicas import Replicas

log = logging.getLogger("finews.shortlinks")

CLAIM_MS = 30_000  # a claim not bound to its URL within this long disappears
CHUNK = 1000  # wants per pipelined round
CAS_ATTEMPTS = 8
CAS_BACKOFF = 0.002  # seconds; the longest wait doubles per attempt, 0.5 s in all at most
# Single-key scripts (legal on Cluster): compare-and-set and compare-and-delete.
CAS_SET = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0"
)
CAS_DEL = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


@dataclass(frozen=True, slots=True)
class Link:
    code: str
    url: str
    created_at: datetime
    title: str = ""
    disabled: bool = False
    expires_at: datetime | None = None
    origin: str = "api"
    forward_query: bool = True  # a click's query string is passed on to the target
    summary: str = ""
    deleted_at: datetime | None = None  # soft-deleted: answers 410 until restored

    def dumps(self) -> str:
        return json.dumps(
            {
                "url": self.url,
                "created_at": self.created_at.isoformat(),
                "title": self.title,
                "disabled": self.disabled,
                "origin": self.origin,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                **({} if self.forward_query else {"forward_query": False}),
                **({"summary": self.summary} if self.summary else {}),
                **({"deleted_at": self.deleted_at.isoformat()} if self.deleted_at else {}),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, code: str, text: str | bytes) -> Link:
        data = json.loads(text)
        expires, deleted = data.get("expires_at"), data.get("deleted_at")
        return cls(
            code=code,
            url=data["url"],
            title=data.get("title", ""),
            created_at=datetime.fromisoformat(data["created_at"]),
            disabled=bool(data.get("disabled")),
            origin=data.get("origin", "api"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            forward_query=data.get("forward_query", True) is not False,
            summary=data.get("summary", ""),
            deleted_at=datetime.fromisoformat(deleted) if deleted else None,
        )

    def gone(self, now: datetime) -> str | None:
        """Why the link no longer redirects, or None while it does."""
        if self.deleted_at is not None:
            return "deleted"
        if self.disabled:
            return "disabled"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return None


@dataclass(frozen=True, slots=True)
class Want:
    """A request for a link to `url` (canonical, already checked by shortlinks.targets)."""

    url: str
    day: date
    prefix: str
    title: str = ""
    expires_at: datetime | None = None
    origin: str = "api"
    legacy: str | None = None  # an existing code (printed, shared) to keep exactly
    forward_query: bool = True
    summary: str = ""  # a post's summary, shown on the preview page


@dataclass(frozen=True, slots=True)
class Issued:
    link: Link
    created: bool
    conflict: str | None = None  # the legacy code wanted is held by another URL


@dataclass(frozen=True)
class NotIssued:
    """Why no link was issued for one want (every attempt collided): a result, not raised,
    so that one want of a batch failing leaves the others' links in place."""

    reason: str

    def __str__(self) -> str:
        return self.reason


class UrlTaken(Exception):
    """A retarget to a URL that already has its own link."""

    def __init__(self, code: str) -> None:
        super().__init__(f"that url already has link {code}")
        self.code = code


class Deleted(Exception):
    """The link is soft-deleted: it changes again once restored."""

    def __init__(self, code: str) -> None:
        super().__init__(f"share link {code} is deleted; POST /api/links/{code}/restore first")
        self.code = code


class Contended(Exception):
    """Other writers kept changing the link while this change was being applied."""

    def __init__(self, code: str) -> None:
        super().__init__(f"link {code} kept changing while this change was applied; try again")
        self.code = code


class LinkStore:
    def __init__(
        self,
        redis: AnyRedis,
        zone: ZoneInfo,
        *,
        attempts: int = 8,
        digits: Callable[[], str] = codes.random_digits,
        clock: Clock = SYSTEM,
        replicas: Replicas | None = None,
    ) -> None:
        self.redis = redis  # decodes responses (str): redis-py's types cannot tell, so cast
        self.replicas = replicas
        self.clock = clock
        self.zone = zone
        self.attempts = attempts
        self.digits = digits

    async def get(self, code: str) -> Link | None:
        text = await self.redis.get(keys.link(code))
        return Link.loads(code, text) if text else None

    async def mget(self, names: Sequence[str]) -> list[Any]:
        """Many values in one command (per node on Cluster, where MGET cannot span slots)."""
        if not names:
            return []
        split = getattr(self.redis, "mget_nonatomic", None)
        return await (split(names) if split else self.redis.mget(names))

    async def get_many(self, found: Sequence[str]) -> list[Link | None]:
        texts = await self.mget([keys.link(code) for code in found])
        return [Link.loads(c, t) if t else None for c, t in zip(found, texts, strict=False)]

    async def issue(self, wants: Sequence[Want]) -> list[Issued | NotIssued]:
        """A link per want, in order: the URL's existing link, else a newly claimed one."""
        out: list[Issued | NotIssued] = []
        for start in range(0, len(wants), CHUNK):
            out.extend(await self._issue_chunk(wants[start : start + CHUNK]))
        issued = [item.link for item in out if isinstance(item, Issued)]
        if self.replicas is not None and issued:  # acknowledged only once a replica has it
            written = [keys.CODES]
            for link in issued:
                written += [keys.link(link.code), keys.url(link.url)]
            await self.replicas.confirm(written)
        return out

    async def _issue_chunk(self, wants: Sequence[Want]) -> list[Issued | NotIssued]:
        results: dict[int, Issued | NotIssued] = {}
        pointers = await self.mget([keys.url(want.url) for want in wants])
        existing = {
            i: link
            for i, link in zip(
                [i for i, p in enumerate(pointers) if p],
                await self.get_many([p for p in pointers if p]),
                strict=False,
            )
            if link is not None and link.url == wants[i].url
        }
        legacy: dict[int, str] = {}  # want -> the legacy code it asks for
        fresh: list[int] = []
        for i, want in enumerate(wants):
            have = existing.get(i)
            if want.legacy and (have is None or have.code != want.legacy):
                legacy[i] = want.legacy
            elif have is not None:
                results[i] = Issued(have, created=False)
            else:
                fresh.append(i)
        now = self.clock.now(self.zone).replace(microsecond=0)
        conflicts = await self._claim_legacy(wants, legacy, now, results)
        for i in conflicts:
            if i in existing:
                results[i] = Issued(existing[i], created=False, conflict=conflicts[i])
            else:
                fresh.append(i)
        await self._claim_fresh(wants, sorted(fresh), now, results, conflicts)
        return [results[i] for i in range(len(wants))]

    def _record(self, want: Want, code: str, now: datetime) -> Link:
        return Link(
            code=code,
            url=want.url,
            created_at=now,
            title=want.title,
            expires_at=want.expires_at,
            origin=want.origin,
            forward_query=want.forward_query,
            summary=want.summary,
        )

    async def _claim_legacy(
        self,
        wants: Sequence[Want],
        todo: dict[int, str],
        now: datetime,
        results: dict[int, Issued | NotIssued],
    ) -> dict[int, str]:
        """Claim each wanted legacy code (`todo`: want -> code); the first claim keeps it.
        Returns conflicts."""
        if not todo:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for i, code in todo.items():
            pipe.set(keys.link(code), self._record(wants[i], code, now).dumps(), nx=True)
            pipe.get(keys.link(code))
        replies = await pipe.execute()
        conflicts: dict[int, str] = {}
        pipe = self.redis.pipeline(transaction=False)
        for n, (i, code) in enumerate(todo.items()):
            want, claimed, text = wants[i], replies[2 * n], replies[2 * n + 1]
            held = Link.loads(code, text) if text else None
            if held is None or (not claimed and held.url != want.url):
                holder = held.url if held else "a link being deleted"
                conflicts[i] = f"{code} is already the code of {holder}"
                log.warning("event=code_conflict code=%s url=%s holder=%s", code, want.url, holder)
                continue
            results[i] = Issued(held, created=bool(claimed))
            pipe.set(keys.url(want.url), code)
            indexes.add(pipe, held)
        await pipe.execute()
        return conflicts

    async def _claim_fresh(
        self,
        wants: Sequence[Want],
        todo: list[int],
        now: datetime,
        results: dict[int, Issued | NotIssued],
        conflicts: dict[int, str],
    ) -> None:
        """New random codes: claim (SET NX, expiring), bind to the URL (SET NX GET), keep."""
        for _ in range(self.attempts):
            if not todo:
                return
            links = {
                i: self._record(
                    wants[i], codes.make(wants[i].prefix, wants[i].day, self.digits()), now
                )
                for i in todo
            }
            pipe = self.redis.pipeline(transaction=False)
            for i in todo:
                pipe.set(keys.link(links[i].code), links[i].dumps(), nx=True, px=CLAIM_MS)
            claims = await pipe.execute()
            retry = [i for i, ok in zip(todo, claims, strict=False) if not ok]
            if retry:
                log.warning(
                    "event=code_collision count=%d codes=%s",
                    len(retry),
                    ",".join(links[i].code for i in retry[:5]),
                )
            claimed = [i for i, ok in zip(todo, claims, strict=False) if ok]
            pipe = self.redis.pipeline(transaction=False)
            for i in claimed:
                pipe.set(keys.url(wants[i].url), links[i].code, nx=True, get=True)
            bound = await pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
            lost: list[tuple[int, str]] = []
            for i, holder in zip(claimed, bound, strict=False):
                if holder is None:
                    pipe.persist(keys.link(links[i].code))
                    indexes.add(pipe, links[i])
                    results[i] = Issued(links[i], created=True, conflict=conflicts.get(i))
                else:
                    pipe.delete(keys.link(links[i].code))
                    lost.append((i, holder))
            await pipe.execute()
            for (i, holder), link in zip(
                lost, await self.get_many([h for _, h in lost]), strict=False
            ):
                if link is not None and link.url == wants[i].url:
                    results[i] = Issued(link, created=False, conflict=conflicts.get(i))
                else:  # the holder died before keeping its claim: free the URL, try again
                    await self.redis.eval(CAS_DEL, 1, keys.url(wants[i].url), holder)
                    retry.append(i)
            todo = sorted(retry)
        for i in todo:
            log.error("event=issue_failed url=%s attempts=%d", wants[i].url, self.attempts)
            results[i] = NotIssued(f"no free code after {self.attempts} attempts")

    async def update(self, code: str, **changes: Any) -> Link | None:
        """Change url, title, disabled or expires_at atomically (compare-and-set); a deleted
        link raises Deleted (restore it first)."""
        for attempt in range(CAS_ATTEMPTS):
            if attempt:  # writers that collided spread out instead of colliding again
                await asyncio.sleep(random.uniform(0, CAS_BACKOFF * 2**attempt))
            text = await self.redis.get(keys.link(code))
            if not text:
                return None
            old = Link.loads(code, text)
            if old.deleted_at is not None:
                raise Deleted(code)
            new = dataclasses.replace(old, **changes)
            if new.url != old.url:
                # a decoding client (see __init__): the old value, a str, or None
                holder = cast(
                    str | None, await self.redis.set(keys.url(new.url), code, nx=True, get=True)
                )
                if holder not in (None, code):
                    other = await self.get(holder)
                    if other is not None and other.url == new.url:
                        raise UrlTaken(holder)
                    await self.redis.set(keys.url(new.url), code)
            if await self.redis.eval(CAS_SET, 1, keys.link(code), text, new.dumps()):
                pipe = self.redis.pipeline(transaction=False)
                if new.url != old.url:
                    pipe.eval(CAS_DEL, 1, keys.url(old.url), code)
                indexes.changed(pipe, old, new)
                await pipe.execute()
                return new
        raise Contended(code)

    async def delete(self, code: str, keep_seconds: int) -> Link | None:
        """Soft delete: the link answers 410 and leaves the list, its all-time totals
        expire after `keep_seconds` unless it is restored (its day and hour buckets expire
        by their own TTLs, never later than that), and its record and URL binding stay (a
        tombstone: issuing for its URL, as a post rebuild does, finds it deleted)."""
        now = self.clock.now(self.zone).replace(microsecond=0)
        link = await self._set_deleted(code, now)
        if link is None:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.expire(keys.stats(code), keep_seconds)
        indexes.remove(pipe, link)
        await pipe.execute()
        log.info("event=link_deleted code=%s keep_seconds=%d", code, keep_seconds)
        return link

    async def restore(self, code: str) -> Link | None:
        """Undo a soft delete: the link redirects again with the statistics it kept."""
        link = await self._set_deleted(code, None)
        if link is None:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.persist(keys.stats(code))
        pipe.hget(keys.stats(code), "h")
        clicks = (await pipe.execute())[1]
        pipe = self.redis.pipeline(transaction=False)
        indexes.add(pipe, link, int(clicks or 0))
        await pipe.execute()
        log.info("event=link_restored code=%s", code)
        return link

    async def _set_deleted(self, code: str, when: datetime | None) -> Link | None:
        for _ in range(CAS_ATTEMPTS):
            text = await self.redis.get(keys.link(code))
            if not text:
                return None
            old = Link.loads(code, text)
            if (old.deleted_at is None) == (when is None):
                return old
            new = dataclasses.replace(old, deleted_at=when)
            if await self.redis.eval(CAS_SET, 1, keys.link(code), text, new.dumps()):
                return new
        raise Contended(code)

    async def purge(self, code: str) -> bool:
        """Erase the link for good (privacy requests): its record, URL binding, entries in
        the list indexes and every key carrying its hash tag, found by SCAN (on every
        Cluster node). The site-wide leaderboards and events: shortlinks.boards.forget and
        shortlinks.events.forget."""
        link = await self.get(code)
        if link is None:
            return False
        found = [k async for k in self.redis.scan_iter(match=keys.of_link(code))]
        pipe = self.redis.pipeline(transaction=False)
        pipe.eval(CAS_DEL, 1, keys.url(link.url), code)
        indexes.remove(pipe, link)
        for key in {keys.link(code), *found}:
            pipe.delete(key)
        await pipe.execute()
        log.info("event=link_purged code=%s keys=%d", code, len(found))
        return True

    async def page(
        self, after: str | None, limit: int, *, reverse: bool = False
    ) -> tuple[list[Link], str | None]:
        """Up to `limit` links in code order (or reverse) after the cursor, and the next cursor."""
        start = f"({after}" if after else ("+" if reverse else "-")
        found = cast(
            list[str],  # the decoding client: str replies
            await self.redis.zrange(
                keys.CODES,
                start,
                "-" if reverse else "+",
                desc=reverse,
                bylex=True,
                offset=0,
                num=limit + 1,
            ),
        )
        more = len(found) > limit
        found = found[:limit]
        links = await self.get_many(found)
        return [link for link in links if link is not None], (found[-1] if more else None)
