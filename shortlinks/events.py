"""Reading the visit event stream (`finews:shortlinks:{site}:visits`) page by page.

The visit writer appends one entry per counted visit, in the same script and batch as the
counts (so a retried batch adds its events once): time, code, source, campaign, device
class, browser and OS family, bot flag; never an address or a user agent. The stream is
capped by `shortlinks.events_max` entries and `shortlinks.events_days` days. A cursor is
an entry id: reading from it returns the entries after it.
"""

from __future__ import annotations

import re
from typing import Any

from shortlinks import keys

CURSOR_RE = re.compile(r"\d{1,20}-\d{1,20}")
FORGET_PAGE = 1000


def cursor_problem(text: str) -> str | None:
    """Why `text` is no cursor, or None ("" or "0" start at the oldest event)."""
    if text in ("", "0") or CURSOR_RE.fullmatch(text):
        return None
    return "since must be a cursor from an earlier answer's next (e.g. 1716552000000-0), or 0"


async def read(redis: Any, since: str, limit: int) -> tuple[list[dict[str, Any]], str]:
    """Up to `limit` events after cursor `since`, and the cursor after the last one."""
    start = f"({since}" if since not in ("", "0") else "-"
    entries = await redis.xrange(keys.EVENTS, min=start, max="+", count=limit)
    visits = [{**fields, "id": ident, "bot": fields.get("bot") == "1"} for ident, fields in entries]
    return visits, (entries[-1][0] if entries else since or "0")


async def forget(redis: Any, code: str) -> int:
    """Delete every event naming `code` (a purge): one pass over the stream, which
    `events_max` bounds, a page at a time (a decoding client); returns how many."""
    deleted, start = 0, "-"
    while entries := await redis.xrange(keys.EVENTS, min=start, max="+", count=FORGET_PAGE):
        named = [ident for ident, fields in entries if fields.get("code") == code]
        if named:
            deleted += await redis.xdel(keys.EVENTS, *named)
        start = f"({entries[-1][0]}"
    return deleted
