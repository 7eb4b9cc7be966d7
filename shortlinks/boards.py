"""Site-wide leaderboards: the most clicked links and the sources, over the last hour,
day or week.

The visit writer adds each batch's clicks to sorted sets per UTC hour (per code, per code
and source, per source; shortlinks.counting APPLY_SITE), so a question costs one union of
at most 169 small sets, not a scan of every link. A window covers the hourly buckets that
overlap it: `1h` is the current clock hour and the one before, `24h` the current and the
24 before, `7d` the current and the 168 before. All these keys share the `{site}` hash
tag: on a cluster they live in one slot, and the union is one script.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from shortlinks import keys
from shortlinks.counting import hour_key
from shortlinks.timeline import count_visitors

WINDOWS = {"1h": 1, "24h": 24, "7d": 168}
# The union of KEYS[2..] into KEYS[1], its first ARGV[1] members by score (all when 0),
# and KEYS[1] deleted again.
UNION = """
redis.call('ZUNIONSTORE', KEYS[1], #KEYS - 1, unpack(KEYS, 2))
local out = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
redis.call('DEL', KEYS[1])
return out
"""


def window_hours(now: float, window: str) -> list[str]:
    """The hour keys of a window (one of WINDOWS), newest last."""
    last = int(now // 3600)
    return [hour_key(n * 3600) for n in range(last - WINDOWS[window], last + 1)]


async def _union(redis: Any, names: list[str], limit: int) -> list[tuple[str, int]]:
    reply = await redis.eval(
        UNION, len(names) + 1, keys.scratch(secrets.token_hex(8)), *names, limit
    )
    return [(reply[i], int(float(reply[i + 1]))) for i in range(0, len(reply), 2)]


async def top(
    redis: Any, store: Any, hours: list[str], source: str | None, limit: int
) -> list[dict[str, Any]]:
    """The `limit` most clicked links of these hours (from `source` only, if given), with
    their distinct visitors over the same hours. Deleted links are left out."""
    ranked = await _union(redis, [keys.top(hour, source) for hour in hours], limit)
    links = await asyncio.gather(*(store.get(code) for code, _ in ranked))
    visitors = await asyncio.gather(
        *(
            count_visitors(redis, [keys.hour_visitors(code, hour) for hour in hours])
            for code, _ in ranked
        )
    )
    return [
        {
            "code": code,
            "title": link.title,
            "url": link.url,
            "clicks": clicks,
            "visitors": people[-1],
        }
        for (code, clicks), link, people in zip(ranked, links, visitors, strict=True)
        if link is not None
    ]


async def clicked(redis: Any, hours: list[str]) -> list[str]:
    """Every code with clicks in these hours."""
    return [code for code, _ in await _union(redis, [keys.top(hour) for hour in hours], 0)]


async def sources(redis: Any, hours: list[str]) -> dict[str, int]:
    """Site-wide clicks per source over these hours, most first."""
    return dict(await _union(redis, [keys.site_sources(hour) for hour in hours], 0))


async def forget(redis: Any, code: str) -> int:
    """Take a purged code out of every hourly leaderboard (the per-source totals hold no
    code and stay); returns how many boards held it."""
    boards = [name async for name in redis.scan_iter(match=keys.top("*"), count=1000)]
    pipe = redis.pipeline(transaction=False)
    for name in boards:
        pipe.zrem(name, code)
    return sum(await pipe.execute()) if boards else 0
