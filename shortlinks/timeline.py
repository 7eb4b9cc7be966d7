"""A link's clicks as a time series: hourly (the last `shortlinks.hourly_days` days) or daily.

Hourly buckets are UTC hours (`finews:shortlinks:{CODE}:hour:YYYYMMDDHH` and its visitor
sketch), shown with the site's offset; daily ones are the site's days. `visitors` of a
bucket is its sketch's count; over the whole range it is the count of the union of the
range's sketches (PFCOUNT of several keys): one reader on three days is one visitor, not
three.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shortlinks import keys
from shortlinks.counting import COUNT_VISITORS, hour_key


def _fields(counts: dict[str, str], prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: int(v) for k, v in counts.items() if k.startswith(prefix)}


async def count_visitors(redis: Any, sketches: list[str]) -> list[int]:
    """Each sketch's count, then the union's (0 for no sketches)."""
    return await redis.eval(COUNT_VISITORS, len(sketches), *sketches) if sketches else [0]


async def hourly(redis: Any, code: str, zone: ZoneInfo, first: int, last: int) -> dict[str, Any]:
    """The hours numbered `first` to `last` (epoch seconds // 3600) of one link."""
    hours = [hour_key(n * 3600) for n in range(first, last + 1)]
    pipe = redis.pipeline(transaction=False)
    for hour in hours:
        pipe.hgetall(keys.hour(code, hour))
    counts = await pipe.execute()
    active = [h for h, c in zip(hours, counts, strict=True) if c.get("h")]
    counted = await count_visitors(redis, [keys.hour_visitors(code, h) for h in active])
    visitors = dict(zip(active, counted, strict=False))
    series: list[dict[str, Any]] = [
        {
            "t": datetime.fromtimestamp(n * 3600, UTC).astimezone(zone).isoformat(),
            "clicks": int(c.get("h", 0)),
            "visitors": visitors.get(hour, 0),
            "bots": int(c.get("b", 0)),
            "sources": _fields(c, "src:"),
        }
        for n, hour, c in zip(range(first, last + 1), hours, counts, strict=True)
    ]
    sources: dict[str, int] = {}
    for row in series:
        for name, n in row["sources"].items():
            sources[name] = sources.get(name, 0) + n
    return {
        "code": code,
        "granularity": "hour",
        "from": series[0]["t"],
        "to": series[-1]["t"],
        "totals": {
            "clicks": sum(r["clicks"] for r in series),
            "visitors": counted[-1],
            "bots": sum(r["bots"] for r in series),
            "sources": sources,
        },
        "series": series,
    }


async def daily(redis: Any, body: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """`read_stats`'s answer with the `series` of its days and each day's device, browser
    and OS counts added."""
    code = body["code"]
    pipe = redis.pipeline(transaction=False)
    for row in body["days"]:
        pipe.hgetall(keys.agents(code, row["date"].replace("-", "")))
    agents = await pipe.execute()
    totals: dict[str, dict[str, int]] = {"devices": {}, "browsers": {}, "os": {}}
    series = []
    for row, counts in zip(body["days"], agents, strict=True):
        for name, prefix in (("devices", "dev:"), ("browsers", "br:"), ("os", "os:")):
            row[name] = _fields(counts, prefix)
            for value, n in row[name].items():
                totals[name][value] = totals[name].get(value, 0) + n
        midnight = datetime.fromisoformat(row["date"]).replace(tzinfo=zone)
        series.append(
            {
                "t": midnight.isoformat(),
                "clicks": row["clicks"],
                "visitors": row["visitors"],
                "bots": row["bots"],
                "sources": row["sources"],
            }
        )
    body["totals"].update(totals)
    return {**body, "granularity": "day", "series": series}


def hour_range(now: float, first: datetime | None, last: datetime | None) -> tuple[int, int]:
    """Hour numbers of a range given by times (default: the last 24 hours)."""
    end = int((last.timestamp() if last else now) // 3600)
    start = int(first.timestamp() // 3600) if first else end - 23
    return start, end
