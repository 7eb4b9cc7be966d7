"""Moving links with their statistics as JSON Lines: one link per line, in code order.

A line holds the link record, whether it is its URL's primary link (the one issuance
returns), every counter, and each day's visitor sketch as base64 (the HyperLogLog's own
bytes, so unique-visitor counts survive exactly). Export then import gives back the same
lines; importing twice changes nothing; a bad line is reported by number and skipped
(lines are parsed by finews.core.strict_json: no line can stop the import half-way).
Both functions take a Redis client with decode_responses=False (sketches are bytes).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from finews.core import strict_json
from shortlinks import codes, keys, targets
from shortlinks.store import Link

PAGE = 500
FIELD_RE = re.compile(r"[hub]|[0-9]{8}:(?:[hub]|src:[a-z0-9.-]{1,40}|bot:[a-z0-9.-]{1,40})")
HLL_MAGIC = b"HYLL"
# A link's sketches as bytes. PFCOUNT first settles each sketch's cached count, so the
# same sketch always exports the same bytes. One hash tag: legal on Cluster.
READ_SKETCHES = """
local out = {}
for i, key in ipairs(KEYS) do redis.call('PFCOUNT', key); out[i] = redis.call('GET', key) end
return out
"""


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0


def _days(stats: dict[str, int]) -> list[str]:
    return sorted({field[:8] for field in stats if field.endswith(":h")})


async def export_links(redis: Any, out: IO[str], progress: Callable[[int], None]) -> int:
    """Write every link as one JSON line; returns the number written."""
    written, after = 0, None
    while found := [
        c.decode()
        for c in await redis.zrange(
            keys.CODES, f"({after}" if after else "-", "+", bylex=True, offset=0, num=PAGE
        )
    ]:
        pipe = redis.pipeline(transaction=False)
        for code in found:
            pipe.get(keys.link(code))
            pipe.hgetall(keys.stats(code))
        replies = await pipe.execute()
        rows = []
        for n, code in enumerate(found):
            if replies[2 * n] is None:  # deleted while we read
                continue
            stats = {k.decode(): int(v) for k, v in replies[2 * n + 1].items()}
            rows.append((Link.loads(code, replies[2 * n].decode()), stats))
        pipe = redis.pipeline(transaction=False)
        for link, stats in rows:
            pipe.get(keys.url(link.url))
            sketch_keys = [keys.visitors(link.code, day) for day in _days(stats)]
            pipe.eval(READ_SKETCHES, len(sketch_keys), *sketch_keys)
        replies = iter(await pipe.execute())
        for link, stats in rows:
            primary = next(replies) == link.code.encode()
            sketches = {
                day: base64.b64encode(raw).decode()
                for day, raw in zip(_days(stats), next(replies), strict=False)
                if raw is not None
            }
            line = {
                "code": link.code,
                "url": link.url,
                "title": link.title,
                "created_at": link.created_at.isoformat(),
                "disabled": link.disabled,
                "expires_at": link.expires_at.isoformat() if link.expires_at else None,
                "origin": link.origin,
                "primary": primary,
                "stats": stats,
                "visitors": sketches,
            }
            out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        written += len(rows)
        progress(len(found))
        after = found[-1]
    return written


def _time(value: str, name: str) -> datetime:
    """An ISO 8601 time that also exists in UTC (years 1 and 9999 can leave the calendar)."""
    try:
        when = datetime.fromisoformat(value)
        when.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{name}: {value!r} is out of range") from None
    return when


def _parse_line(
    text: str, hosts: frozenset[str], limits: dict[str, int]
) -> tuple[Link, bool, dict[str, int], dict[str, bytes]]:
    """A line's link, primary flag, counters and sketches, or ValueError saying why not."""
    data = strict_json.loads(text, **limits)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    code = str(codes.parse(str(data.get("code", ""))))
    try:
        url = targets.check(data.get("url"), hosts)
    except targets.TargetError as exc:
        raise ValueError(f"url: {exc} ({exc.rule})") from None
    created, expires = data.get("created_at"), data.get("expires_at")
    if not isinstance(created, str) or not isinstance(expires, (str, type(None))):
        raise ValueError("created_at and expires_at: expected ISO 8601 times")
    link = Link(
        code=code,
        url=url,
        created_at=_time(created, "created_at"),
        title=str(data.get("title", "")),
        disabled=bool(data.get("disabled", False)),
        expires_at=_time(expires, "expires_at") if expires else None,
        origin=str(data.get("origin", "import")),
    )
    stats = data.get("stats", {})
    if not isinstance(stats, dict) or not all(
        FIELD_RE.fullmatch(k) and type(v) is int and v >= 0 for k, v in stats.items()
    ):
        raise ValueError("stats: expected counter names mapped to whole numbers >= 0")
    sketches: dict[str, bytes] = {}
    visitors = data.get("visitors") or {}
    if not isinstance(visitors, dict):
        raise ValueError("visitors: expected an object of day: base64 HyperLogLog")
    for day, value in visitors.items():
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError):
            raw = b""
        if not re.fullmatch(r"[0-9]{8}", day) or not raw.startswith(HLL_MAGIC):
            raise ValueError(f"visitors[{day!r}]: expected a base64 HyperLogLog")
        sketches[day] = raw
    return link, bool(data.get("primary", True)), stats, sketches


async def import_links(
    redis: Any,
    lines: Iterable[str],
    hosts: frozenset[str],
    report: Callable[[str], None],
    progress: Callable[[int], None],
    *,
    max_depth: int = strict_json.MAX_DEPTH,
    max_number_length: int = strict_json.MAX_NUMBER_LENGTH,
) -> ImportResult:
    """Write each line's link and statistics, replacing what the same link had."""
    limits = {"max_depth": max_depth, "max_number_length": max_number_length}
    result = ImportResult()
    batch: list[tuple[int, Link, bool, dict[str, int], dict[str, bytes]]] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            batch.append((number, *_parse_line(text, hosts, limits)))
        except (ValueError, KeyError, TypeError) as exc:
            report(f"line {number}: skipped: {exc}")
            result.skipped += 1
        if len(batch) >= PAGE:
            await _write(redis, batch, report, result)
            progress(len(batch))
            batch = []
    if batch:
        await _write(redis, batch, report, result)
        progress(len(batch))
    return result


async def _write(
    redis: Any,
    batch: list[tuple[int, Link, bool, dict[str, int], dict[str, bytes]]],
    report: Callable[[str], None],
    result: ImportResult,
) -> None:
    pipe = redis.pipeline(transaction=False)
    for _, link, *_ in batch:
        pipe.get(keys.link(link.code))
    held = await pipe.execute()
    pipe = redis.pipeline(transaction=False)
    urls: dict[str, str] = {}  # what this batch already wrote
    for (number, link, primary, stats, sketches), text in zip(batch, held, strict=False):
        url = urls.get(link.code) or (Link.loads(link.code, text.decode()).url if text else None)
        if url not in (None, link.url):
            report(f"line {number}: skipped: {link.code} already links to another url")
            result.skipped += 1
            continue
        urls[link.code] = link.url
        pipe.set(keys.link(link.code), link.dumps())
        pipe.delete(keys.stats(link.code))
        if stats:
            pipe.hset(keys.stats(link.code), mapping=stats)
        for day, raw in sketches.items():
            pipe.set(keys.visitors(link.code, day), raw)
        pipe.set(keys.url(link.url), link.code, nx=not primary)
        pipe.zadd(keys.CODES, {link.code: 0})
        result.imported += 1
    await pipe.execute()
