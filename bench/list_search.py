"""`python -m bench.list_search [--links N]`: how long one page of `GET /api/links` takes
to search and sort at N links (default 20,000), through shortlinks.listing itself.

It starts a Valkey of its own in a temporary directory, issues N links with titles,
counts visits to a few thousand of them through the visit writer, then times each query
(the median of --runs). Only public calls are used, so the same file runs against an
older checkout (PYTHONPATH=that checkout) to measure before and after on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from finews.embedded_redis import EmbeddedRedis
from shortlinks import listing
from shortlinks.counting import Salts, VisitWriter
from shortlinks.store import LinkStore, Want
from shortlinks.visits import Visit

ZONE = ZoneInfo("Asia/Shanghai")
WORDS = ["厦门", "地铁", "图书馆", "港口", "天气", "经济", "教育", "体育", "文化", "科技"]
QUERIES = [
    ("q, 1 match", listing.Query(q="NEEDLE-1234")),
    ("q, 2% match", listing.Query(q="厦门地铁")),  # 453 of 20,000
    ("sort=clicks", listing.Query(sort="clicks", order="desc")),
    ("sort=created", listing.Query(sort="created", order="desc")),
    ("sort=clicks_24h", listing.Query(sort="clicks_24h", order="desc")),
    ("q + sort=clicks", listing.Query(q="厦门地铁", sort="clicks", order="desc")),
]


async def seed(redis: Redis, n: int) -> None:
    store = LinkStore(redis, ZONE)
    rng = random.Random(1)
    wants = []
    for i in range(n):
        title = "".join(rng.sample(WORDS, 3)) + (" NEEDLE-1234" if i == n // 2 else "")
        url = f"https://news.example.cn/{i // 1000}/{i}.html"
        wants.append(Want(url=url, day=date(2024, 5, 24), prefix="NW", title=title))
    await store.issue(wants)
    codes = [c async for c in redis.zscan_iter("finews:shortlinks:codes")]
    writer = VisitWriter(
        redis,
        Salts(redis),
        ZONE,
        "news.example.cn",
        window=60,
        batch=500,
        interval=1.0,
        max_pending=100_000,
        sources_max=50,
    )
    now = time.time()
    for n_visit in range(min(5 * n, 20_000)):
        code = rng.choice(codes[: max(1, n // 10)])[0]
        writer.record(Visit(code, now, f"10.0.{n_visit % 250}.1", "Mozilla/5.0", "", "", False))
    await writer.flush()


async def measure(url: str, n: int, runs: int) -> list[tuple[str, float, int]]:
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await seed(redis, n)
        store = LinkStore(redis, ZONE)
        out = []
        for name, query in QUERIES:
            times, found = [], 0
            for _ in range(runs):
                start = time.perf_counter()
                result = await listing.listing(
                    store, query, scan_max=max(n, 20_000), today=date.today()
                )
                times.append(time.perf_counter() - start)
                found = len(result.items)
            out.append((name, statistics.median(times), found))
        return out
    finally:
        await redis.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis(Path(data))
        server.start()
        try:
            rows = asyncio.run(measure(server.url, args.links, args.runs))
        finally:
            server.stop()
    print(f"GET /api/links, one page of 50, {args.links:,} links, median of {args.runs}:")
    for name, seconds, found in rows:
        print(f"  {name:<18} {seconds * 1000:9.1f} ms  ({found} on the page)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
