"""Codes, target rules and visit classification: the pure parts of share links."""

from __future__ import annotations

from datetime import date

import pytest

from shortlinks import codes, keys, targets
from shortlinks.visits import Visit, bot_name, source, visitor

HOSTS = targets.allowed_hosts("https://news.example.cn", ["img.example.cn:8443"])


def test_code_has_prefix_date_and_ten_random_digits() -> None:
    made = {codes.make("NW", date(2022, 5, 24)) for _ in range(50)}
    assert len(made) == 50
    for code in made:
        assert code.startswith("NW20220524") and len(code) == 20 and code[2:].isdigit()
        assert codes.parse(code) == codes.Code("NW", date(2022, 5, 24), code[10:])


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("NW2022052423897054", "8 date digits and 10 digits"),  # too short
        ("NW202205242389705455X", "8 date digits and 10 digits"),  # trailing junk
        ("nw202205242389705455", "prefix"),  # lower-case prefix
        ("202205242389705455", "prefix"),  # no prefix
        ("NW202202302389705455", "not a real date"),  # 30 February
        ("NW202213012389705455", "not a real date"),  # month 13
        ("ABCDEFGHI202205242389705455", "prefix"),  # prefix of 9 letters
        ("NW20220524238970545５", "8 date digits"),  # full-width digit
    ],
)
def test_parse_rejects_each_bad_part(text: str, part: str) -> None:
    with pytest.raises(codes.MalformedCode, match=part):
        codes.parse(text)


def test_make_rejects_a_bad_prefix() -> None:
    with pytest.raises(codes.MalformedCode, match="uppercase"):
        codes.make("nw", date(2022, 5, 24))


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("javascript:alert(1)", "scheme"),
        ("data:text/html,<script>alert(1)</script>", "scheme"),
        ("//evil.example/x", "scheme"),
        ("https:evil.example/x", "absolute"),
        ("https://evil.example/x", "host"),
        ("https://news.example.cn.evil.example/x", "host"),
        ("https://news.example.cn@evil.example/x", "userinfo"),
        ("https://news.example.cn:443@evil.example/", "userinfo"),
        ("https://news.example.cn\\@evil.example/", "backslash"),
        ("https:/\\evil.example/", "backslash"),
        ("https://news.example.cn/a\nb", "control_characters"),
        ("https://news.example.cn/a\tb", "control_characters"),
        ("https://news.example.cn/a b", "control_characters"),
        ("https://news.example.cn/" + "a" * 2048, "length"),
        ("https://news.example.cn:99999/", "host"),
        ("https://img.example.cn/x", "host"),  # allowed only on port 8443
        ("https://news.example.cn/s/NW202205242389705455", "loop"),
        ("", "url"),
        (None, "url"),
    ],
)
def test_bad_targets_name_their_rule(url: object, rule: str) -> None:
    with pytest.raises(targets.TargetError) as caught:
        targets.check(url, HOSTS)
    assert caught.value.rule == rule


def test_good_targets_are_canonical() -> None:
    assert (
        targets.check("HTTPS://News.Example.CN:443/厦门?a=1#x", HOSTS)
        == "https://news.example.cn/厦门?a=1#x"
    )
    assert (
        targets.check("https://img.example.cn:8443/p.jpg", HOSTS)
        == "https://img.example.cn:8443/p.jpg"
    )
    assert (
        targets.location_header("https://news.example.cn/厦门?q=%20")
        == "https://news.example.cn/%E5%8E%A6%E9%97%A8?q=%20"
    )


@pytest.mark.parametrize(
    ("agent", "bot"),
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Mobile/15E148 MicroMessenger/8.0.30(0x18001e31) NetType/WIFI "
            "Language/zh_CN",
            None,
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Version/4.0 Chrome/86.0 XWEB/4317 MMWEBSDK/20220903 Mobile Safari/537.36 "
            "MicroMessenger/8.0.28.2240(0x28001C35) WeChat/arm64 Weixin NetType/WIFI "
            "Language/zh_CN ABI/arm64",
            None,
        ),
        (
            "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 Chrome/81.0 Safari/537.36 "
            "NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090719)",
            None,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 15_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Mobile/15E148 Weibo (iPhone13,2__weibo__12.5.1__iphone__os15.4)",
            None,
        ),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36", None),
        ("Mozilla/5.0 (compatible; WeChat spider)", "wechat-crawler"),
        ("WeiboBot/1.0", "weibo-crawler"),
        (
            "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            "baiduspider",
        ),
        ("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", "sogou-web"),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "facebookexternalhit",
        ),
        ("Twitterbot/1.0", "twitterbot"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "slackbot"),
        ("TelegramBot (like TwitterBot)", "telegrambot"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot"),
        ("QQ-URL-Manager", "qq-url-manager"),
        ("Mozilla/5.0 (compatible; BarracudaCentral/1.0)", "mail-scanner"),
        (
            "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
            "microsoft-office",
        ),
        ("", "no-user-agent"),
    ],
)
def test_people_and_bots(agent: str, bot: str | None) -> None:
    assert bot_name(agent) == bot


def _visit(**fields: object) -> Visit:
    base = {
        "code": "NW202205242389705455",
        "at": 0.0,
        "address": "203.0.113.9",
        "agent": "Mozilla/5.0 Chrome/120",
        "referrer": "",
        "query": "",
        "qr": False,
    }
    return Visit(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"qr": True, "query": "from=singlemessage"}, "qr"),
        ({"query": "from=singlemessage"}, "wechat-chat"),
        ({"query": "from=groupmessage"}, "wechat-group"),
        ({"query": "from=timeline"}, "wechat-moments"),
        ({"agent": "Mozilla/5.0 MicroMessenger/8.0.30"}, "wechat"),
        ({"referrer": "https://weibo.com/123"}, "weibo"),
        ({"referrer": "http://t.cn/A6abc"}, "weibo"),
        ({"referrer": "https://www.google.com.hk/"}, "google"),
        ({"referrer": "https://news.example.cn/index.html"}, "site"),
        ({"referrer": "https://www.Some-Blog.org/post"}, "some-blog.org"),
        ({"referrer": "not a url"}, "direct"),
        ({"query": "from=newsletter", "agent": "Mozilla/5.0 Chrome/120"}, "direct"),
        ({}, "direct"),
    ],
)
def test_sources(fields: dict[str, object], expected: str) -> None:
    assert source(_visit(**fields), "news.example.cn")[0] == expected


def test_visitor_hash_hides_the_address_and_changes_with_the_salt() -> None:
    one = visitor("salt-1", "203.0.113.9", "UA")
    assert "203.0.113" not in one and one == visitor("salt-1", "203.0.113.9", "UA")
    assert one != visitor("salt-2", "203.0.113.9", "UA")
    assert one != visitor("salt-1", "203.0.113.9", "UA2")


def test_every_key_of_a_link_hashes_to_one_slot() -> None:
    from redis.crc import key_slot

    code = "NW202205242389705455"
    names = [
        keys.link(code),
        keys.stats(code),
        keys.visitors(code, "20220524"),
        keys.visitors(code, "20991231"),
        keys.seen(code, "abcdef"),
    ]
    assert len({key_slot(name.encode()) for name in names}) == 1
    other = "NW202205241111111111"
    assert key_slot(keys.link(other).encode()) != key_slot(keys.link(code).encode())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("shortlinks__prefix", "nw", "expected 1 to 8 uppercase letters"),
        ("shortlinks__redirect_status", 303, "expected 301, 302, 307 or 308"),
        ("shortlinks__qr_error", "X", "expected L, M, Q or H"),
        ("shortlinks__allowed_hosts", ["https://x.example"], "expected lower-case host"),
        ("shortlinks__cache_ttl", 0.0, "expected a number above 0"),
    ],
)
def test_bad_shortlinks_settings_name_the_key(key: str, value: object, message: str) -> None:
    from finews.config import load
    from finews.core.settings import SettingsError

    with pytest.raises(SettingsError, match=f"{key.replace('__', '.')}: {message}"):
        load(env={}).replace(**{key: value})
