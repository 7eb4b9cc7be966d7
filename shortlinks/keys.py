"""The Redis data model of share links: every key name is built here.

Every key starts `finews:shortlinks:`. All keys of one link carry the code as hash tag
(`{NW2022...}`) right after that prefix, so on Redis Cluster a link's record, counters and
visitor sketches live in one slot: the visit writer's multi-key PFCOUNT and DEL stay
legal, and links spread evenly over the slots.

| key | type | holds |
| --- | --- | --- |
| `finews:shortlinks:{CODE}:link` | string | the link as compact JSON: url, created_at, title, disabled, expires_at, origin |
| `finews:shortlinks:{CODE}:stats` | hash | all-time counters: `h` people's clicks, `u` unique clicks, `b` bot hits |
| `finews:shortlinks:{CODE}:day:YYYYMMDD` | hash, TTL `retention_days` | one day (site's zone): `h`, `u`, `b`, `src:NAME`, `bot:NAME` |
| `finews:shortlinks:{CODE}:buckets` | sorted set, TTL `retention_days` | the link's expiring day and hour buckets (`d:YYYYMMDD`, `h:YYYYMMDDHH`), score: when they expire (epoch seconds); read by export |
| `finews:shortlinks:{CODE}:uv:YYYYMMDD` | HyperLogLog, TTL `retention_days` | distinct visitors that day (salted daily hashes, never addresses) |
| `finews:shortlinks:{CODE}:seen:V` | string, TTL | visitor V clicked within the repeat window: a repeat is no new unique click |
| `finews:shortlinks:{CODE}:done:W` | string, TTL 1 day | the last visit batch of writer W applied to this link: a replay at or below it applies nothing |
| `finews:shortlinks:{CODE}:srcn:YYYYMMDD` | string, TTL 2 days | how many referrer-named sources that day has its own field (at most `shortlinks.sources_max`) |
| `finews:shortlinks:{CODE}:agents:YYYYMMDD` | hash, TTL `retention_days` | that day's `dev:CLASS`, `br:BROWSER`, `os:OS` counts |
| `finews:shortlinks:{CODE}:hour:YYYYMMDDHH` | hash, TTL `hourly_days` | one UTC hour: `h` clicks, `b` bot hits, `src:NAME` |
| `finews:shortlinks:{CODE}:uvh:YYYYMMDDHH` | HyperLogLog, TTL `hourly_days` | distinct visitors in that UTC hour |
| `finews:shortlinks:{site}:top:YYYYMMDDHH` | sorted set, TTL 7 days | site-wide leaderboard of one UTC hour: code -> clicks |
| `finews:shortlinks:{site}:top:YYYYMMDDHH:src:NAME` | sorted set, TTL 7 days | the same, clicks from source NAME only |
| `finews:shortlinks:{site}:src:YYYYMMDDHH` | sorted set, TTL 7 days | site-wide clicks per source in one UTC hour |
| `finews:shortlinks:{site}:srcn:YYYYMMDDHH` | string, TTL 7 days | host-named sources that hour has its own member (at most `sources_max`) |
| `finews:shortlinks:{site}:done:W` | string, TTL 1 day | the last visit batch of writer W applied to the site-wide keys |
| `finews:shortlinks:{site}:clicks` | sorted set | every listed (not deleted) code -> its all-time clicks `h`: `GET /api/links?sort=clicks` pages it |
| `finews:shortlinks:{site}:visits` | stream | visit events (`events_max`, `events_days`): one entry per link per visit batch, `code`, `n` events and `v`, their JSON rows of time, source, campaign, device, browser, OS, bot flag |
| `finews:shortlinks:{site}:visits:n` | string | how many events the stream holds (what `events_max` trims by) |
| `finews:shortlinks:url:{H}` | string | the code issued for a canonical URL (`H` = first 32 hex of its SHA-256): idempotency |
| `finews:shortlinks:codes` | sorted set | every code, score 0, read in code order (`ZRANGE BYLEX`) for cursor paging and export |
| `finews:shortlinks:created` | sorted set | every listed code -> its creation time (epoch seconds): `sort=created` pages it |
| `finews:shortlinks:search` | sorted set | every listed code as `CODE\0code\0url\0title` (casefolded after the first field), score 0: `q` is a `ZSCAN MATCH` over it |
| `finews:shortlinks:salt:YYYYMMDD` | string, TTL 2 days | that day's random salt; once it expires a day's hashes cannot be linked to anyone |
| `finews:shortlinks:rl:SCOPE:ID:WINDOW` | string, TTL | rate-limit counter of one client (hashed address or hashed key) in one window |

A new code is first claimed with `SET finews:shortlinks:{CODE}:link ... NX PX 30000` (so a
crashed claimer leaves nothing behind), then bound to its URL with
`SET finews:shortlinks:url:{H} CODE NX GET`; the winner makes its claim permanent, a loser
deletes its claim and returns the winner's.

The release before wrote `sl:KIND:...` (`sl:link:{CODE}`, `sl:index` for the codes, ...):
`renamed` maps those names to these, and shortlinks/migrate.py moves them once.

Memory per link, measured on the embedded Valkey 8 (100,000 links, 51-byte URLs, a
20-character Chinese title): about 540 bytes in all (`INFO memory` delta / links; 510
with the release before's shorter `sl:` names: record, URL binding and code alone went
from 450 to 480): the record about 300 (`MEMORY USAGE`), the URL binding about 100, the
entry in the codes about 100. The list indexes add about 340 (`MEMORY USAGE` / links at
20,000 links, 45-byte URLs, 9-character Chinese titles: `created` and `clicks` 85 each,
`search` 167, its entry growing with URL and title; `codes` itself measured 85 there). Counters add about 130 bytes per day with visits (a day
hash of a few fields: 30 days = 3.8 KB, gone after `retention_days`); a day's visitor sketch is about 200 bytes for 20 visitors
(sparse) and at most 12 KB (dense). The visit writer's batch record is about 90 bytes per
link and finews process that counted a visit to it in the last day.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "finews:shortlinks"
CODES = f"{PREFIX}:codes"


def replicated(tag: str) -> str:
    """A counter bumped before WAIT on its master (shortlinks/replicas.py); `tag` picks the
    slot, so at most one per slot (16,384) exists."""
    return f"{PREFIX}:{{{tag}}}:replicated"


def link(code: str) -> str:
    return f"{PREFIX}:{{{code}}}:link"


def stats(code: str) -> str:
    return f"{PREFIX}:{{{code}}}:stats"


def visitors(code: str, day: str) -> str:
    return f"{PREFIX}:{{{code}}}:uv:{day}"


def seen(code: str, visitor: str) -> str:
    return f"{PREFIX}:{{{code}}}:seen:{visitor}"


def done(code: str, writer: str) -> str:
    return f"{PREFIX}:{{{code}}}:done:{writer}"


def source_count(code: str, day: str) -> str:
    return f"{PREFIX}:{{{code}}}:srcn:{day}"


def agents(code: str, day: str) -> str:
    return f"{PREFIX}:{{{code}}}:agents:{day}"


def hour(code: str, hour: str) -> str:
    return f"{PREFIX}:{{{code}}}:hour:{hour}"


def hour_visitors(code: str, hour: str) -> str:
    return f"{PREFIX}:{{{code}}}:uvh:{hour}"


def day(code: str, day: str) -> str:
    return f"{PREFIX}:{{{code}}}:day:{day}"


def buckets(code: str) -> str:
    return f"{PREFIX}:{{{code}}}:buckets"


def of_link(code: str) -> str:
    """SCAN pattern of every key of one link."""
    return f"{PREFIX}:{{{code}}}:*"


# Site-wide keys share one hash tag: on a cluster they live in one slot, so the scripts
# that update and union them stay legal.
SITE = f"{PREFIX}:{{site}}"
EVENTS = f"{SITE}:visits"
EVENTS_HELD = f"{EVENTS}:n"  # how many events (not entries) the stream holds
CLICKS = f"{SITE}:clicks"  # in the site's tag: the visit writer's APPLY_SITE bumps it
CREATED = f"{PREFIX}:created"
SEARCH = f"{PREFIX}:search"


def top(hour: str, source: str | None = None) -> str:
    return f"{SITE}:top:{hour}" + (f":src:{source}" if source else "")


def site_sources(hour: str) -> str:
    return f"{SITE}:src:{hour}"


def site_source_count(hour: str) -> str:
    return f"{SITE}:srcn:{hour}"


def site_done(writer: str) -> str:
    return f"{SITE}:done:{writer}"


def scratch(name: str) -> str:
    """A short-lived key of a script's own (deleted by the script that made it)."""
    return f"{SITE}:tmp:{name}"


def url(target: str) -> str:
    return f"{PREFIX}:url:{{{hashlib.sha256(target.encode('utf-8')).hexdigest()[:32]}}}"


def salt(day: str) -> str:
    return f"{PREFIX}:salt:{day}"


def rate(scope: str, ident: str, window: int) -> str:
    return f"{PREFIX}:rl:{scope}:{ident}:{window}"


# The names of the release before: `sl:index`, `sl:url:{H}`, `sl:salt:D`, `sl:rl:...`, and
# `sl:KIND:{CODE}[:REST]` for the keys of one link.
LEGACY = "sl:*"
_LEGACY_LINK = re.compile(r"sl:(link|stats|uv|seen|done|srcn):(\{[^}]*\})(.*)", re.DOTALL)
_LEGACY_PLAIN = {"sl:index": CODES}


def renamed(old: str) -> str:
    """The name today of a key written under `old` by the release before (`old` itself
    when it is no name of that release: left alone)."""
    if old in _LEGACY_PLAIN:
        return _LEGACY_PLAIN[old]
    if found := _LEGACY_LINK.fullmatch(old):
        kind, tag, rest = found.groups()
        return f"{PREFIX}:{tag}:{kind}{rest}"
    kind, _, rest = old.removeprefix("sl:").partition(":")
    return f"{PREFIX}:{kind}:{rest}" if kind in ("url", "salt", "rl") and rest else old
