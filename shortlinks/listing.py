"""Listing links with their counts: search (`q`), sort and order, paged by cursor.

Two paths. In code order without a search, one `ZRANGE BYLEX` page of the codes is read
(cost per page: the page). A search or any other sort reads the links themselves, up to
`shortlinks.list_scan_max` of them in code order (1,000 records and counters per pipelined
round), filters and sorts them in memory, and pages with a keyset cursor (the last item's
sort value and code), so a page never repeats or skips an item that did not change. Cost
per page: the whole scan, O(links); past the bound the answer says `truncated`.

`clicks_24h` comes from the daily counters: clicks today and yesterday in the site's
timezone, so it covers the last 24 to 48 hours.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from shortlinks import keys
from shortlinks.store import Link, LinkStore

SORTS = ("code", "created", "clicks", "clicks_24h")
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
    days = (f"{today:%Y%m%d}:h", f"{today - timedelta(days=1):%Y%m%d}:h")
    pipe = redis.pipeline(transaction=False)
    for code in found:
        pipe.hmget(keys.stats(code), ["h", "u", *days])
    out = []
    for values in await pipe.execute():
        h, u, d0, d1 = (int(v or 0) for v in values)
        out.append(Counts(h, u, d0 + d1))
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


async def _scan(
    store: LinkStore, scan_max: int, today: date, needle: str
) -> tuple[list[Listed], bool]:
    """Up to scan_max links in code order, those matching the search, with counts."""
    found: list[Listed] = []
    after, read = None, 0
    while read < scan_max:
        chunk = cast(
            list[str],  # the decoding client: str replies
            await store.redis.zrange(
                keys.CODES,
                f"({after}" if after else "-",
                "+",
                bylex=True,
                offset=0,
                num=min(CHUNK, scan_max - read),
            ),
        )
        if not chunk:
            return found, False
        read += len(chunk)
        after = chunk[-1]
        links = [
            link
            for link in await store.get_many(chunk)
            if link is not None and _matches(link, needle)
        ]
        numbers = await counts(store.redis, [link.code for link in links], today)
        found += [Listed(*pair) for pair in zip(links, numbers, strict=True)]
    more = await store.redis.zrange(keys.CODES, f"({after}", "+", bylex=True, offset=0, num=1)
    return found, bool(more)


async def listing(store: LinkStore, query: Query, *, scan_max: int, today: date) -> Result:
    """One page of links with counts. Raises BadCursor."""
    if not query.q and query.sort == "code":
        return await _by_code(store, query, today)
    start = decode_cursor(query.cursor) if query.cursor else None
    found, truncated = await _scan(store, scan_max, today, query.q.casefold())
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
