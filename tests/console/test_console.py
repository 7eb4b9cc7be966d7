"""The newsroom console over real HTTP on the real test Redis: signing in, sessions, CSRF,
the security headers, roles, the link actions and what they do to the redirect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from tests.console.support import HTTP_SITE, PASSWORD, add_user, as_role, csrf_of, post, sign_in
from tests.shortlinks_support import ARTICLE, AUTH, SITE, WECHAT_UA, create, service

PAGES = ("/console/", "/console/links", "/console/new", "/console/feeds")
ADMIN_PAGES = ("/console/users", "/console/keys")


async def test_sign_in_reaches_the_dashboard_and_sign_out_ends_the_session(web: TestClient) -> None:
    assert (await web.get("/console/", allow_redirects=False)).headers["Location"] == (
        "/console/login"
    )
    await add_user(web, "li", "viewer")
    response = await sign_in(web, "li")
    assert response.status == 303 and response.headers["Location"] == "/console/"
    page = await web.get("/console/")
    assert page.status == 200 and 'id="sign-out"' in await page.text()
    cookie = web.session.cookie_jar.filter_cookies(web.make_url("/console/"))["finews_console"]
    out = await post(web, "/console/logout", csrf_of(await page.text()))
    assert out.status == 303
    web.session.cookie_jar.update_cookies({"finews_console": cookie.value})  # replayed
    again = await web.get("/console/", allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == "/console/login"


async def test_a_wrong_password_is_refused(web: TestClient) -> None:
    await add_user(web, "li", "editor")
    response = await sign_in(web, "li", "not the password")
    assert response.status == 401
    assert 'class="error"' in await response.text()
    assert (await web.get("/console/", allow_redirects=False)).status == 303


async def test_sign_in_attempts_are_limited_per_name(web: TestClient) -> None:
    await add_user(web, "li", "editor")
    for _ in range(3):
        assert (await sign_in(web, "li", "guess")).status == 401
    limited = await sign_in(web, "li", PASSWORD)  # even the right password now waits
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


async def test_sign_in_attempts_are_limited_per_address_across_names(
    aiohttp_client: Callable[..., Any], console_settings: Settings, clock: FrozenClock
) -> None:
    settings = console_settings.replace(console__login_per_address=4)
    web = await aiohttp_client(create_app(settings, clock=clock))
    for n in range(4):  # a different name each time: only the address ties them together
        assert (await sign_in(web, f"guess{n}", "guess")).status == 401
    await add_user(web, "li", "editor")
    limited = await sign_in(web, "li", PASSWORD)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0


async def test_a_session_ends_when_it_expires(web: TestClient, clock: FrozenClock) -> None:
    await as_role(web, "viewer")
    assert (await web.get("/console/links")).status == 200
    clock.advance(43200 + 1)  # console.session_seconds
    response = await web.get("/console/links", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/login"


@pytest.mark.parametrize(("site", "secure"), [(HTTP_SITE, False), (SITE, True)])
async def test_the_session_cookie_is_httponly_strict_and_secure_on_https(
    aiohttp_client: Callable[..., Any], console_settings: Settings, site: str, secure: bool
) -> None:
    client = await aiohttp_client(create_app(console_settings.replace(site__url=site)))
    await add_user(client, "li", "viewer")
    form = await client.get("/console/login")
    login_cookie = form.cookies["finews_console_login"]
    assert login_cookie["httponly"] and bool(login_cookie["secure"]) is secure
    response = await client.post(  # sent by hand: no client sends a Secure cookie over HTTP
        "/console/login",
        data={"name": "li", "password": PASSWORD, "csrf": csrf_of(await form.text())},
        headers={"Cookie": f"finews_console_login={login_cookie.value}"},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = response.cookies["finews_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert bool(cookie["secure"]) is secure


async def test_a_post_without_the_csrf_token_is_refused_with_a_page(web: TestClient) -> None:
    await as_role(web, "editor")
    response = await web.post("/console/new", data={"url": ARTICLE}, allow_redirects=False)
    assert response.status == 403
    assert "text/html" in response.headers["Content-Type"] and 'class="error"' in (
        await response.text()
    )
    wrong = await post(web, "/console/new", "forged", url=ARTICLE)
    assert wrong.status == 403
    assert (await web.get("/api/links", headers=AUTH)).status == 200
    assert (await (await web.get("/api/links", headers=AUTH)).json())["links"] == []


async def test_every_page_sends_a_csp_without_unsafe_inline_and_no_inline_code(
    web: TestClient,
) -> None:
    link = await create(web, title="Library")
    pages = [*PAGES, *ADMIN_PAGES, f"/console/links/{link['code']}"]
    login = await web.get("/console/login")
    answers = [login]
    await as_role(web, "admin")
    answers += [await web.get(path) for path in pages]
    for response in answers:
        assert response.status == 200, response.url
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp, response.url
        text = await response.text()
        assert "<script>" not in text and "<style" not in text and " style=" not in text
        assert '<meta name="viewport"' in text


async def test_a_viewer_reads_everything_and_changes_nothing(web: TestClient) -> None:
    link = await create(web)
    code = link["code"]
    csrf = await as_role(web, "viewer")
    for path in [*PAGES, f"/console/links/{code}"]:
        assert (await web.get(path)).status == 200, path
    page = await (await web.get(f"/console/links/{code}")).text()
    assert 'id="disable"' not in page and 'id="retarget"' not in page
    for action in ("retarget", "disable", "enable", "expire", "delete", "restore"):
        response = await post(web, f"/console/links/{code}/{action}", csrf, url=ARTICLE + "?x")
        assert response.status == 403, action
    assert (await post(web, "/console/new", csrf, url=ARTICLE + "?new")).status == 403
    for path in ADMIN_PAGES:
        assert (await web.get(path)).status == 403
    after = await (await web.get(f"/api/links/{code}", headers=AUTH)).json()
    assert after["status"] == "active" and after["target"] == ARTICLE


async def test_an_editor_makes_and_changes_a_link_and_the_redirect_follows(
    web: TestClient,
) -> None:
    csrf = await as_role(web, "editor")
    made = await post(web, "/console/new", csrf, url=ARTICLE)
    assert made.status == 303
    location = made.headers["Location"]
    code = location.split("/")[-1].split("?")[0]
    page = await (await web.get(location)).text()
    assert 'class="notice"' in page and f"infoCode={code}" in page and 'id="qr"' in page
    assert (await web.get(f"/s/{code}", allow_redirects=False)).headers["Location"] == ARTICLE

    other = f"{SITE}/2022/05/25/harbour.html"
    assert (await post(web, f"/console/links/{code}/retarget", csrf, url=other)).status == 303
    assert (await web.get(f"/s/{code}", allow_redirects=False)).headers["Location"] == other
    refused = await post(web, f"/console/links/{code}/retarget", csrf, url="https://evil.example/")
    assert refused.status == 422 and 'class="error"' in await refused.text()

    assert (await post(web, f"/console/links/{code}/disable", csrf)).status == 303
    assert (await web.get(f"/s/{code}", allow_redirects=False)).status == 410
    assert (await post(web, f"/console/links/{code}/enable", csrf)).status == 303
    assert (await web.get(f"/s/{code}", allow_redirects=False)).status in (301, 302, 307, 308)

    assert (await post(web, f"/console/links/{code}/delete", csrf)).status == 303
    assert (await web.get(f"/s/{code}", allow_redirects=False)).status == 410
    blocked = await post(web, f"/console/links/{code}/retarget", csrf, url=ARTICLE)
    assert blocked.status == 410 and "restore" in await blocked.text()
    restored = await post(web, f"/console/links/{code}/restore", csrf)
    assert restored.status == 303
    assert (await web.get(f"/s/{code}", allow_redirects=False)).headers["Location"] == other


async def test_the_link_page_counts_wechat_clicks(web: TestClient) -> None:
    link = await create(web)
    for n in range(3):
        headers = {"User-Agent": WECHAT_UA, "X-Forwarded-For": f"10.0.0.{n}"}
        await web.get(f"/s/{link['code']}", headers=headers, allow_redirects=False)
    await service(web).writer.flush()
    await as_role(web, "viewer")
    page = await (await web.get(f"/console/links/{link['code']}")).text()
    assert '<dd id="clicks-total">3</dd>' in page
    assert '<tr data-source="wechat"><td>wechat</td><td class="count num">3</td>' in page


async def test_a_script_in_a_title_is_shown_as_text(web: TestClient) -> None:
    link = await create(web, title="<script>alert(1)</script>")
    await as_role(web, "viewer")
    for path in ("/console/links", f"/console/links/{link['code']}"):
        text = await (await web.get(path)).text()
        assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text


async def test_links_are_searched_and_listed(web: TestClient) -> None:
    first = await create(web, title="集美图书馆")
    second = await create(web, url=f"{SITE}/2022/05/25/harbour.html", title="Harbour")
    await as_role(web, "viewer")
    text = await (await web.get("/console/links", params={"q": "图书馆"})).text()
    assert f'data-code="{first["code"]}"' in text and f'data-code="{second["code"]}"' not in text
    text = await (await web.get("/console/links", params={"sort": "clicks"})).text()
    assert f'data-code="{first["code"]}"' in text and f'data-code="{second["code"]}"' in text
