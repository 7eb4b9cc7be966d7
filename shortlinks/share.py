"""Share links for posts: the hooks the composition root passes to feeds.

shortlinks never imports feeds; a post is anything with the attributes of `SharedPost`.
Every post gets a code when posts are loaded: a post whose front matter carries an
`infoCode` keeps exactly that code; the others get the code already issued for their URL,
or a new one dated on the day they were published (in the site's timezone).
When two posts carry the same legacy code, the earlier published (then the first by file
name) keeps it; `code_conflicts` names both files for `finews check`.
A link deleted through the API stays deleted: its record and URL binding remain (a
tombstone), so the post's next load finds it, gives the post no share link and logs
`event=share_link_deleted`, until the link is restored.
A post dated outside the years 1000 to 9999 gets no new code (its date cannot be a code's
eight date digits); the line `event=share_link_skipped` names its file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from aiohttp import web

from finews.core.appkeys import CLOCK, REDIS, SETTINGS
from shortlinks import codes, targets
from shortlinks.service import SERVICE, Service
from shortlinks.store import NotIssued, Want

log = logging.getLogger("finews.shortlinks")

SUMMARY_MAX = 300  # characters of a post's summary kept with its link (a preview shows it)


class SharedPost(Protocol):
    @property
    def url(self) -> str: ...  # canonical absolute URL
    @property
    def published(self) -> datetime: ...  # timezone-aware
    @property
    def info_code(self) -> str | None: ...  # legacy code from front matter
    @property
    def key(self) -> str: ...  # source file, relative to posts.dir
    @property
    def title(self) -> str: ...

    # optional `summary` (plain text): shown on the link's preview page


def _claim_order(posts: Iterable[SharedPost]) -> list[SharedPost]:
    return sorted(posts, key=lambda p: (p.published, p.key))


def code_conflicts(posts: Iterable[SharedPost]) -> list[str]:
    """One line per legacy `infoCode` problem: malformed, or claimed by two posts (naming
    both files and which keeps it). Needs no Redis."""
    lines: list[str] = []
    holders: dict[str, SharedPost] = {}
    for post in _claim_order(posts):
        if not post.info_code:
            continue
        try:
            codes.parse(post.info_code)
        except codes.MalformedCode as exc:
            lines.append(f"{post.key}: infoCode is malformed: {exc}")
            continue
        first = holders.setdefault(post.info_code, post)
        if first is not post and first.url != post.url:
            lines.append(
                f"infoCode {post.info_code} is claimed by {first.key} and {post.key}; "
                f"{first.key} keeps it"
            )
    return lines


async def share_links(service: Service, posts: Sequence[SharedPost]) -> dict[str, str]:
    """post.url -> public share URL for every post that can have one; "" (no share link)
    for a post whose link is deleted."""
    asked: list[tuple[SharedPost, Want]] = []
    for post in _claim_order(posts):
        legacy = post.info_code
        if legacy:
            try:
                codes.parse(legacy)
            except codes.MalformedCode as exc:
                log.warning("event=legacy_code_skipped file=%s reason=%s", post.key, exc)
                legacy = None
        try:
            day = codes.check_day(post.published.astimezone(service.zone).date())
            asked.append(
                (
                    post,
                    service.want(
                        post.url,
                        day=day,
                        title=post.title,
                        summary=getattr(post, "summary", "")[:SUMMARY_MAX],
                        origin="post",
                        legacy=legacy,
                    ),
                )
            )
        except targets.TargetError as exc:
            log.warning(
                "event=share_link_skipped file=%s rule=%s reason=%s", post.key, exc.rule, exc
            )
        except (codes.DayOutOfRange, OverflowError) as exc:
            log.warning("event=share_link_skipped file=%s rule=date reason=%s", post.key, exc)
    out: dict[str, str] = {}
    issued = await service.store.issue([want for _, want in asked])
    for (post, _), result in zip(asked, issued, strict=False):
        if isinstance(result, NotIssued):
            log.error("event=share_link_failed file=%s reason=%s", post.key, result)
        elif result.link.deleted_at is not None:
            log.info("event=share_link_deleted file=%s code=%s", post.key, result.link.code)
            out[post.url] = ""  # no share link, replacing one an earlier build gave
        else:
            out[post.url] = service.share_url(result.link.code)
    log.info("event=share_links posts=%d linked=%d", len(posts), sum(map(bool, out.values())))
    return out


async def post_share_links(app: web.Application, posts: Sequence[SharedPost]) -> dict[str, str]:
    """The hook for feeds: usable from any startup step once Redis is connected."""
    service = app.get(SERVICE) or Service(app[REDIS], app[SETTINGS], app[CLOCK])
    return await share_links(service, posts)
