"""Listing links with their counts: search (`q`), sort and order, paged by cursor.

No page reads every link (see shortlinks.indexes). In code order without a search, one
`ZRANGE BYLEX` page of the codes; by `created` or `clicks` without a search, one script
call over that index's sorted set finds the cursor's place and returns the page (ties in
code order, so the cursor is the last item's sort value and code). A search is one `ZSCAN
MATCH` over the search index; only the records it matches are read (at most
`shortlinks.list_scan_max` of them, in code order; past that the answer says
`truncated`), checked, sorted in memory and paged with the same keyset cursor, so a page
never repeats or skips an item that did not change. `sort=clicks_24h` without a search
takes the links clicked since yesterday's midnight from the hourly leaderboards
(shortlinks.boards; their exact values from their day hashes), then every other listed
link, at 0, in code order from the codes index: cost per page, the links clicked in the
last two days, not all links.

`clicks_24h` comes from the day hashes: clicks today and yesterday in the site's
timezone, so it covers the last 24 to 48 hours.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from shortlinks import boards, indexes, keys
from shortlinks.counting import hour_key
from shortlinks.store import Link, LinkStore

SORTS = ("code", "created", "clicks", "clicks_24h")
INDEXED = {"created": keys.CREATED, "clicks": keys.CLICKS}
ORDERS = ("asc", "desc")
CHUNK = 1000


class BadCursor(ValueError):
    """A cursor this listing did not hand out."""


@dataclass(frozen=True, slots=True)
class Counts:
    clicks: int = 0
    unique_clicks: int = 0
    clicks_24h: int = 0


@dataclass(frozen=True, slots=True)
class Listed:
    link: Link
    counts: Counts


@dataclass(frozen=True, slots=True)
class Query:
    q: str = ""
    sort: str = "code"
    order: str = "asc"
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Result:
    items: list[Listed]
    next_cursor: str | None
    truncated: bool = False


async def counts(redis: Any, found: Sequence[str], today: date) -> list[Counts]:
    """Each code's all-time clicks and unique clicks, and today's plus yesterday's clicks."""
    days = (f"{today:%Y%m%d}", f"{today - timedelta(days=1):%Y%m%d}")
    pipe = redis.pipeline(transaction=False)
    for code in found:
        pipe.hmget(keys.stats(code), ["h", "u"])
        for day in days:
            pipe.hget(keys.day(code, day), "h")
    replies = await pipe.execute()
    out = []
    for n in range(len(found)):
        (h, u), d0, d1 = replies[3 * n], replies[3 * n + 1], replies[3 * n + 2]
        out.append(Counts(int(h or 0), int(u or 0), int(d0 or 0) + int(d1 or 0)))
    return out


def _value(item: Listed, sort: str) -> int | str:
    if sort == "created":
        return int(item.link.created_at.timestamp())
    if sort == "code":
        return item.link.code
    value: int = getattr(item.counts, sort)
    return value


def _key(item: Listed, sort: str) -> tuple[int | str, str]:
    return _value(item, sort), item.link.code


def _after(key: tuple[int | str, str], start: tuple[int | str, str], desc: bool) -> bool:
    """Whether `key` comes after the cursor `start` in this order."""
    return key < start if desc else key > start


def _matches(link: Link, needle: str) -> bool:
    return any(needle in text.casefold() for text in (link.code, link.url, link.title))


def encode_cursor(value: int | str, code: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, code]).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int | str, str]:
    try:
        value, code = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise BadCursor(text) from None
    if not isinstance(value, int | str) or not isinstance(code, str):
        raise BadCursor(text)
    return value, code


async def _by_code(store: LinkStore, query: Query, today: date) -> Result:
    links, after = await store.page(query.cursor, query.limit, reverse=query.order == "desc")
    numbers = await counts(store.redis, [link.code for link in links], today)
    return Result([Listed(*pair) for pair in zip(links, numbers, strict=True)], after)


def _counted_cursor(query: Query) -> tuple[int, str] | None:
    """The cursor of a page sorted by a count or time: a whole number a sorted set's score
    can hold exactly, and a code."""
    if not query.cursor:
        return None
    value, code = decode_cursor(query.cursor)
    if type(value) is not int or abs(value) > 2**53:
        raise BadCursor(query.cursor)
    return value, code


async def _by_index(store: LinkStore, query: Query, today: date) -> Result:
    """A page in `created` or `clicks` order, from that index."""
    ranked = await indexes.page(
        store.redis,
        INDEXED[query.sort],
        _counted_cursor(query),
        query.limit + 1,
        desc=query.order == "desc",
    )
    page = ranked[: query.limit]
    links = await store.get_many([code for code, _ in page])
    kept = [(link, score) for link, (_, score) in zip(links, page, strict=True) if link]
    numbers = await counts(store.redis, [link.code for link, _ in kept], today)
    items = [Listed(link, n) for (link, _), n in zip(kept, numbers, strict=True)]
    after = encode_cursor(page[-1][1], page[-1][0]) if len(ranked) > query.limit else None
    return Result(items, after)


async def _unclicked(
    store: LinkStore, after: str | None, desc: bool, skip: set[str], need: int
) -> list[str]:
    """Up to `need` listed codes after `after` in code order (or reverse), less `skip`."""
    out: list[str] = []
    size = need + len(skip)
    while len(out) < need:
        edge = f"({after}" if after else ("+" if desc else "-")
        chunk = cast(
            list[str],  # the decoding client: str replies
            await store.redis.zrange(
                keys.CODES, edge, "-" if desc else "+", desc=desc, bylex=True, offset=0, num=size
            ),
        )
        out += [code for code in chunk if code not in skip]
        if len(chunk) < size:
            break
        after = chunk[-1]
    return out[:need]


async def _recent(store: LinkStore, query: Query, today: date) -> Result:
    """A page in clicks_24h order (see the module docstring): clicked links, then the
    rest at 0 by code; descending, the clicked come first."""
    start = _counted_cursor(query)
    desc, want = query.order == "desc", query.limit + 1
    midnight = datetime.combine(today - timedelta(days=1), time(), store.zone)
    first = int(midnight.timestamp()) // 3600
    hours = [hour_key(n * 3600) for n in range(first, first + 50)]  # to tomorrow's midnight
    links = [
        link
        for link in await store.get_many(await boards.clicked(store.redis, hours))
        if link is not None and link.deleted_at is None
    ]
    numbers = await counts(store.redis, [link.code for link in links], today)
    hot = [Listed(link, n) for link, n in zip(links, numbers, strict=True) if n.clicks_24h]
    hot.sort(key=lambda item: _key(item, "clicks_24h"), reverse=desc)
    skip = {item.link.code for item in hot}
    if start is not None:
        hot = [item for item in hot if _after(_key(item, "clicks_24h"), start, desc)]
    in_zero = start is not None and start[0] == 0
    cold_after = start[1] if in_zero and start is not None else None
    page = hot[:want] if desc else []  # a cursor in the zero tier left no clicked after it
    if desc or in_zero or start is None:
        codes = await _unclicked(store, cold_after, desc, skip, want - len(page))
        cold_links = [link for link in await store.get_many(codes) if link is not None]
        cold = await counts(store.redis, [link.code for link in cold_links], today)
        page += [Listed(*pair) for pair in zip(cold_links, cold, strict=True)]
    if not desc:
        page += hot[: want - len(page)]
    last = page[query.limit - 1] if len(page) > query.limit else None
    after = encode_cursor(_value(last, "clicks_24h"), last.link.code) if last else None
    return Result(page[: query.limit], after)


async def _codes(store: LinkStore, scan_max: int, needle: str) -> tuple[list[str], bool]:
    """Up to scan_max candidate codes in code order: the search's matches, or with no
    search every listed code; and whether there were more."""
    if needle:
        found = await indexes.search(store.redis, needle)
        return found[:scan_max], len(found) > scan_max
    found = cast(
        list[str],  # the decoding client: str replies
        await store.redis.zrange(keys.CODES, "-", "+", bylex=True, offset=0, num=scan_max + 1),
    )
    return found[:scan_max], len(found) > scan_max


async def _read(
    store: LinkStore, scan_max: int, today: date, needle: str
) -> tuple[list[Listed], bool]:
    """The candidates' links that match the search (and are listed), with counts."""
    found, truncated = await _codes(store, scan_max, needle)
    listed: list[Listed] = []
    for start in range(0, len(found), CHUNK):
        links = [
            link
            for link in await store.get_many(found[start : start + CHUNK])
            if link is not None and link.deleted_at is None and _matches(link, needle)
        ]
        numbers = await counts(store.redis, [link.code for link in links], today)
        listed += [Listed(*pair) for pair in zip(links, numbers, strict=True)]
    return listed, truncated


async def listing(store: LinkStore, query: Query, *, scan_max: int, today: date) -> Result:
    """One page of links with counts. Raises BadCursor."""
    if not query.q and query.sort == "code":
        return await _by_code(store, query, today)
    if not query.q and query.sort in INDEXED:
        return await _by_index(store, query, today)
    if not query.q and query.sort == "clicks_24h":
        return await _recent(store, query, today)
    start = decode_cursor(query.cursor) if query.cursor else None
    found, truncated = await _read(store, scan_max, today, query.q.casefold())
    desc = query.order == "desc"
    found.sort(key=lambda item: _key(item, query.sort), reverse=desc)
    if start is not None:
        if not isinstance(start[0], str if query.sort == "code" else int):
            raise BadCursor(query.cursor or "")
        found = [item for item in found if _after(_key(item, query.sort), start, desc)]
    page = found[: query.limit]
    last = page[-1] if len(found) > query.limit else None
    after = encode_cursor(_value(last, query.sort), last.link.code) if last else None
    return Result(page, after, truncated)
