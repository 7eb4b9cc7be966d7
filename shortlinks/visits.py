"""What a visit is: a person or a bot, where it came from, and who (hashed) made it.

Bots are told apart by user agent with crawlerdetect (the list Shlink uses), plus the
fetchers it misses that matter here: Tencent's link checker, WeChat/Weibo crawlers, mail
link scanners, and requests with no user agent at all. WeChat's in-app browser
(`MicroMessenger`) is how most people read a shared article: a person, never a bot.

Sources, first match wins: `qr` (the upper-case `/S/` path printed in QR codes), WeChat's
own `from=` parameter, the in-app browser (WeChat, Weibo), the referrer's site, `direct`.
The named sources below are a fixed set; a referrer's host is whatever a client sends, so
the writer caps those per link and day (`shortlinks.sources_max`).

A browser's speculative fetch (prefetch, prerender, Safari's preview) is nobody's click:
it still gets the redirect, it is not counted.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from crawlerdetect import CrawlerDetect

# Fetchers crawlerdetect does not know, as (name, pattern) pairs.
EXTRA_BOTS = [
    ("wechat-crawler", re.compile(r"(wechat|weixin)[ _-]?(spider|bot|crawler)", re.I)),
    ("weibo-crawler", re.compile(r"weibo[ _-]?(spider|bot|crawler)", re.I)),
    ("qq-url-manager", re.compile(r"QQ-URL-Manager", re.I)),
    (
        "mail-scanner",
        re.compile(
            r"barracuda|mimecast|proofpoint|safelinks|trendmicro|"
            r"symantec|forcepoint|fireeye",
            re.I,
        ),
    ),
]
WECHAT_FROM = {
    "singlemessage": "wechat-chat",
    "groupmessage": "wechat-group",
    "timeline": "wechat-moments",
}
# Referrer sites by registrable-domain suffix; others are recorded by their host.
REFERRERS = [
    (("weixin.qq.com", "wx.qq.com", "mp.weixin.qq.com"), "wechat"),
    (("weibo.com", "weibo.cn", "t.cn"), "weibo"),
    (("x.com", "twitter.com", "t.co"), "x"),
    (("facebook.com", "fb.com", "fb.me"), "facebook"),
    (("baidu.com",), "baidu"),
    (("sogou.com",), "sogou"),
    (("so.com",), "360"),
    (("bing.com",), "bing"),
    (("qq.com",), "qq"),
    (("zhihu.com",), "zhihu"),
    (("douyin.com",), "douyin"),
    (("toutiao.com",), "toutiao"),
]
# Every source name that is not a referrer's host: never capped.
KNOWN_SOURCES = frozenset(
    {
        "qr",
        "wechat",
        "weibo",
        "site",
        "google",
        "direct",
        *WECHAT_FROM.values(),
        *(name for _, name in REFERRERS),
    }
)
# Headers by which browsers mark a speculative fetch, with the first token they then carry.
PREFETCH_HEADERS = (
    ("Sec-Purpose", "prefetch"),
    ("Purpose", "prefetch"),
    ("X-Moz", "prefetch"),
    ("X-Purpose", "preview"),
)
NAME_RE = re.compile(r"[^a-z0-9.-]+")
_detector = CrawlerDetect()


class Visit(NamedTuple):
    """One GET of a share link, as it arrived (kept in memory only until counted)."""

    code: str
    at: float  # epoch seconds
    address: str
    agent: str
    referrer: str
    wechat_from: str
    qr: bool


def _name(text: str) -> str:
    return NAME_RE.sub("-", text.lower()).strip("-")[:40] or "unknown"


@functools.lru_cache(maxsize=4096)
def bot_name(agent: str) -> str | None:
    """The bot's name, or None when the user agent belongs to a person's browser."""
    if not agent.strip():
        return "no-user-agent"
    for name, pattern in EXTRA_BOTS:
        if pattern.search(agent):
            return name
    if _detector.isCrawler(agent):
        return _name(_detector.getMatches() or "crawler")
    return None


def _referrer_source(referrer: str, site_host: str) -> str | None:
    try:
        host = (urlsplit(referrer).hostname or "").lower()
    except ValueError:
        return None
    if not host:
        return None
    if host == site_host:
        return "site"
    for suffixes, name in REFERRERS:
        if any(host == s or host.endswith("." + s) for s in suffixes):
            return name
    if host.startswith("www."):
        host = host[4:]
    return _name(host) if ".google." not in f".{host}" else "google"


def source(visit: Visit, site_host: str) -> str:
    """Where a person's click came from (see the module docstring for the order)."""
    if visit.qr:
        return "qr"
    if visit.wechat_from:
        return WECHAT_FROM.get(visit.wechat_from, "wechat")
    if "MicroMessenger" in visit.agent:
        return "wechat"
    if "__weibo__" in visit.agent or " Weibo " in visit.agent:
        return "weibo"
    return _referrer_source(visit.referrer, site_host) or "direct"


def prefetch(headers: Mapping[str, str]) -> bool:
    """True for a browser's prefetch or prerender (`Sec-Purpose: prefetch;prerender`,
    `Purpose: prefetch`, `X-Moz: prefetch`, `X-Purpose: preview`)."""
    for name, token in PREFETCH_HEADERS:
        value = headers.get(name)
        if value and value.split(";", 1)[0].strip().lower() == token:
            return True
    return False


def visitor(salt: str, address: str, agent: str) -> str:
    """A salted hash of address and user agent: the same person within one salt's day."""
    digest = hashlib.sha256(f"{salt}\0{address}\0{agent}".encode("utf-8", "replace"))
    return digest.hexdigest()[:20]
