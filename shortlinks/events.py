"""Reading the visit event stream (`finews:shortlinks:{site}:visits`) page by page.

The visit writer appends, in the same script and batch as the counts (so a retried batch
adds its events once), one entry per link per batch: `code`, `n` (how many events) and
`v`, the events as JSON rows of time, source, campaign, device class, browser and OS
family, bot flag ("1" or "0"); never an address or a user agent. One entry per visit cost
Redis most of a batch's time. Entries written by releases before that hold one event as
fields (`t`, `code`, `source`, ...). The stream is capped by `shortlinks.events_max`
events and `shortlinks.events_days` days.

An event's id is its entry's id and its place in the entry (`1716552000000-0-3`); an
event of an older entry has the entry's id alone. A cursor is an event id: reading from
it returns the events after it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shortlinks import keys

CURSOR_RE = re.compile(r"(\d{1,20}-\d{1,20})(?:-(\d{1,6}))?")
ROW = ("t", "source", "campaign", "device", "browser", "os", "bot")
FORGET_PAGE = 100
# Delete the entries named in ARGV and take their events off the stream's count, in one
# step, so that the writer's trim never sees a count that disagrees with the stream (an
# entry trimmed meanwhile is not counted twice).
FORGET = """
local gone = 0
for i = 1, #ARGV do
  local found = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #found == 1 then
    local fields = found[1][2]  -- code, n, v; an earlier release's entry: t, code, ...
    redis.call('XDEL', KEYS[1], ARGV[i])
    gone = gone + (fields[3] == 'n' and tonumber(fields[4]) or 1)
  end
end
if gone > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECRBY', KEYS[2], gone) end
return gone
"""


ID_MAX = 2**64 - 1  # each part of a stream id is an unsigned 64-bit number


def cursor_problem(text: str) -> str | None:
    """Why `text` is no cursor, or None ("" or "0" start at the oldest event)."""
    if text in ("", "0"):
        return None
    found = CURSOR_RE.fullmatch(text)
    if found and all(int(part) <= ID_MAX for part in found.group(1).split("-")):
        return None
    return "since must be a cursor from an earlier answer's next (e.g. 1716552000000-0-3), or 0"


def unpack(ident: str, fields: dict[str, str]) -> list[dict[str, Any]]:
    """The events of one stream entry, each with its id."""
    if "v" not in fields:  # an entry of an earlier release: one event
        return [{**fields, "id": ident, "bot": fields.get("bot") == "1"}]
    code = fields["code"]
    events = []
    for place, row in enumerate(json.loads(fields["v"])):
        event = dict(zip(ROW, row, strict=True))
        event.update(id=f"{ident}-{place}", code=code, bot=row[-1] == "1")
        events.append(event)
    return events


async def read(redis: Any, since: str, limit: int) -> tuple[list[dict[str, Any]], str]:
    """Up to `limit` events after cursor `since`, and the cursor after the last one.

    An entry holds one event or a whole batch, so the first XRANGE asks for one entry and
    each next one for as many as the events still wanted need at the sizes seen so far:
    a page of batches is a round trip or two, not tens of thousands of events decoded."""
    found = CURSOR_RE.fullmatch(since)
    entry, place = (found.group(1), found.group(2)) if found else (None, None)
    if entry is None:
        start = "-"
    elif place is None:
        if entry == f"{ID_MAX}-{ID_MAX}":  # the last id there can be: nothing comes after
            return [], since
        start = f"({entry}"
    else:
        start = entry  # that entry again, from the event after `place`
    events: list[dict[str, Any]] = []
    size, read_entries, read_events = 1, 0, 0
    while len(events) < limit:
        entries = await redis.xrange(keys.EVENTS, min=start, max="+", count=size)
        for ident, fields in entries:
            unpacked = unpack(ident, fields)
            read_entries, read_events = read_entries + 1, read_events + len(unpacked)
            if ident == entry and place is not None:
                unpacked = unpacked[int(place) + 1 :]
            events += unpacked[: limit - len(events)]
            if len(events) == limit:
                break
        if len(entries) < size:
            break
        start = f"({entries[-1][0]}"
        # as many entries as the events still wanted need, at the sizes seen so far
        size = min(limit, (limit - len(events)) * read_entries // max(read_events, 1) + 1)
    return events, (events[-1]["id"] if events else since or "0")


async def forget(redis: Any, code: str) -> int:
    """Delete every event naming `code` (a purge): one pass over the stream, which
    `events_max` bounds, a page at a time (a decoding client); returns how many."""
    deleted, start = 0, "-"
    while entries := await redis.xrange(keys.EVENTS, min=start, max="+", count=FORGET_PAGE):
        named = [ident for ident, fields in entries if fields.get("code") == code]
        if named:
            deleted += await redis.eval(FORGET, 2, keys.EVENTS, keys.EVENTS_HELD, *named)
        start = f"({entries[-1][0]}"
    return deleted
