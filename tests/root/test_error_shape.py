"""Every route's error answers, one request each: RFC 9457 problem details, in one shape.

In the style of Datasette's test_error_shape.py: a table of requests that must fail, and
one check of what each answer looks like (content type, `type`, `title`, `status` equal
to the HTTP status, `detail`, `errors` on 422, Retry-After on 429 and 503). Browsers keep
their HTML pages; a client asking for JSON (`application/json` or
`application/problem+json`) gets the problem.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.errors import problem_type
from finews.core.settings import Settings
from tests.problem_support import check_problem
from tests.shortlinks_support import ARTICLE, AUTH, KEY, SITE

JSON = {"Accept": "application/json"}
PROBLEM = {"Accept": "application/problem+json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
UNKNOWN = "NW202205240000000001"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SUBSCRIBE = "hub.mode=subscribe&hub.topic=" + SITE + "/feeds/all.rss&hub.callback="


@dataclass(frozen=True)
class Case:
    """A request that must fail with `status` and problem `kind` (and, for 422 or a
    field error, the field and rule named first in `errors`). `{code}` in the path is
    a link made for the test; `{disabled}` one that is disabled."""

    name: str
    method: str
    path: str
    status: int
    kind: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    error: tuple[str, str] | None = None


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


CASES = [
    # the API
    Case("api-no-key", "POST", "/api/links", 401, "unauthorized", {}, body({"url": ARTICLE})),
    Case(
        "api-wrong-key", "GET", "/api/links", 401, "unauthorized", {"Authorization": "Bearer nope"}
    ),
    Case(
        "api-bad-json",
        "POST",
        "/api/links",
        400,
        "malformed_json",
        AUTH,
        b"{nope",
        ("body", "syntax"),
    ),
    Case(
        "api-not-utf8",
        "POST",
        "/api/links",
        400,
        "malformed_json",
        AUTH,
        b'{"url": "\xff"}',
        ("body", "syntax"),
    ),
    Case(
        "api-deep-json",
        "POST",
        "/api/links",
        400,
        "malformed_json",
        AUTH,
        b"[" * 100_000 + b"]" * 100_000,
        ("body", "depth"),
    ),
    Case(
        "api-deep-field",
        "POST",
        "/api/links",
        400,
        "malformed_json",
        AUTH,
        b'{"title": ' + b"[" * 40 + b"]" * 40 + b"}",
        None,
    ),
    Case(
        "api-huge-number",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        b'{"url": "' + ARTICLE.encode() + b'", "title": ' + b"9" * 5000 + b"}",
        ("title", "number"),
    ),
    Case(
        "api-surrogate-title",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        b'{"url": "' + ARTICLE.encode() + b'", "title": "\\ud800"}',
        ("title", "unicode"),
    ),
    Case(
        "api-surrogate-url",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        b'{"url": "' + ARTICLE.encode() + b'\\udfff"}',
        ("url", "unicode"),
    ),
    Case(
        "api-surrogate-key",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        b'{"\\ud800": 1}',
        ("\\ud800", "unicode"),
    ),
    Case("api-not-object", "POST", "/api/links", 400, "malformed_request", AUTH, body([1])),
    Case(
        "api-bad-url",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        body({"url": "javascript:alert(1)"}),
        ("url", "scheme"),
    ),
    Case(
        "api-share-loop-encoded",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        body({"url": SITE + "/%73/" + UNKNOWN}),
        ("url", "loop"),
    ),
    Case(
        "api-date-year-999",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        body({"url": ARTICLE, "date": "0999-12-31"}),
        ("date", "year"),
    ),
    Case(
        "api-date-year-1",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        body({"url": ARTICLE, "date": "0001-01-01"}),
        ("date", "year"),
    ),
    Case(
        "api-expiry-year-9999",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        body({"url": ARTICLE, "expires_at": "9999-12-31T23:59:59-14:00"}),
        ("expires_at", "iso8601"),
    ),
    Case(
        "api-unknown-field",
        "POST",
        "/api/links",
        422,
        "invalid_field",
        AUTH,
        body({"url": ARTICLE, "colour": "red"}),
        ("colour", "unknown_field"),
    ),
    Case(
        "api-too-large",
        "POST",
        "/api/links",
        413,
        "too_large",
        AUTH,
        body({"url": ARTICLE, "title": "x" * 300_000}),
    ),
    Case(
        "batch-empty",
        "POST",
        "/api/links/batch",
        422,
        "invalid_field",
        AUTH,
        body({"links": []}),
        ("links", "count"),
    ),
    Case(
        "batch-surrogate",
        "POST",
        "/api/links/batch",
        422,
        "invalid_field",
        AUTH,
        b'{"links": [{"url": "' + ARTICLE.encode() + b'"}, {"title": "a\\udc80"}]}',
        ("links[1].title", "unicode"),
    ),
    Case(
        "batch-huge-number",
        "POST",
        "/api/links/batch",
        422,
        "invalid_field",
        AUTH,
        b'{"links": [{"url": ' + b"1" * 4400 + b"}]}",
        ("links[0].url", "number"),
    ),
    Case("show-malformed", "GET", "/api/links/hello", 400, "malformed_code", AUTH),
    Case("show-year-1-code", "GET", "/api/links/NW000101011234567890", 400, "malformed_code", AUTH),
    Case("show-unknown", "GET", f"/api/links/{UNKNOWN}", 404, "unknown_code", AUTH),
    Case(
        "patch-surrogate",
        "PATCH",
        "/api/links/{code}",
        422,
        "invalid_field",
        AUTH,
        b'{"title": "\\ud83d"}',
        ("title", "unicode"),
    ),
    Case(
        "patch-bad-disabled",
        "PATCH",
        "/api/links/{code}",
        422,
        "invalid_field",
        AUTH,
        body({"disabled": "yes"}),
        ("disabled", "boolean"),
    ),
    Case(
        "patch-unknown",
        "PATCH",
        f"/api/links/{UNKNOWN}",
        404,
        "unknown_code",
        AUTH,
        body({"title": "x"}),
    ),
    Case("delete-unknown", "DELETE", f"/api/links/{UNKNOWN}", 404, "unknown_code", AUTH),
    Case("list-bad-limit", "GET", "/api/links?limit=0", 400, "bad_parameter", AUTH),
    Case("list-huge-limit", "GET", "/api/links?limit=" + "9" * 5000, 400, "bad_parameter", AUTH),
    Case("list-bad-cursor", "GET", "/api/links?cursor=x", 400, "bad_parameter", AUTH),
    Case("stats-unknown", "GET", f"/api/links/{UNKNOWN}/stats", 404, "unknown_code", AUTH),
    Case(
        "stats-bad-date",
        "GET",
        "/api/links/{code}/stats?from=yesterday",
        400,
        "bad_parameter",
        AUTH,
    ),
    Case(
        "stats-reversed",
        "GET",
        "/api/links/{code}/stats?from=0001-01-02&to=0001-01-01",
        400,
        "bad_parameter",
        AUTH,
    ),
    # redirects, previews and QR codes, for clients that ask for JSON
    Case("short-unknown", "GET", f"/s/{UNKNOWN}", 404, "unknown_code", JSON),
    Case("short-unknown-problem", "GET", f"/s/{UNKNOWN}", 404, "unknown_code", PROBLEM),
    Case("scan-malformed", "GET", "/S/hello", 400, "malformed_code", JSON),
    Case("short-year-1", "GET", "/s/NW000101011234567890", 400, "malformed_code", JSON),
    Case(
        "legacy-empty", "GET", "/html_News/NewsShare.html?infoCode=", 400, "malformed_code", PROBLEM
    ),
    Case(
        "legacy-unknown",
        "GET",
        f"/html_News/NewsShare.html?infoCode={UNKNOWN}&from=x",
        404,
        "unknown_code",
        JSON,
    ),
    Case("short-disabled", "GET", "/s/{disabled}", 410, "gone", JSON),
    Case("preview-unknown", "GET", f"/s/{UNKNOWN}+", 404, "unknown_code", JSON),
    Case("preview-malformed", "GET", "/s/NW2022+", 400, "malformed_code", PROBLEM),
    Case("qr-kind", "GET", f"/qr/{UNKNOWN}.gif", 404, "not_found", JSON),
    Case("qr-unknown", "GET", f"/qr/{UNKNOWN}.svg", 404, "unknown_code", JSON),
    Case("qr-scale", "GET", "/qr/{code}.png?scale=" + "9" * 5000, 400, "bad_scale", JSON),
    # feeds
    Case("feed-format", "GET", "/feeds/all.xml", 404, "not_found", JSON),
    Case("feed-page", "GET", "/feeds/all/page/0.rss", 404, "not_found"),
    Case("feed-tag", "GET", "/feeds/tag/%ED%A0%80.rss", 404, "not_found", PROBLEM),
    # the WebSub hub
    Case(
        "websub-json",
        "POST",
        "/websub",
        415,
        "unsupported_media_type",
        {"Content-Type": "application/json"},
        b"{}",
    ),
    Case(
        "websub-charset",
        "POST",
        "/websub",
        415,
        "unsupported_media_type",
        {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
        b"hub.mode=x",
    ),
    Case(
        "websub-not-utf8", "POST", "/websub", 400, "malformed_request", FORM, b"hub.mode=\xff\xfe"
    ),
    Case(
        "websub-mode",
        "POST",
        "/websub",
        400,
        "invalid_field",
        FORM,
        b"hub.mode=publish",
        ("hub.mode", "mode"),
    ),
    Case(
        "websub-lease-zero",
        "POST",
        "/websub",
        400,
        "invalid_field",
        FORM,
        (SUBSCRIBE + "http://example.com/cb&hub.lease_seconds=" + "0" * 5000).encode(),
        ("hub.lease_seconds", "positive_integer"),
    ),
    Case(
        "websub-private",
        "POST",
        "/websub",
        403,
        "callback_refused",
        FORM,
        (SUBSCRIBE + "http://127.0.0.1:9/cb").encode(),
    ),
]


@pytest.fixture
def shape_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(site__url=SITE, api__keys=[KEY])


async def made(client: TestClient, url: str, **changes: Any) -> str:
    response = await client.post("/api/links", json={"url": url}, headers=AUTH)
    code = (await response.json())["code"]
    if changes:
        await client.patch(f"/api/links/{code}", json=changes, headers=AUTH)
    return code


async def answer(client: TestClient, case: Case, path: str) -> tuple[int, Any, bytes]:
    response = await client.request(
        case.method, path, data=case.body, headers=case.headers, allow_redirects=False
    )
    return response.status, response.headers, await response.read()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_every_error_is_problem_details(
    aiohttp_client: Callable[..., Any], shape_settings: Settings, case: Case
) -> None:
    client = await aiohttp_client(create_app(shape_settings))
    path = case.path
    if "{code}" in path:
        path = path.replace("{code}", await made(client, ARTICLE))
    if "{disabled}" in path:
        path = path.replace("{disabled}", await made(client, SITE + "/off.html", disabled=True))
    status, headers, raw = await answer(client, case, path)
    assert status == case.status, raw[:500]
    problem = check_problem(status, headers, raw)
    assert problem["type"] == problem_type(case.kind)
    if case.error:
        assert (problem["errors"][0]["field"], problem["errors"][0]["rule"]) == case.error


BROWSER_CASES = [case for case in CASES if case.headers in (JSON, PROBLEM)]


@pytest.mark.parametrize("case", BROWSER_CASES, ids=[case.name for case in BROWSER_CASES])
async def test_browsers_keep_html_error_pages(
    aiohttp_client: Callable[..., Any], shape_settings: Settings, case: Case
) -> None:
    client = await aiohttp_client(create_app(shape_settings))
    path = case.path.replace("{code}", UNKNOWN)
    if "{disabled}" in path:
        path = path.replace("{disabled}", await made(client, SITE + "/off.html", disabled=True))
    response = await client.request(case.method, path, headers=BROWSER, allow_redirects=False)
    assert response.status == case.status
    assert response.content_type == "text/html"
    assert f'href="{SITE}/"' in await response.text()


DEAD_CASES = [
    Case("api", "POST", "/api/links", 503, "unavailable", AUTH, body({"url": ARTICLE})),
    Case("short", "GET", f"/s/{UNKNOWN}", 503, "unavailable", JSON),
    Case(
        "legacy",
        "GET",
        f"/html_News/NewsShare.html?infoCode={UNKNOWN}",
        503,
        "unavailable",
        PROBLEM,
    ),
    Case("preview", "GET", f"/s/{UNKNOWN}+", 503, "unavailable", JSON),
    Case("qr", "GET", f"/qr/{UNKNOWN}.svg", 503, "unavailable", JSON),
    Case("readyz", "GET", "/readyz", 503, "unavailable"),
    Case(
        "websub",
        "POST",
        "/websub",
        503,
        "unavailable",
        FORM,
        (SUBSCRIBE + "http://127.0.0.1:9/cb").encode(),
    ),
]


@pytest.mark.parametrize("case", DEAD_CASES, ids=[case.name for case in DEAD_CASES])
async def test_an_unreachable_redis_is_a_503_problem_with_retry_after(
    aiohttp_client: Callable[..., Any], shape_settings: Settings, tmp_path: Any, case: Case
) -> None:
    # private callbacks allowed: nothing is resolved, and 127.0.0.1:9 is never contacted
    dead = shape_settings.replace(
        redis__url=f"unix://{tmp_path}/nobody.sock", websub__allow_private_callbacks=True
    )
    client = await aiohttp_client(create_app(dead))
    status, headers, raw = await answer(client, case, case.path)
    assert status == 503, raw[:500]
    assert check_problem(status, headers, raw)["type"] == problem_type("unavailable")


LIMITED_CASES = [
    Case("api-create", "POST", "/api/links", 429, "rate_limited", AUTH, body({"url": ARTICLE})),
    Case("short-scan", "GET", f"/s/{UNKNOWN}", 429, "rate_limited", JSON),
    Case("qr-scan", "GET", f"/S/{UNKNOWN}", 429, "rate_limited", PROBLEM),
    Case(
        "legacy-scan",
        "GET",
        f"/html_News/NewsShare.html?infoCode={UNKNOWN}",
        429,
        "rate_limited",
        JSON,
    ),
]


@pytest.mark.parametrize("case", LIMITED_CASES, ids=[case.name for case in LIMITED_CASES])
async def test_rate_limits_are_429_problems_with_retry_after(
    aiohttp_client: Callable[..., Any], shape_settings: Settings, case: Case
) -> None:
    client = await aiohttp_client(
        create_app(
            shape_settings.replace(
                shortlinks__rate_create_per_key=1,
                shortlinks__rate_scan_per_address=1,
                shortlinks__rate_window=86400,
            )
        )
    )
    await answer(client, case, case.path)
    status, headers, raw = await answer(client, case, case.path)
    assert status == 429, raw[:500]
    assert check_problem(status, headers, raw)["type"] == problem_type("rate_limited")
