"""Moving links with all their statistics as JSON Lines: one link per line, in code order.

A line holds the link record, whether it is its URL's primary link (the one issuance
returns), the all-time totals (`stats`), and every day and hour bucket still kept: per day
its counts, device/browser/OS counts and visitor sketch, per hour its counts and visitor
sketch (sketches as base64 of the HyperLogLog's own bytes, so unique-visitor counts
survive exactly). `expire_at` gives each bucket key's expiry (epoch seconds; a key's
remaining TTL as a time, so exporting twice writes the same bytes), and import sets it
again, and puts each hour's clicks back in the site's hourly leaderboards. Export then
import gives back the same lines; importing twice changes nothing; a
bad line is reported by number and skipped (lines are parsed by finews.core.strict_json:
no line can stop the import half-way). Lines of the release before (per-day fields in
`stats`, `visitors` per day) are read too: their days expire `retention_days` after the
day ends. Visit events are not lines of links: `finews visits export` writes them.
Both functions take a Redis client with decode_responses=False (sketches are bytes).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from finews.core import strict_json
from finews.core.clock import SYSTEM
from shortlinks import codes, indexes, keys, targets
from shortlinks.counting import BOARD_TTL, Keep
from shortlinks.store import Link

PAGE = 500
NAME = r"[a-z0-9.-]{1,40}"
TOTAL_RE = re.compile(r"[hub]")
LEGACY_RE = re.compile(rf"([0-9]{{8}}):((?:[hub]|src:{NAME}|bot:{NAME}))")
DAY_FIELD_RE = re.compile(rf"[hub]|src:{NAME}|bot:{NAME}")
AGENT_FIELD_RE = re.compile(rf"(?:dev|br|os):{NAME}")
HOUR_FIELD_RE = re.compile(rf"[hb]|src:{NAME}")
DAY_RE, HOUR_RE = re.compile(r"[0-9]{8}"), re.compile(r"[0-9]{10}")
EXPIRY_RE = re.compile(r"(?:day|agents|uv):[0-9]{8}|(?:hour|uvh):[0-9]{10}")
HLL_MAGIC = b"HYLL"
# A link's sketches as bytes. PFCOUNT first settles each sketch's cached count, so the
# same sketch always exports the same bytes. One hash tag: legal on Cluster.
READ_SKETCHES = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('PFCOUNT', key) end
  out[i] = redis.call('GET', key)
end
return out
"""


@dataclass
class ImportResult:
    imported: int = 0
    skipped: int = 0


@dataclass
class Buckets:
    """A link's statistics as a line carries them."""

    stats: dict[str, int] = field(default_factory=dict)
    days: dict[str, dict[str, Any]] = field(default_factory=dict)
    hours: dict[str, dict[str, Any]] = field(default_factory=dict)
    expire_at: dict[str, int] = field(default_factory=dict)


def _key(code: str, name: str) -> str:
    """The key of an `expire_at` name (`day:YYYYMMDD`, `uvh:YYYYMMDDHH`, ...)."""
    kind, _, when = name.partition(":")
    make = {
        "day": keys.day,
        "agents": keys.agents,
        "uv": keys.visitors,
        "hour": keys.hour,
        "uvh": keys.hour_visitors,
    }[kind]
    return make(code, when)


def _ints(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items()}


def _read_buckets(pipe: Any, code: str, members: list[bytes]) -> Callable[[Iterator[Any]], Buckets]:
    """Queue the reads of every bucket of one link the buckets index names, with expiry
    times, on `pipe`; returns what turns their replies (taken from the iterator) into
    Buckets."""
    days = sorted(m.decode()[2:] for m in members if m.startswith(b"d:"))
    hours = sorted(m.decode()[2:] for m in members if m.startswith(b"h:"))
    names = [f"{kind}:{d}" for d in days for kind in ("day", "agents", "uv")]
    names += [f"{kind}:{h}" for h in hours for kind in ("hour", "uvh")]
    for d in days:
        pipe.hgetall(keys.day(code, d))
        pipe.hgetall(keys.agents(code, d))
    for h in hours:
        pipe.hgetall(keys.hour(code, h))
    sketches = [keys.visitors(code, d) for d in days] + [keys.hour_visitors(code, h) for h in hours]
    pipe.eval(READ_SKETCHES, len(sketches), *sketches)
    for name in names:
        pipe.expiretime(_key(code, name))
    return functools.partial(_parse_buckets_read, days, hours, names)


def _parse_buckets_read(
    days: list[str], hours: list[str], names: list[str], stream: Iterator[Any]
) -> Buckets:
    replies = [next(stream) for _ in range(2 * len(days) + len(hours) + 1 + len(names))]
    found = Buckets()
    raw = iter(replies[len(days) * 2 + len(hours)])
    for n, d in enumerate(days):
        bucket: dict[str, Any] = {"counts": _ints(replies[2 * n])}
        bucket["agents"] = _ints(replies[2 * n + 1])
        if sketch := next(raw):
            bucket["visitors"] = base64.b64encode(sketch).decode()
        found.days[d] = bucket
    for n, h in enumerate(hours):
        bucket = {"counts": _ints(replies[2 * len(days) + n])}
        if sketch := next(raw):
            bucket["visitors"] = base64.b64encode(sketch).decode()
        found.hours[h] = bucket
    expiry = replies[len(days) * 2 + len(hours) + 1 :]
    found.expire_at = {name: when for name, when in zip(names, expiry, strict=True) if when > 0}
    return found


async def export_links(redis: Any, out: IO[str], progress: Callable[[int], None]) -> int:
    """Write every link as one JSON line; returns the number written."""
    written, after = 0, None
    while found := [
        c.decode()
        for c in await redis.zrange(
            keys.CODES, f"({after}" if after else "-", "+", bylex=True, offset=0, num=PAGE
        )
    ]:
        now = int(SYSTEM.time())
        pipe = redis.pipeline(transaction=False)
        for code in found:
            pipe.get(keys.link(code))
            pipe.hgetall(keys.stats(code))
            pipe.zrange(keys.buckets(code), now + 1, "+inf", byscore=True)
        replies = await pipe.execute()
        rows = []
        for n, code in enumerate(found):
            if replies[3 * n] is None:  # deleted while we read
                continue
            link = Link.loads(code, replies[3 * n].decode())
            rows.append((link, _ints(replies[3 * n + 1]), replies[3 * n + 2]))
        pipe = redis.pipeline(transaction=False)
        readers = []
        for link, _, members in rows:
            pipe.get(keys.url(link.url))
            readers.append(_read_buckets(pipe, link.code, members))
        replies = iter(await pipe.execute())
        for (link, stats, _), read in zip(rows, readers, strict=True):
            primary = next(replies)
            buckets = read(replies)
            line = {
                "code": link.code,
                "url": link.url,
                "title": link.title,
                "summary": link.summary,
                "created_at": link.created_at.isoformat(),
                "disabled": link.disabled,
                "expires_at": link.expires_at.isoformat() if link.expires_at else None,
                "forward_query": link.forward_query,
                "origin": link.origin,
                "primary": primary == link.code.encode(),
                "stats": stats,
                "days": buckets.days,
                "hours": buckets.hours,
                "expire_at": buckets.expire_at,
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


def _counts(value: Any, pattern: re.Pattern[str], where: str) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and pattern.fullmatch(k) and type(v) is int and v >= 0
        for k, v in value.items()
    ):
        raise ValueError(f"{where}: expected counter names mapped to whole numbers >= 0")
    return value


def _sketch(value: Any, where: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raw = b""
    if not raw.startswith(HLL_MAGIC):
        raise ValueError(f"{where}: expected a base64 HyperLogLog")
    return raw


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected an object")
    return value


def _parse_buckets(data: dict[str, Any], keep: Keep) -> Buckets:
    """A line's statistics; per-day fields in `stats` and `visitors` per day (lines of the
    release before) become day buckets that expire `retention_days` after their day."""
    found = Buckets()
    stats = data.get("stats", {})
    if not isinstance(stats, dict):
        raise ValueError("stats: expected an object")
    legacy: dict[str, dict[str, Any]] = {}
    for name, value in stats.items():
        if match := LEGACY_RE.fullmatch(name):
            old = legacy.setdefault(match.group(1), {"counts": {}, "agents": {}})
            old["counts"][match.group(2)] = value
        else:
            found.stats[name] = value
    _counts(found.stats, TOTAL_RE, "stats")
    for day, value in _object(data, "visitors").items():
        legacy.setdefault(day, {"counts": {}, "agents": {}})["visitors"] = value
    for day, bucket in {**legacy, **_object(data, "days")}.items():
        if not DAY_RE.fullmatch(day) or not isinstance(bucket, dict):
            raise ValueError(f"days[{day!r}]: expected YYYYMMDD: {{counts, agents, visitors}}")
        found.days[day] = {
            "counts": _counts(bucket.get("counts", {}), DAY_FIELD_RE, f"days[{day!r}].counts"),
            "agents": _counts(bucket.get("agents", {}), AGENT_FIELD_RE, f"days[{day!r}].agents"),
        }
        if "visitors" in bucket:
            found.days[day]["visitors"] = _sketch(bucket["visitors"], f"visitors[{day!r}]")
    for hour, bucket in _object(data, "hours").items():
        if not HOUR_RE.fullmatch(hour) or not isinstance(bucket, dict):
            raise ValueError(f"hours[{hour!r}]: expected YYYYMMDDHH: {{counts, visitors}}")
        found.hours[hour] = {
            "counts": _counts(bucket.get("counts", {}), HOUR_FIELD_RE, f"hours[{hour!r}]")
        }
        if "visitors" in bucket:
            found.hours[hour]["visitors"] = _sketch(bucket["visitors"], f"hours[{hour!r}]")
    expiry = _object(data, "expire_at")
    if not all(EXPIRY_RE.fullmatch(k) and type(v) is int and v > 0 for k, v in expiry.items()):
        raise ValueError("expire_at: expected bucket key names mapped to epoch seconds")
    found.expire_at = dict(expiry)
    for day in legacy:
        end = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=1)
        when = int(end.timestamp()) + keep.retention_days * 86400
        for kind in ("day", "agents", "uv"):
            found.expire_at.setdefault(f"{kind}:{day}", when)
    return found


def _parse_line(
    text: str, hosts: frozenset[str], limits: dict[str, int], keep: Keep
) -> tuple[Link, bool, Buckets]:
    """A line's link, primary flag and statistics, or ValueError saying why not."""
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
        summary=str(data.get("summary", "")),
        disabled=bool(data.get("disabled", False)),
        expires_at=_time(expires, "expires_at") if expires else None,
        forward_query=data.get("forward_query", True) is not False,
        origin=str(data.get("origin", "import")),
    )
    return link, bool(data.get("primary", True)), _parse_buckets(data, keep)


async def import_links(
    redis: Any,
    lines: Iterable[str],
    hosts: frozenset[str],
    report: Callable[[str], None],
    progress: Callable[[int], None],
    *,
    keep: Keep | None = None,
    max_depth: int = strict_json.MAX_DEPTH,
    max_number_length: int = strict_json.MAX_NUMBER_LENGTH,
) -> ImportResult:
    """Write each line's link and statistics, replacing what the same link had."""
    limits = {"max_depth": max_depth, "max_number_length": max_number_length}
    result = ImportResult()
    batch: list[tuple[int, Link, bool, Buckets]] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            batch.append((number, *_parse_line(text, hosts, limits, keep or Keep())))
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


def _write_buckets(pipe: Any, code: str, found: Buckets, now: int) -> None:
    """Set a link's bucket keys, each with its expiry (those already past are left out)."""
    values: dict[str, Any] = {}
    for day, bucket in found.days.items():
        values[f"day:{day}"] = bucket["counts"]
        values[f"agents:{day}"] = bucket["agents"]
        values[f"uv:{day}"] = bucket.get("visitors")
    for hour, bucket in found.hours.items():
        values[f"hour:{hour}"] = bucket["counts"]
        values[f"uvh:{hour}"] = bucket.get("visitors")
    index: dict[str, int] = {}
    for name, value in values.items():
        when = found.expire_at.get(name)
        if not value or (when is not None and when <= now):
            continue
        key = _key(code, name)
        if isinstance(value, bytes):
            pipe.set(key, value)
        else:
            pipe.hset(key, mapping=value)
        if when is not None:
            pipe.expireat(key, when)
        kind, _, bucket_id = name.partition(":")
        if kind in ("day", "hour"):
            member = f"{kind[0]}:{bucket_id}"
            index[member] = max(index.get(member, 0), when or 0)
    if index:
        pipe.zadd(keys.buckets(code), index)
    if any(index.values()):
        pipe.expireat(keys.buckets(code), max(index.values()))
    _write_boards(pipe, code, found, now)


def _write_boards(pipe: Any, code: str, found: Buckets, now: int) -> None:
    """Put the link's clicks of each hour bucket back in the site's hourly leaderboards
    (overall and per source) for the hours they still cover, as the visit writer would
    have: `GET /api/top` and `sort=clicks_24h` rank a moved link as before. Set, not
    added, so importing twice changes nothing; the per-source totals (`{site}:src:*`), a
    sum over links, are not rebuilt."""
    for hour, bucket in found.hours.items():
        start = datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=UTC).timestamp()
        until = int(start) + BOARD_TTL
        counts = bucket["counts"]
        if until <= now or not counts.get("h"):
            continue
        boards = {keys.top(hour): counts["h"]}
        boards |= {keys.top(hour, k[4:]): n for k, n in counts.items() if k.startswith("src:")}
        for board, n in boards.items():
            pipe.zadd(board, {code: n})
            pipe.expireat(board, until, nx=True)


async def _write(
    redis: Any,
    batch: list[tuple[int, Link, bool, Buckets]],
    report: Callable[[str], None],
    result: ImportResult,
) -> None:
    pipe = redis.pipeline(transaction=False)
    for _, link, *_ in batch:
        pipe.get(keys.link(link.code))
        pipe.zrange(keys.buckets(link.code), 0, -1)
    held = await pipe.execute()
    now = int(SYSTEM.time())
    pipe = redis.pipeline(transaction=False)
    urls: dict[str, str] = {}  # what this batch already wrote
    for n, (number, link, primary, found) in enumerate(batch):
        text, members = held[2 * n], held[2 * n + 1]
        url = urls.get(link.code) or (Link.loads(link.code, text.decode()).url if text else None)
        if url not in (None, link.url):
            report(f"line {number}: skipped: {link.code} already links to another url")
            result.skipped += 1
            continue
        if link.code not in urls:  # what the link had before goes first
            for member in members:
                kind, when = member.decode().split(":", 1)
                names = ("day", "agents", "uv") if kind == "d" else ("hour", "uvh")
                pipe.delete(*(_key(link.code, f"{name}:{when}") for name in names))
            pipe.delete(keys.buckets(link.code))
        urls[link.code] = link.url
        pipe.set(keys.link(link.code), link.dumps())
        pipe.delete(keys.stats(link.code))
        if found.stats:
            pipe.hset(keys.stats(link.code), mapping=found.stats)
        _write_buckets(pipe, link.code, found, now)
        pipe.set(keys.url(link.url), link.code, nx=not primary)
        indexes.add(pipe, link, found.stats.get("h", 0))
        result.imported += 1
    await pipe.execute()
