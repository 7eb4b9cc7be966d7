"""The list indexes: which links are listed, in creation, click and search order.

`GET /api/links` used to read every record to search or sort (1.9 to 5.4 s at 20,000
links). These sorted sets are kept on every write instead, so a page costs the page:

- `codes` (score 0): code order, `ZRANGE BYLEX`;
- `created` (score: creation time) and `{site}:clicks` (score: all-time clicks, bumped by
  the visit writer's site script only for codes already in it): one script finds the
  cursor's place (ties in code order) and returns the page;
- `search` (score 0, member `CODE\\0code\\0url\\0title`, all but the first casefolded): a
  search is one `ZSCAN MATCH *needle*` over it, run inside Redis without reading records.

A link is in all four while it is listed: issuance adds it, a soft delete and a purge take
it out, a restore puts it back, a change of URL or title swaps its search entry. Every
write here is idempotent, so a repeated one changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from shortlinks import keys

SEP = "\0"
SCAN_COUNT = 5000
_GLOB = re.compile(r"([*?\[\]\\])")
# A page of a score-ordered index after the cursor (score ARGV[4], code ARGV[5]) when
# ARGV[3] is 1. KEYS[1]: the index; ARGV[1]: 1 for descending, ARGV[2]: page size.
# Members of one score sort by bytes (descending when the order is); a binary search
# over that tier finds the first member past the cursor's code, whether or not that
# code is still there with the same score. Bytes are compared by hand: Lua's `<` follows
# the server's locale.
PAGE = """
local key, desc, limit = KEYS[1], ARGV[1] == '1', tonumber(ARGV[2])
local function range(first, last)
  if desc then return redis.call('ZREVRANGE', key, first, last, 'WITHSCORES') end
  return redis.call('ZRANGE', key, first, last, 'WITHSCORES')
end
local function less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local start = 0
if ARGV[3] == '1' then
  local score, code = ARGV[4], ARGV[5]
  local lo
  if desc then lo = redis.call('ZCOUNT', key, '(' .. score, '+inf')
  else lo = redis.call('ZCOUNT', key, '-inf', '(' .. score) end
  local hi = lo + redis.call('ZCOUNT', key, score, score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local member = range(mid, mid)[1]
    local past
    if desc then past = less(member, code) else past = less(code, member) end
    if past then hi = mid else lo = mid + 1 end
  end
  start = lo
end
return range(start, start + limit - 1)
"""


class Link(Protocol):
    """What the indexes need of a link (shortlinks.store.Link, which imports this)."""

    @property
    def code(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


def search_entry(link: Link) -> str:
    """The link's member of the search index."""
    texts = (link.code, link.url, link.title)
    return SEP.join((link.code, *(text.casefold() for text in texts)))


def add(pipe: Any, link: Link, clicks: int | None = None) -> None:
    """List `link` (its all-time clicks are kept as they are in the index unless given)."""
    pipe.zadd(keys.CODES, {link.code: 0})
    pipe.zadd(keys.CREATED, {link.code: int(link.created_at.timestamp())})
    pipe.zadd(keys.SEARCH, {search_entry(link): 0})
    if clicks is None:
        pipe.zadd(keys.CLICKS, {link.code: 0}, nx=True)
    else:
        pipe.zadd(keys.CLICKS, {link.code: clicks})


def _forget_entries(pipe: Any, code: str) -> None:
    """Remove every search entry of `code`: all scores are 0, so its entries are the range
    of members starting `CODE\\0`, including any left by edits that raced (see changed)."""
    pipe.zremrangebylex(keys.SEARCH, f"[{code}{SEP}", f"({code}\x01")


def remove(pipe: Any, link: Link) -> None:
    """Take `link` off the list (its statistics stay where they are)."""
    pipe.zrem(keys.CODES, link.code)
    pipe.zrem(keys.CREATED, link.code)
    _forget_entries(pipe, link.code)
    pipe.zrem(keys.CLICKS, link.code)


def changed(pipe: Any, old: Link, new: Link) -> None:
    """Swap the search entry of a link whose URL or title changed. Two edits racing can
    leave the older one's entry beside the newer (never the newer missing): a search
    checks each match against its record, and a delete or purge removes them all."""
    if search_entry(old) != search_entry(new):
        pipe.zrem(keys.SEARCH, search_entry(old))
        pipe.zadd(keys.SEARCH, {search_entry(new): 0})


async def search(redis: Any, needle: str) -> list[str]:
    """Codes whose entry contains `needle` (casefolded), in code order. A candidate list:
    the caller checks each record (an entry's fields joined can match across a
    separator)."""
    pattern = "*" + _GLOB.sub(r"\\\1", needle.casefold()) + "*"
    found = {
        (member.decode() if isinstance(member, bytes) else member).split(SEP, 1)[0]
        async for member, _ in redis.zscan_iter(keys.SEARCH, match=pattern, count=SCAN_COUNT)
    }
    return sorted(found)


async def page(
    redis: Any, index: str, start: tuple[int, str] | None, limit: int, *, desc: bool
) -> list[tuple[str, int]]:
    """Up to `limit` (code, score) of a score-ordered index after the cursor `start`."""
    cursor = [1, start[0], start[1]] if start else [0, 0, ""]
    reply = await redis.eval(PAGE, 1, index, int(desc), limit, *cursor)
    return [(str(reply[i]), int(float(reply[i + 1]))) for i in range(0, len(reply), 2)]
