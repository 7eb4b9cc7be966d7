"""What a visit is: a person or a bot, where it came from, and who (hashed) made it.

Bots are told apart by user agent with crawlerdetect (the list Shlink uses), plus the
fetchers it misses that matter here: Tencent's link checker, WeChat/Weibo crawlers, mail
link scanners, and requests with no user agent at all. WeChat's in-app browser
(`MicroMessenger`) is how most people read a shared article: a person, never a bot.

Sources, first match wins (README, "Where a click came from", lists every pattern):
`utm_source` (with `utm_campaign` as the campaign), `qr` (the upper-case `/S/` path
printed in QR codes), WeChat's own `from=` values, the in-app browser by user agent
(IN_APP), an `android-app://PACKAGE/` referrer (APP_PACKAGES, else the package's name),
the referrer's site (REFERRERS: social sites and search engines), `direct`. The named
sources below are a fixed set; a referrer's host, an unknown package or a `utm_source` is
whatever a client sends, so the writer caps those per link and day
(`shortlinks.sources_max`).

Device class, browser and OS family come from ua-parser (through `user-agents`), cached
per distinct user agent: the same few thousand agents make nearly every click.

A browser's speculative fetch (prefetch, prerender, Safari's preview) is nobody's click:
it still gets the redirect, it is not counted.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

from crawlerdetect import CrawlerDetect
from multidict import istr

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
# WeChat's own `from=` values (any other `from=` is a site's own parameter, not WeChat).
WECHAT_FROM = {
    "singlemessage": "wechat-chat",
    "groupmessage": "wechat-group",
    "timeline": "wechat-moments",
}
# In-app browsers by user agent, first match wins (WeChat first: its Android agent also
# carries the MQQBrowser engine's token).
IN_APP = [
    ("wechat", re.compile(r"MicroMessenger/", re.I)),
    ("weibo", re.compile(r"__weibo__|\bWeibo \(", re.I)),
    ("qq", re.compile(r"(?<![A-Za-z])QQ/\d")),
    ("douyin", re.compile(r"\baweme(_|/)|AppName/aweme", re.I)),
    ("toutiao", re.compile(r"\bNewsArticle/|\bNewsLite/")),
    ("xiaohongshu", re.compile(r"xhsdiscover", re.I)),
    ("dingtalk", re.compile(r"DingTalk", re.I)),
    ("baidu", re.compile(r"baiduboxapp", re.I)),
]
# `Referer: android-app://PACKAGE/`: the Android app that opened the link.
APP_PACKAGES = {
    "com.tencent.mm": "wechat",
    "com.sina.weibo": "weibo",
    "com.tencent.mobileqq": "qq",
    "com.ss.android.ugc.aweme": "douyin",
    "com.ss.android.article.news": "toutiao",
    "com.xingin.xhs": "xiaohongshu",
    "com.alibaba.android.rimet": "dingtalk",
    "com.baidu.searchbox": "baidu",
    "com.google.android.googlequicksearchbox": "google",
}
# Referrer sites by registrable-domain suffix; others are recorded by their host.
REFERRERS = [
    (("weixin.qq.com", "wx.qq.com", "mp.weixin.qq.com"), "wechat"),
    (("weibo.com", "weibo.cn", "t.cn"), "weibo"),
    (("x.com", "twitter.com", "t.co"), "x"),
    (("facebook.com", "fb.com", "fb.me"), "facebook"),
    (("baidu.com",), "baidu"),
    (("sogou.com",), "sogou"),
    (("so.com", "360.cn"), "360"),
    (("bing.com",), "bing"),
    (("sm.cn",), "shenma"),
    (("qq.com",), "qq"),
    (("zhihu.com",), "zhihu"),
    (("douyin.com",), "douyin"),
    (("toutiao.com",), "toutiao"),
    (("xiaohongshu.com", "xhslink.com"), "xiaohongshu"),
    (("dingtalk.com",), "dingtalk"),
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
        *(name for name, _ in IN_APP),
        *APP_PACKAGES.values(),
        *(name for _, name in REFERRERS),
    }
)
# Headers by which browsers mark a speculative fetch, with the first token they then carry.
PREFETCH_HEADERS = (  # istr names: looked up on every redirect, a little faster
    (istr("Sec-Purpose"), "prefetch"),
    (istr("Purpose"), "prefetch"),
    (istr("X-Moz"), "prefetch"),
    (istr("X-Purpose"), "preview"),
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
    query: str  # the raw query string (utm_*, WeChat's from=)
    qr: bool


class Agent(NamedTuple):
    """What a user agent says about the device: never the agent itself."""

    device: str  # mobile, tablet, desktop, bot or other
    browser: str
    os: str


class Kind(NamedTuple):
    """A visit classified: the fields counted and sent to the event stream."""

    source: str
    campaign: str
    agent: Agent
    bot: str | None  # the bot's name, None for a person


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


@functools.lru_cache(maxsize=4096)
def agent(text: str) -> Agent:
    """Device class, browser and OS family of a user agent, by ua-parser."""
    # imported on first use: loading its regexes takes a quarter of a second, and every
    # `finews` command imports this module, most of them never classifying a visit
    import user_agents

    parsed = user_agents.parse(text)
    if bot_name(text) is not None or parsed.is_bot:
        device = "bot"
    elif parsed.is_tablet:
        device = "tablet"
    elif parsed.is_mobile:
        device = "mobile"
    elif parsed.is_pc:
        device = "desktop"
    else:
        device = "other"
    return Agent(device, _name(parsed.browser.family), _name(parsed.os.family))


def _referrer_source(referrer: str, site_host: str) -> str | None:
    try:
        parts = urlsplit(referrer)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() == "android-app":
        return APP_PACKAGES.get(host) or (_name(host) if host else None)
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


@functools.lru_cache(maxsize=4096)
def in_app(text: str) -> str | None:
    """The Chinese app whose in-app browser sent this user agent, if any."""
    for name, pattern in IN_APP:
        if pattern.search(text):
            return name
    return None


def source(visit: Visit, site_host: str) -> tuple[str, str]:
    """Where a click came from, and its campaign ("" when none); see the module
    docstring for the order."""
    query = dict(parse_qsl(visit.query, keep_blank_values=True)) if visit.query else {}
    campaign = _name(query["utm_campaign"]) if query.get("utm_campaign") else ""
    if query.get("utm_source"):
        return _name(query["utm_source"]), campaign
    if visit.qr:
        return "qr", campaign
    if query.get("from") in WECHAT_FROM:
        return WECHAT_FROM[query["from"]], campaign
    app = in_app(visit.agent)
    return app or _referrer_source(visit.referrer, site_host) or "direct", campaign


def classify(visit: Visit, site_host: str) -> Kind:
    """Everything counted about one visit."""
    return _classify(visit.query, visit.qr, visit.agent, visit.referrer, site_host)


@functools.lru_cache(maxsize=4096)  # most clicks repeat a few agents, referrers and queries
def _classify(query: str, qr: bool, agent_: str, referrer: str, site_host: str) -> Kind:
    name, campaign = source(Visit("", 0.0, "", agent_, referrer, query, qr), site_host)
    return Kind(name, campaign, agent(agent_), bot_name(agent_))


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
