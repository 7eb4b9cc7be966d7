"""Whatever a client sends, the answer is never a 5xx, and every JSON error is a problem.

Hypothesis sends arbitrary JSON (deep nesting, numbers of thousands of digits, lone
surrogates, raw bytes that are not UTF-8), form bodies, paths, query strings and headers
to every API route, the WebSub hub, the feed routes and the redirect routes. Requests are
raw bytes on a TCP connection to one app per test function (127.0.0.1, the test Redis), so
nothing a client library would refuse or rewrite is out of reach. Seeded and bounded.

Beside them: the properties behind the fixes (codes round-trip through the parser; a
target normalises once and for all) and the named cases that used to answer 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from finews.app import create_app
from finews.core.settings import Settings
from shortlinks import codes, targets
from shortlinks.service import Service
from shortlinks.share import share_links
from tests.problem_support import check_answer
from tests.shortlinks_support import ARTICLE, KEY, SITE


def fast(examples: int) -> hypothesis_settings:
    """Seeded and bounded: the same examples every run, and the file stays quick."""
    return hypothesis_settings(
        derandomize=True,
        deadline=None,
        database=None,
        max_examples=examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


UNKNOWN = "NW202205240000000001"
HOSTS = targets.allowed_hosts(SITE, [])


# -- one running app per test function, spoken to in raw HTTP/1.1 ---------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return bytes(out)


class LiveApp:
    """The app on 127.0.0.1 in its own event loop, so that synchronous Hypothesis tests
    can send many requests to one server."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = TestServer(create_app(settings), host="127.0.0.1")
        self.loop.run_until_complete(self.server.start_server())
        self.code = self.loop.run_until_complete(self._make_link())

    async def _make_link(self) -> str:
        raw = request(
            "POST",
            b"/api/links",
            [(b"Authorization", b"Bearer " + KEY.encode())],
            json.dumps({"url": ARTICLE}).encode(),
        )
        answer = await self._send(raw)
        assert answer.status == 201, answer
        return json.loads(answer.body)["code"]

    async def _send(self, raw: bytes) -> Answer:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        try:
            writer.write(raw)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), timeout=30)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().title()] = value.strip()
        if headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _dechunk(body)
        return Answer(int(status_line.split()[1]), headers, body)

    def send(self, raw: bytes) -> Answer:
        answer = self.loop.run_until_complete(self._send(raw))
        check_answer(answer.status, answer.headers, answer.body, head=raw.startswith(b"HEAD "))
        return answer

    def close(self) -> None:
        self.loop.run_until_complete(self.server.close())
        self.loop.close()


def request(
    method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None = None
) -> bytes:
    lines = [
        method.encode() + b" " + target + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Connection: close",
        *(name + b": " + value for name, value in headers),
    ]
    if body is not None:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


@pytest.fixture
def live(make_settings: Callable[..., Settings]) -> Any:
    """Settings for hostile clients: rate limits out of the way (so every request reaches
    its handler), private WebSub callbacks allowed (so no name is ever resolved; every
    callback generated here is on 127.0.0.1)."""
    app = LiveApp(
        make_settings(
            site__url=SITE,
            api__keys=[KEY],
            shortlinks__rate_create_per_key=1_000_000,
            shortlinks__rate_create_per_address=1_000_000,
            shortlinks__rate_scan_per_address=1_000_000,
            websub__allow_private_callbacks=True,
        )
    )
    yield app
    app.close()


# -- strategies ------------------------------------------------------------------------------


def _obj(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in pairs.items()) + "}"


INTERESTING = [
    ARTICLE,
    SITE,
    SITE + "/%73/" + UNKNOWN,
    SITE + "/./S/../s/" + UNKNOWN,
    SITE + ":443/x",
    "HTTPS://NEWS.EXAMPLE.CN:443/a/%7e/../b",
    "https://[::1]/x",
    "https://[::1/x",
    "https:///x",
    SITE + "/" + "a" * 2100,
    SITE + "/%zz",
    "https://xn--/",
    "https://bücher.de/",
    "javascript:x",
    "0001-01-01",
    "0999-12-31",
    "1000-01-01",
    "9999-12-31",
    "2022-05-24",
    "2022-02-30",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "2099-01-01T00:00:00+08:00",
    "NW",
    "AAAAAAAAA",
    "nw",
    UNKNOWN,
    "NW000101011234567890",
    "",
    " ",
    "\u0000",
    "民生",
]
numbers = st.one_of(
    st.integers().map(str),
    st.integers(90, 6000).map(lambda n: "9" * n),
    st.sampled_from(
        ["1e999", "-1e999", "NaN", "Infinity", "-0", "0.5", "1e-400", "-" + "1" * 4400 + ".5"]
    ),
)
strings = st.one_of(
    st.text(max_size=20).map(json.dumps),
    st.sampled_from(INTERESTING).map(json.dumps),
    st.sampled_from(
        ['"\\ud800"', '"\\udfff"', '"a\\ud83d"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\"']
    ),
)
scalars = st.one_of(strings, strings, numbers, st.sampled_from(["null", "true", "false"]))
nested = st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)
values = st.recursive(
    st.one_of(scalars, scalars, nested),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        st.dictionaries(st.text(max_size=8), kids, max_size=3).map(_obj),
    ),
    max_leaves=6,
)
FIELDS = ["url", "date", "prefix", "expires_at", "title", "disabled"]
# A url that passes most of the time, so the other fields reach Redis; json.dumps writes
# a lone surrogate in a name as the escape "\ud800".
good_urls = st.sampled_from([ARTICLE, SITE + "/x.html", SITE + "/%e6%b0%91.html?a=1"])
links = st.tuples(
    st.one_of(good_urls.map(json.dumps), good_urls.map(json.dumps), values),
    st.dictionaries(st.sampled_from([*FIELDS[1:], "colour", "\ud800"]), values, max_size=2),
).map(lambda parts: _obj({"url": parts[0], **parts[1]}))
HOSTILE = [
    '"\\ud800"',
    '"x\\udfff"',
    '"\\udc80\\ud800"',
    "9" * 5000,
    "-" + "1" * 4301,
    "[" * 5000 + "]" * 5000,
    '"0001-01-01"',
    '"0999-12-31"',
    '"9999-12-31T23:59:59-14:00"',
    '"0001-01-01T00:00:00+14:00"',
    "1e999",
    "NaN",
    json.dumps(SITE + "/%73/" + UNKNOWN),
]
# A good link with one field made hostile: each field's handling reaches Redis or refuses.
attacks = st.tuples(
    good_urls, st.sampled_from(FIELDS), st.one_of(st.sampled_from(HOSTILE), values)
).map(lambda parts: _obj({"url": json.dumps(parts[0]), parts[1]: parts[2]}))
documents = st.one_of(
    links,
    values,
    st.lists(st.one_of(links, values), max_size=4).map(
        lambda items: '{"links":[' + ",".join(items) + "]}"
    ),
    st.integers(1, 120_000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 60_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
)


@st.composite
def bodies(draw: Any) -> bytes:
    """JSON text as UTF-8, sometimes with raw bytes spliced in (invalid UTF-8, encoded
    surrogates), sometimes only bytes."""
    kind = draw(st.sampled_from(["json", "json", "json", "spliced", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    text = draw(documents).encode("utf-8")
    if kind == "spliced":
        at = draw(st.integers(0, len(text)))
        junk = draw(
            st.one_of(
                st.binary(min_size=1, max_size=6),
                st.sampled_from([b"\xed\xa0\x80", b"\xff", b"\xc0\xaf", b"\x00"]),
            )
        )
        text = text[:at] + junk + text[at:]
    return text


def header_bytes(values: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from([v.encode() for v in values]),
        st.binary(max_size=60).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"").strip()),
    )


HEADER_VALUES = {
    b"Accept": [
        "application/json",
        "application/problem+json",
        "text/html",
        "*/*",
        "application/json;q=0",
        "text/html;q=abc",
        ",,;;",
        "application/rss+xml;q=nan",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ],
    b"Accept-Encoding": [
        "br",
        "gzip;q=0",
        "*;q=0",
        "identity;q=0",
        "br;q=nan",
        "gzip, deflate, br, zstd",
        "x" * 300,
    ],
    b"If-None-Match": ['"abc"', "*", 'W/"x"', '"' * 50, '"a", W/"b", *', "W/"],
    b"If-Modified-Since": [
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "garbage",
        "0",
        "-1",
        "9" * 5000,
        "Sun, 06 Nov 1994 08:49:37 +9999",
    ],
    b"User-Agent": ["Twitterbot/1.0", "curl/8", ""],
    b"Referer": ["https://mp.weixin.qq.com/", "http://[::1", "\u00ff"],
    b"X-Forwarded-For": ["1.2.3.4", "::1, 10.0.0.1", "", "999.999.999.999"],
    b"Accept-Language": ["zh-CN", "*;q=x"],
}
headers = st.lists(
    st.sampled_from(sorted(HEADER_VALUES)).flatmap(
        lambda name: header_bytes(HEADER_VALUES[name]).map(lambda value: (name, value))
    ),
    max_size=4,
)
authorization = st.one_of(
    st.just(b"Bearer " + KEY.encode()),
    st.just(b"Bearer " + KEY.encode()),
    header_bytes(["Bearer ", "Basic " + KEY, "bearer " + KEY]),
)


def segment(samples: list[str]) -> st.SearchStrategy[bytes]:
    """A path segment: a sample, arbitrary bytes percent-encoded, or raw bytes as sent."""
    return st.one_of(
        st.sampled_from([quote(s, safe="+").encode() for s in samples]),
        st.binary(max_size=40).map(lambda raw: quote(raw, safe="").encode()),
        st.binary(min_size=1, max_size=20).filter(
            lambda raw: not any(b in raw for b in b" \r\n\t?#/\x00")
        ),
    )


def query(names: list[str], samples: list[str]) -> st.SearchStrategy[bytes]:
    """Each name at most once with a sample or any text, or raw bytes as sent."""
    value = st.one_of(st.sampled_from(samples), st.sampled_from(samples), st.text(max_size=30))
    pairs = st.fixed_dictionaries({}, optional=dict.fromkeys(names, value)).map(
        lambda found: "&".join(quote(k) + "=" + quote(v, safe="") for k, v in found.items())
    )
    raw = st.binary(max_size=30).filter(lambda b: not any(c in b for c in b" \r\n\t#"))
    return st.one_of(pairs.map(str.encode), pairs.map(str.encode), raw)


CODES = [
    UNKNOWN,
    "{code}",
    "NW000101011234567890",
    "NW2022",
    "hello",
    "NW99999999" + "1" * 10,
    "A" * 9 + "202205241234567890",
    UNKNOWN + "+",
    "%ED%A0%80",
]
DATES = [
    "0001-01-01",
    "0001-01-03",
    "0001-02-01",
    "9999-12-31",
    "2022-05-24",
    "2022-05-01",
    "x",
    "",
    "9" * 5000,
    "2022-W01-1",
    "20220524",
    "-2022-01-01",
]


def _fill(target: bytes, live: LiveApp) -> bytes:
    return target.replace(b"%7Bcode%7D", live.code.encode()).replace(b"{code}", live.code.encode())


# -- the API -------------------------------------------------------------------------------

API_ROUTES = [
    ("POST", "/api/links"),
    ("POST", "/api/links"),
    ("POST", "/api/links/batch"),
    ("PATCH", "/api/links/{c}"),
    ("GET", "/api/links/{c}"),
    ("PATCH", "/api/links/{c}"),
    ("DELETE", "/api/links/{c}"),
    ("GET", "/api/links"),
    ("GET", "/api/links/{c}/stats"),
]


def test_the_api_answers_every_body_and_header_without_a_5xx(live: LiveApp) -> None:
    @fast(400)
    @given(
        route=st.sampled_from(API_ROUTES),
        code=segment(CODES),
        body=st.one_of(
            attacks.map(str.encode),
            attacks.map(lambda doc: b'{"links": [' + doc.encode() + b"]}"),
            bodies(),
        ),
        auth=authorization,
        extra=headers,
    )
    def send(
        route: tuple[str, str],
        code: bytes,
        body: bytes,
        auth: bytes,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        method, path = route
        if method == "DELETE" and b"code" in code:
            return  # keep the one real link for the other examples
        target = _fill(path.encode().replace(b"{c}", code), live)
        live.send(
            request(
                method,
                target,
                [(b"Authorization", auth), *extra],
                body if method in ("POST", "PATCH") else None,
            )
        )

    send()


def test_api_queries_never_fail(live: LiveApp) -> None:
    @fast(150)
    @given(
        path=st.sampled_from(["/api/links", "/api/links/{code}/stats"]),
        params=query(
            ["limit", "cursor", "from", "to"],
            [*DATES, "0", "1", "100", "101", "-1", "１", "9" * 5000, "1e3", UNKNOWN],
        ),
    )
    def send(path: str, params: bytes) -> None:
        target = _fill(path.encode(), live) + b"?" + params
        live.send(request("GET", target, [(b"Authorization", b"Bearer " + KEY.encode())]))

    send()


# -- redirects, previews and QR codes ---------------------------------------------------------


def test_redirect_routes_never_fail(live: LiveApp) -> None:
    @fast(300)
    @given(
        form=st.sampled_from(["/s/", "/S/", "/qr/", "legacy"]),
        code=segment(CODES),
        suffix=st.sampled_from([b"", b"+", b".svg", b".png", b".gif", b"++", b"%2B"]),
        params=query(["from", "scale", "infoCode"], ["wechat", "0", "40", "9" * 5000, *CODES]),
        method=st.sampled_from(["GET", "GET", "HEAD"]),
        extra=headers,
    )
    def send(
        form: str,
        code: bytes,
        suffix: bytes,
        params: bytes,
        method: str,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        if form == "legacy":
            target = b"/html_News/NewsShare.html?infoCode=" + _fill(code, live) + b"&" + params
        else:
            target = form.encode() + _fill(code, live) + suffix + b"?" + params
        live.send(request(method, target, extra))

    send()


# -- feeds ------------------------------------------------------------------------------------


def test_feed_routes_never_fail(live: LiveApp) -> None:
    names = ["all.rss", "all.atom", "all.json", "all.xml", "all", ".rss", "民生.rss", "x.json"]

    @fast(200)
    @given(
        shape=st.sampled_from(
            [
                "/feeds/{n}",
                "/feeds/all/page/{n}",
                "/feeds/tag/{n}",
                "/feeds/category/{n}",
                "/feeds/tag/{n}/page/{n}",
                "/",
                "/feeds.opml",
            ]
        ),
        name=segment([*names, "2.rss", "0.rss", "02.rss", "9" * 5000 + ".rss", "２.json"]),
        extra=headers,
    )
    def send(shape: str, name: bytes, extra: list[tuple[bytes, bytes]]) -> None:
        target = shape.encode().replace(b"{n}", name)
        live.send(request("GET", target, extra))

    send()


# -- the WebSub hub ---------------------------------------------------------------------------

LOOPBACK_CALLBACK = "http://127.0.0.1:9/cb"  # nothing listens; no packet leaves the host
HUB_VALUES = [
    "subscribe",
    "unsubscribe",
    "publish",
    SITE + "/feeds/all.rss",
    SITE + "/feeds/tag/民生.rss",
    "https://evil.example/feeds/x",
    "0",
    "-5",
    "9" * 5000,
    "0" * 5000,
    "x" * 300,
    "",
    " ",
]


@st.composite
def hub_forms(draw: Any) -> tuple[bytes, bytes]:
    """A content type and a form body: a good subscription with one field made hostile
    (and maybe some left out), or raw bytes. A callback is always on 127.0.0.1, or no URL."""
    form_type = b"application/x-www-form-urlencoded"
    content_type = draw(
        st.one_of(
            st.just(form_type),
            st.just(form_type),
            st.sampled_from(
                [
                    form_type + b"; charset=UTF-8",
                    form_type + b"; charset=latin-1",
                    b"application/json",
                    b"multipart/form-data; boundary=x",
                    b"",
                    form_type + b"; charset=\xff",
                ]
            ),
        )
    )
    if draw(st.integers(0, 5)) == 0:
        raw = draw(st.binary(max_size=300))
        if b"callback" in unquote_to_bytes(raw).lower():
            raw = b""
        return content_type, raw
    fields = {
        "hub.mode": "subscribe",
        "hub.topic": SITE + "/feeds/all.rss",
        "hub.callback": LOOPBACK_CALLBACK,
    }
    name = draw(
        st.sampled_from([*fields, "hub.lease_seconds", "hub.lease_seconds", "hub.secret", "hub.x"])
    )
    value = draw(
        st.one_of(
            st.sampled_from(HUB_VALUES),
            st.text(max_size=40),
            st.integers(4200, 6000).map(lambda n: "9" * n),
            st.integers().map(str),
        )
    )
    if name == "hub.callback":  # a path on the loopback callback, or no URL at all
        value = (
            (LOOPBACK_CALLBACK + quote(value, safe=""))
            if draw(st.booleans())
            else value.replace(":", "")
        )
    fields[name] = value
    for gone in draw(st.sets(st.sampled_from(sorted(fields)), max_size=2)):
        fields.pop(gone, None)
    body = "&".join(quote(k) + "=" + quote(v, safe="") for k, v in fields.items()).encode()
    if draw(st.integers(0, 3)) == 0:  # raw bytes in a value: not UTF-8, or an encoded surrogate
        body += b"&hub.secret=" + draw(
            st.sampled_from([b"\xff\xfe", b"%ED%A0%80", b"\xed\xa0\x80", b"%FF", b"%"])
        )
    return content_type, body


def test_the_websub_hub_never_fails(live: LiveApp) -> None:
    @fast(250)
    @given(form=hub_forms(), extra=headers)
    def send(form: tuple[bytes, bytes], extra: list[tuple[bytes, bytes]]) -> None:
        content_type, body = form
        head = [(b"Content-Type", content_type)] if content_type else []
        live.send(request("POST", b"/websub", [*head, *extra], body))

    send()


# -- the named cases that used to answer 500 ------------------------------------------------


def test_stats_in_year_one_and_a_lease_of_thousands_of_digits(live: LiveApp) -> None:
    auth = [(b"Authorization", b"Bearer " + KEY.encode())]
    answer = live.send(request("GET", f"/api/links/{live.code}/stats?to=0001-01-03".encode(), auth))
    assert answer.status == 200
    assert json.loads(answer.body)["from"] == "0001-01-01"
    form = (
        f"hub.mode=subscribe&hub.topic={SITE}/feeds/all.rss&hub.callback="
        f"{LOOPBACK_CALLBACK}&hub.lease_seconds={'9' * 5000}"
    ).encode()
    answer = live.send(
        request("POST", b"/websub", [(b"Content-Type", b"application/x-www-form-urlencoded")], form)
    )
    assert answer.status == 202


def test_surrogates_in_every_string_field_are_422_naming_it(live: LiveApp) -> None:
    auth = [(b"Authorization", b"Bearer " + KEY.encode())]
    for field in FIELDS[:5]:
        doc = {"url": ARTICLE, field: "\ud800"}
        raw = json.dumps(doc).encode()  # ensure_ascii: the escape "\ud800"
        for method, path, body, name in (
            ("POST", "/api/links", raw, field),
            ("POST", "/api/links/batch", b'{"links": [' + raw + b"]}", f"links[0].{field}"),
            ("PATCH", f"/api/links/{live.code}", raw, field),
        ):
            answer = live.send(request(method, path.encode(), auth, body))
            assert answer.status == 422, (method, path, answer)
            assert json.loads(answer.body)["errors"][0]["field"] == name


# -- codes: never issue one the parser refuses -----------------------------------------------


@fast(300)
@given(
    prefix=st.from_regex(r"[A-Z]{1,8}", fullmatch=True),
    day=st.dates(),
    digits=st.from_regex(r"[0-9]{10}", fullmatch=True),
)
def test_every_code_made_is_parsed_back_to_itself(prefix: str, day: date, digits: str) -> None:
    try:
        code = codes.make(prefix, day, digits)
    except codes.DayOutOfRange:
        assert not codes.FIRST_YEAR <= day.year <= codes.LAST_YEAR
        return
    assert len(code) == len(prefix) + 18
    parsed = codes.parse(code)
    assert (parsed.prefix, parsed.day, parsed.digits) == (prefix, day, digits)
    assert str(parsed) == code


@fast(300)
@given(text=st.from_regex(r"[A-Z]{1,8}[0-9]{18}", fullmatch=True))
def test_every_code_the_parser_accepts_prints_back_the_same(text: str) -> None:
    try:
        parsed = codes.parse(text)
    except codes.MalformedCode:
        return
    assert str(parsed) == text


class _Post:
    def __init__(self, key: str, published: datetime) -> None:
        self.key, self.published, self.info_code, self.title = key, published, None, key
        self.url = f"{SITE}/{key}.html"


async def test_posts_dated_before_year_1000_get_no_code_and_a_log_line(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    from finews.core.redis_client import connect

    settings = make_settings(site__url=SITE)
    redis = await connect(settings.redis.url)
    try:
        service = Service(redis, settings)
        utc = UTC
        posts = [
            _Post("ancient", datetime(999, 12, 31, 12, tzinfo=utc)),
            _Post("first-day", datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))),
            _Post("modern", datetime(2022, 5, 24, 12, tzinfo=utc)),
        ]
        caplog.set_level(logging.WARNING, logger="finews.shortlinks")
        out = await share_links(service, posts)
    finally:
        await redis.aclose()
    assert list(out) == [f"{SITE}/modern.html"]
    skipped = [
        line
        for line in (r.getMessage() for r in caplog.records)
        if "event=share_link_skipped" in line
    ]
    assert len(skipped) == 2
    assert any("file=ancient" in line for line in skipped)
    assert any("file=first-day" in line for line in skipped)


# -- targets: normalised before any rule --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        (
            "HTTPS://News.Example.CN:443/a/%7e/%2f/./b/../c?q=%7E%2f#%7e",
            f"{SITE}/a/~/%2F/c?q=~%2F#~",
        ),
        ("https://news.example.cn", f"{SITE}/"),
        ("http://news.example.cn:80/x", "http://news.example.cn/x"),
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
        ("https://[0:0:0:0:0:0:0:1]:8443/x", "https://[0:0:0:0:0:0:0:1]:8443/x"),
        ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),
        (SITE + "/100%/%zz?q=%", f"{SITE}/100%25/%25zz?q=%25"),
    ],
)
def test_targets_are_normalised(url: str, normal: str) -> None:
    hosts = targets.allowed_hosts(
        SITE, ["[::1]:8443", "[0:0:0:0:0:0:0:1]:8443", "xn--bcher-kva.de"]
    )
    assert targets.check(url, hosts) == normal


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        (SITE + "/%73/" + UNKNOWN, "loop"),
        (SITE + "/%53/" + UNKNOWN, "loop"),
        (SITE + "/a/%2e%2e/s/" + UNKNOWN, "loop"),
        (SITE + "/x/../html_News/NewsShare.html?infoCode=" + UNKNOWN, "loop"),
        ("HTTPS://NEWS.EXAMPLE.CN:443/s/" + UNKNOWN, "loop"),
        ("https:///x", "absolute"),
        ("https://[::1/x", "host"),
        ("https://[::1]/x", "host"),
    ],
)
def test_target_rules_see_the_normalised_url(url: str, rule: str) -> None:
    with pytest.raises(targets.TargetError) as refused:
        targets.check(url, HOSTS)
    assert refused.value.rule == rule


def test_the_2048_byte_boundary_and_a_site_url_with_443() -> None:
    base = SITE + "/"
    exact = base + "a" * (targets.MAX_BYTES - len(base))
    assert targets.check(exact, HOSTS) == exact
    with pytest.raises(targets.TargetError) as refused:
        targets.check(exact + "a", HOSTS)
    assert refused.value.rule == "length"
    fits = base + "民" * ((targets.MAX_BYTES - len(base)) // 3)  # 2022 bytes after 24
    assert targets.check(fits, HOSTS) == fits
    with pytest.raises(targets.TargetError):
        targets.check(fits + "民", HOSTS)
    hosts = targets.allowed_hosts("https://news.example.cn:443/", [])
    assert hosts == HOSTS
    assert targets.check("https://news.example.cn:443/x", hosts) == SITE + "/x"


@fast(300)
@given(
    path=st.lists(
        st.sampled_from(
            [
                "s",
                "S",
                "%73",
                "%53",
                ".",
                "..",
                "%2e",
                "%2E%2e",
                "a",
                "%7e",
                "%2f",
                "",
                "html_News",
                "NewsShare.html",
            ]
        ),
        max_size=6,
    ).map("/".join),
    host=st.sampled_from(["news.example.cn", "NEWS.example.CN", "news.example.cn:443"]),
)
def test_normalising_twice_changes_nothing_and_no_share_path_passes(path: str, host: str) -> None:
    url = f"https://{host}/{path}/{UNKNOWN}"
    try:
        normal = targets.check(url, HOSTS)
    except targets.TargetError as exc:
        assert exc.rule == "loop"
        return
    assert targets.check(normal, HOSTS) == normal
    assert not normal.removeprefix(SITE).startswith(targets.SHARE_PATHS)


# -- the command line: hostile import lines and dates ------------------------------------


async def test_hostile_import_lines_are_skipped_by_number_and_the_rest_imported(
    redis_url: str,
) -> None:
    from finews.core.redis_client import connect
    from shortlinks import keys, transfer

    good = {
        "code": "NW202205242389705455",
        "url": ARTICLE,
        "title": "",
        "disabled": False,
        "created_at": "2022-05-24T10:00:00+08:00",
        "expires_at": None,
        "origin": "post",
        "primary": True,
        "stats": {"h": 1},
        "visitors": {},
    }
    other = {**good, "code": "NW202205241111111111", "url": SITE + "/other.html"}
    lines = [
        "[" * 100_000 + "]" * 100_000,
        json.dumps({**other, "title": "\ud800"}),
        json.dumps(other)[:-1] + ', "stats": {"h": ' + "9" * 5000 + "}}",
        json.dumps({**other, "created_at": "0001-01-01T00:00:00+14:00"}),
        json.dumps({**other, "expires_at": "9999-12-31T23:59:59-14:00"}),
        json.dumps({**other, "stats": {"h": True}}),
        json.dumps({**other, "visitors": ["x"]}),
        json.dumps({**other, "code": "NW000101011111111111"}),
        json.dumps({**other, "url": SITE + "/%73/" + UNKNOWN}),
        json.dumps(good),
    ]
    reports: list[str] = []
    redis = await connect(redis_url, decode_responses=False)
    try:
        result = await transfer.import_links(redis, lines, HOSTS, reports.append, lambda n: None)
        assert await redis.zrange(keys.CODES, 0, -1) == [good["code"].encode()]
    finally:
        await redis.aclose()
    assert (result.imported, result.skipped) == (1, 9)
    assert [line.split(":")[0] for line in reports] == [f"line {n}" for n in range(1, 10)]


def test_shorten_refuses_a_date_that_cannot_be_in_a_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from finews.cli import main

    for day in ("0999-12-31", "0001-01-01"):
        with pytest.raises(SystemExit) as exited:
            main(["shorten", ARTICLE, "--date", day])
        assert exited.value.code == 2
        assert "codes are dated from year 1000 to 9999" in capsys.readouterr().err
