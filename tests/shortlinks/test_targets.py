"""Share-link targets as pure functions: which URLs pass, how they are normalised, and the
exact rule and message each refusal gives (the API returns both as `errors[0].rule/detail`).

Every allowed-hosts set is built inside a test, never at import time: `make mutation` forks
each mutant from a process that has already imported this module, so a set built at import
would hide every mutant of `allowed_hosts`.
"""

from __future__ import annotations

import pytest

from shortlinks import targets

SITE = "https://news.example.cn"
LIMIT = targets.MAX_BYTES


def hosts(site: str = SITE, *extra: str) -> frozenset[str]:
    return targets.allowed_hosts(site, extra)


def refusal(url: object, allowed: frozenset[str] | None = None) -> tuple[str, str]:
    """The (rule, message) a refused target gives."""
    with pytest.raises(targets.TargetError) as caught:
        targets.check(url, hosts() if allowed is None else allowed)
    return caught.value.rule, str(caught.value)


# --- allowed hosts: the site's own host, as the site URL spells it ---


@pytest.mark.parametrize(
    ("site", "extra", "expected"),
    [
        ("https://news.example.cn", (), {"news.example.cn"}),
        ("https://news.example.cn/", (), {"news.example.cn"}),
        ("https://News.Example.CN:443/blog/", (), {"news.example.cn"}),  # default port dropped
        ("http://news.example.cn:80", (), {"news.example.cn"}),
        ("http://news.example.cn:443", (), {"news.example.cn:443"}),  # 443 is not http's
        ("https://news.example.cn:8443", (), {"news.example.cn:8443"}),
        ("https://[2001:DB8::1]:8443/", (), {"[2001:db8::1]:8443"}),
        ("https://[::1]/", (), {"[::1]"}),
        ("https://中国.example/", (), {"xn--fiqs8s.example"}),
        (
            SITE,
            (" IMG.Example.cn:8443 ", "", "  ", "cdn.example.cn"),
            {"news.example.cn", "img.example.cn:8443", "cdn.example.cn"},
        ),
    ],
)
def test_allowed_hosts_are_the_site_host_and_the_extra_ones_normalised(
    site: str, extra: tuple[str, ...], expected: set[str]
) -> None:
    assert targets.allowed_hosts(site, extra) == expected


def test_a_site_url_with_an_explicit_default_port_still_allows_its_own_links() -> None:
    allowed = hosts("https://news.example.cn:443/")
    assert targets.check("https://news.example.cn/a", allowed) == "https://news.example.cn/a"
    assert targets.check("https://news.example.cn:443/a", allowed) == "https://news.example.cn/a"
    assert refusal("https://news.example.cn:8443/a", allowed)[0] == "host"


def test_a_site_url_without_a_host_allows_no_target() -> None:
    allowed = hosts("not a url")
    for url in ("https://xxxx/", "https://news.example.cn/", "https://not%20a%20url/"):
        assert refusal(url, allowed)[0] == "host"


# --- normalisation: one canonical spelling per URL ---


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # no path: the root
        ("https://news.example.cn", "https://news.example.cn/"),
        ("https://news.example.cn?a=1", "https://news.example.cn/?a=1"),
        ("https://news.example.cn#top", "https://news.example.cn/#top"),
        # case of scheme and host; the path keeps its case
        ("HTTPS://NEWS.Example.CN/A/b", "https://news.example.cn/A/b"),
        ("HtTp://news.example.cn/x", "http://news.example.cn/x"),
        # default ports dropped, others kept
        ("https://news.example.cn:443/x", "https://news.example.cn/x"),
        ("http://news.example.cn:80/x", "http://news.example.cn/x"),
        ("https://news.example.cn:8443/x", "https://news.example.cn:8443/x"),
        ("http://news.example.cn:443/x", "http://news.example.cn:443/x"),
        # unreserved escapes decoded (either case), the others upper-cased
        ("https://news.example.cn/%7e%7Eu%41%7a%30%2D%2e%5F", "https://news.example.cn/~~uAz0-._"),
        ("https://news.example.cn/a%2fb%3f%e5%8e%a6", "https://news.example.cn/a%2Fb%3F%E5%8E%A6"),
        ("https://news.example.cn/%20%25%2B", "https://news.example.cn/%20%25%2B"),
        (
            "https://news.example.cn/?q=%e5%41&r=%7e#%7e%2f",
            "https://news.example.cn/?q=%E5A&r=~#~%2F",
        ),
        # a % that starts no escape is a literal percent sign
        ("https://news.example.cn/100%", "https://news.example.cn/100%25"),
        ("https://news.example.cn/%zz%4", "https://news.example.cn/%25zz%254"),
        (
            "https://news.example.cn/?off=50%&x=%g1#5%",
            "https://news.example.cn/?off=50%25&x=%25g1#5%25",
        ),
        # dot segments (RFC 3986 5.2.4)
        ("https://news.example.cn/a/./b", "https://news.example.cn/a/b"),
        ("https://news.example.cn/a/b/../c", "https://news.example.cn/a/c"),
        ("https://news.example.cn/a/b/..", "https://news.example.cn/a/"),
        ("https://news.example.cn/a/b/.", "https://news.example.cn/a/b/"),
        ("https://news.example.cn/a/../../../b", "https://news.example.cn/b"),
        ("https://news.example.cn/../x", "https://news.example.cn/x"),
        ("https://news.example.cn/..", "https://news.example.cn/"),
        ("https://news.example.cn/.", "https://news.example.cn/"),
        ("https://news.example.cn/a/%2E%2e/b/%2e", "https://news.example.cn/b/"),
        ("https://news.example.cn/a/.b/..c/...", "https://news.example.cn/a/.b/..c/..."),
        ("https://news.example.cn/a//b/", "https://news.example.cn/a//b/"),
        (
            "https://news.example.cn/?p=/a/../b",
            "https://news.example.cn/?p=/a/../b",
        ),  # not the query
        # IDNA hosts: the ASCII form, through UTS 46 mapping
        ("https://中国.example/x", "https://xn--fiqs8s.example/x"),
        ("https://xn--fiqs8s.example/x", "https://xn--fiqs8s.example/x"),
        ("https://Ｅxample.com/", "https://example.com/"),  # full-width letter
        ("https://EXÄMPLE.com/", "https://xn--exmple-cua.com/"),
        # IPv6 literals keep their brackets, lower-case
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("https://[2001:DB8::1]/x", "https://[2001:db8::1]/x"),
        ("https://[2001:db8::1]:443/x", "https://[2001:db8::1]/x"),
        # non-ASCII path kept as text, for location_header to encode
        ("https://news.example.cn/厦门?a=1#x", "https://news.example.cn/厦门?a=1#x"),
    ],
)
def test_targets_are_stored_normalised(url: str, expected: str) -> None:
    allowed = hosts(
        SITE,
        "news.example.cn:8443",
        "news.example.cn:443",
        "xn--fiqs8s.example",
        "example.com",
        "xn--exmple-cua.com",
        "[::1]:8080",
        "[2001:db8::1]",
    )
    assert targets.check(url, allowed) == expected
    assert targets.check(expected, allowed) == expected  # normal form is a fixed point


def test_two_spellings_of_one_url_normalise_alike() -> None:
    allowed = hosts()
    spellings = [
        "https://news.example.cn/a/b",
        "HTTPS://news.EXAMPLE.cn:443/a/./b",
        "https://news.example.cn/a/x/../b",
        "https://news.example.cn/%61/%62",
    ]
    assert {targets.check(url, allowed) for url in spellings} == {"https://news.example.cn/a/b"}


# --- the redirect-loop rule, also through encoded and dotted share paths ---


@pytest.mark.parametrize(
    "url",
    [
        "https://news.example.cn/s/NW202205242389705455",
        "https://news.example.cn/S/NW202205242389705455",
        "https://news.example.cn/%73/NW202205242389705455",
        "https://news.example.cn/%53/NW202205242389705455",
        "https://news.example.cn/x/../s/NW202205242389705455",
        "https://news.example.cn/%2E%2E/s/NW202205242389705455",
        "https://news.example.cn/./s/",
        "https://news.example.cn/html_News/NewsShare.html?infoCode=NW202205242389705455",
        "https://news.example.cn/html_%4Eews/NewsShare%2Ehtml?infoCode=NW202205242389705455",
        "HTTP://NEWS.example.cn:80/s/NW202205242389705455",
    ],
)
def test_a_target_that_is_itself_a_share_link_is_refused(url: str) -> None:
    assert refusal(url) == ("loop", "url is itself a share link")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.example.cn/s", "https://news.example.cn/s"),
        ("https://news.example.cn/sx/1", "https://news.example.cn/sx/1"),
        (
            "https://news.example.cn/a/s/NW202205242389705455",
            "https://news.example.cn/a/s/NW202205242389705455",
        ),
        ("https://news.example.cn/%2Fs/x", "https://news.example.cn/%2Fs/x"),
        (
            "https://news.example.cn/?next=/s/NW202205242389705455",
            "https://news.example.cn/?next=/s/NW202205242389705455",
        ),
    ],
)
def test_paths_that_only_look_like_share_links_are_allowed(url: str, expected: str) -> None:
    assert targets.check(url, hosts()) == expected


# --- every refusal: its rule and its exact message ---


@pytest.mark.parametrize(
    ("url", "rule", "message"),
    [
        ("", "url", "url must be a non-empty string"),
        (None, "url", "url must be a non-empty string"),
        (42, "url", "url must be a non-empty string"),
        (b"https://news.example.cn/", "url", "url must be a non-empty string"),
        (
            "https://news.example.cn/\udc00",
            "unicode",
            "url holds a lone surrogate, not a character",
        ),
        (
            "https://news.example.cn/a b",
            "control_characters",
            "url contains control characters or spaces",
        ),
        (
            "https://news.example.cn/\x00",
            "control_characters",
            "url contains control characters or spaces",
        ),
        (
            "https://news.example.cn/\x1f",
            "control_characters",
            "url contains control characters or spaces",
        ),
        (
            "https://news.example.cn/\x7f",
            "control_characters",
            "url contains control characters or spaces",
        ),
        (
            "https://news.example.cn/\x85",
            "control_characters",
            "url contains control characters or spaces",
        ),
        (
            "https://news.example.cn/\x9f",
            "control_characters",
            "url contains control characters or spaces",
        ),
        ("https://news.example.cn\\@evil.example/", "backslash", "url contains a backslash"),
        ("https://[::1/", "host", "url has an invalid host: Invalid IPv6 URL"),
        ("ftp://news.example.cn/", "scheme", "url must start with http:// or https://"),
        ("javascript:alert(1)", "scheme", "url must start with http:// or https://"),
        ("//news.example.cn/x", "scheme", "url must start with http:// or https://"),
        ("/x", "scheme", "url must start with http:// or https://"),
        ("https:///x", "absolute", "url must be absolute: scheme://host/path"),
        ("https://", "absolute", "url must be absolute: scheme://host/path"),
        ("https:news.example.cn/x", "absolute", "url must be absolute: scheme://host/path"),
        ("https:/news.example.cn/x", "absolute", "url must be absolute: scheme://host/path"),
        ("https://user@news.example.cn/", "userinfo", "url must not contain user:password@"),
        (
            "https://news.example.cn:443@evil.example/",
            "userinfo",
            "url must not contain user:password@",
        ),
        ("https://news.example.cn:abc/", "host", "url has an invalid port"),
        ("https://news.example.cn:65536/", "host", "url has an invalid port"),
        ("https://news.example.cn/s/NW202205242389705455", "loop", "url is itself a share link"),
    ],
)
def test_each_refusal_names_its_rule_and_says_what_is_wrong(
    url: object, rule: str, message: str
) -> None:
    assert refusal(url) == (rule, message)


def test_a_host_not_allowed_is_named_with_the_allowed_ones() -> None:
    allowed = hosts(SITE, "img.example.cn:8443", "cdn.example.cn")
    assert refusal("https://evil.example/x", allowed) == (
        "host",
        "host 'evil.example' is not allowed; "
        "allowed: cdn.example.cn, img.example.cn:8443, news.example.cn",
    )
    assert refusal("https://IMG.example.cn/x", allowed) == (
        "host",
        "host 'img.example.cn' is not allowed; "
        "allowed: cdn.example.cn, img.example.cn:8443, news.example.cn",
    )
    assert refusal("http://[::1]:8080/", allowed)[1].startswith("host '[::1]:8080' is not allowed")
    assert refusal("https://news.example.cn.evil.example/", allowed)[0] == "host"
    assert refusal("https://中国.example/", allowed)[1].startswith(
        "host 'xn--fiqs8s.example' is not allowed"
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://☃.example/", "☃.example"),
        ("https://a..例子/", "a..例子"),
        ("https://例子.-x/", "例子.-x"),
        ("https://☃.EXAMPLE/", "☃.example"),  # named lower-case, as it was checked
    ],
)
def test_a_host_idna_cannot_encode_is_refused_by_name(url: str, host: str) -> None:
    rule, message = refusal(url)
    assert rule == "host"
    assert message.startswith(f"host {host!r} is not a valid domain name: ")
    assert len(message) > len(f"host {host!r} is not a valid domain name: ")  # idna's reason


# --- the 2048-byte limit, in UTF-8 bytes, before and after normalising ---


def _url_of(size: int, tail: str = "") -> str:
    """A URL on the site exactly `size` UTF-8 bytes long, ending in `tail`."""
    head = f"{SITE}/"
    return head + "a" * (size - len(head) - len(tail.encode("utf-8"))) + tail


def test_a_url_of_exactly_the_limit_passes_and_one_byte_more_is_refused() -> None:
    assert targets.check(_url_of(LIMIT), hosts()) == _url_of(LIMIT)
    assert refusal(_url_of(LIMIT + 1)) == ("length", f"url is longer than {LIMIT} bytes")


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    url = _url_of(LIMIT + 1, "厦" * 10)  # 30 bytes, 10 characters
    assert len(url) < LIMIT
    assert refusal(url) == ("length", f"url is longer than {LIMIT} bytes")
    assert targets.check(_url_of(LIMIT, "厦" * 10), hosts()) == _url_of(LIMIT, "厦" * 10)


def test_normalising_cannot_grow_a_url_past_the_limit() -> None:
    # each stray % becomes %25: two bytes more
    assert targets.check(_url_of(LIMIT - 2, "%"), hosts()) == _url_of(LIMIT - 2, "%") + "25"
    assert refusal(_url_of(LIMIT - 1, "%")) == (
        "length",
        f"url is longer than {LIMIT} bytes once normalised",
    )
    assert refusal(_url_of(LIMIT, "%")) == (
        "length",
        f"url is longer than {LIMIT} bytes once normalised",
    )


def test_normalising_can_bring_a_long_spelling_under_the_limit() -> None:
    url = _url_of(LIMIT, "%7e")  # %7e decodes to ~: two bytes shorter
    assert targets.check(url, hosts()) == _url_of(LIMIT - 2, "~")


# --- the Location header ---


def test_location_header_is_ascii_and_keeps_the_url_as_normalised() -> None:
    url = targets.check("https://news.example.cn/厦门/a%2Fb?q=é&r=%20#片段", hosts())
    header = targets.location_header(url)
    assert header == (
        "https://news.example.cn/%E5%8E%A6%E9%97%A8/a%2Fb?q=%C3%A9&r=%20#%E7%89%87%E6%AE%B5"
    )
    assert header.isascii()
    assert (
        targets.location_header("https://news.example.cn/a-b_c.d~e/?x=1&y=$!*'(),;:@[]+")
        == "https://news.example.cn/a-b_c.d~e/?x=1&y=$!*'(),;:@[]+"
    )
    assert (
        targets.location_header('https://news.example.cn/"<>`{}|^')
        == "https://news.example.cn/%22%3C%3E%60%7B%7D%7C%5E"
    )
