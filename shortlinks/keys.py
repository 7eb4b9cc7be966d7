"""The Redis data model of share links: every key name is built here.

All keys of one link carry the code as hash tag (`{NW2022...}`), so on Redis Cluster a
link's record, counters and visitor sketches live in one slot: the visit writer's
multi-key PFCOUNT and DEL stay legal, and links spread evenly over the slots.

| key | type | holds |
| --- | --- | --- |
| `sl:link:{CODE}` | string | the link as compact JSON: url, created_at, title, disabled, expires_at, origin |
| `sl:url:{H}` | string | the code issued for a canonical URL (`H` = first 32 hex of its SHA-256): idempotency |
| `sl:index` | sorted set | every code, score 0, read in code order (`ZRANGE BYLEX`) for cursor paging and export |
| `sl:stats:{CODE}` | hash | counters: `h` people's clicks, `u` unique clicks, `b` bot hits; per day `YYYYMMDD:h`, `:u`, `:b`, `:src:NAME`, `:bot:NAME` |
| `sl:uv:{CODE}:YYYYMMDD` | HyperLogLog | distinct visitors that day (salted daily hashes, never addresses) |
| `sl:seen:{CODE}:V` | string, TTL | visitor V clicked within the repeat window: a repeat is no new unique click |
| `sl:done:{CODE}:W` | string, TTL 1 day | the last visit batch of writer W applied to this link: a replay at or below it applies nothing |
| `sl:srcn:{CODE}:YYYYMMDD` | string, TTL 2 days | how many referrer-named sources that day has its own field (at most `shortlinks.sources_max`) |
| `sl:salt:YYYYMMDD` | string, TTL 2 days | that day's random salt; once it expires a day's hashes cannot be linked to anyone |
| `sl:rl:SCOPE:ID:WINDOW` | string, TTL | rate-limit counter of one client (hashed address or hashed key) in one window |

A new code is first claimed with `SET sl:link:{CODE} ... NX PX 30000` (so a crashed
claimer leaves nothing behind), then bound to its URL with `SET sl:url:{H} CODE NX GET`;
the winner makes its claim permanent, a loser deletes its claim and returns the winner's.

Memory per link, measured on the embedded Valkey 8 (100,000 links, 51-byte URLs, a
20-character Chinese title): about 510 bytes in all (`INFO memory` delta / links): the
record about 300 (`MEMORY USAGE`), the URL binding about 100, the index entry about 100.
Counters add about 130 bytes per day with visits (six fields: 30 days = 3.8 KB); a day's
visitor sketch is about 200 bytes for 20 visitors (sparse) and at most 12 KB (dense). The
visit writer's batch record is about 90 bytes per link and finews process that counted a
visit to it in the last day.
"""

from __future__ import annotations

import hashlib

INDEX = "sl:index"


def link(code: str) -> str:
    return f"sl:link:{{{code}}}"


def stats(code: str) -> str:
    return f"sl:stats:{{{code}}}"


def visitors(code: str, day: str) -> str:
    return f"sl:uv:{{{code}}}:{day}"


def seen(code: str, visitor: str) -> str:
    return f"sl:seen:{{{code}}}:{visitor}"


def done(code: str, writer: str) -> str:
    return f"sl:done:{{{code}}}:{writer}"


def source_count(code: str, day: str) -> str:
    return f"sl:srcn:{{{code}}}:{day}"


def url(target: str) -> str:
    return f"sl:url:{{{hashlib.sha256(target.encode('utf-8')).hexdigest()[:32]}}}"


def salt(day: str) -> str:
    return f"sl:salt:{day}"


def rate(scope: str, ident: str, window: int) -> str:
    return f"sl:rl:{scope}:{ident}:{window}"
