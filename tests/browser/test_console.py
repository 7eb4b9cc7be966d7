"""The newsroom console in a real headless Chromium against a real `finews serve` (issue 12):
an editor signs in, makes a link from a post, watches WeChat clicks arrive, downloads and
decodes the QR code and disables the link; a viewer changes nothing; a form without its
CSRF token is refused; a post title carrying `<script>` shows as text; every page reads on
a phone; signing out ends the session.

One server for the module, on a Redis of its own (the suite's shared Redis is flushed before
every test that uses it, which would end the module's sessions), and the session's one
browser. Users are added with `finews users add` like an operator would.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from finews.embedded_redis import EmbeddedRedis
from tests.browser.conftest import API_KEY, LiveServer
from tests.envs import clean_env
from tests.serving import ROOT, Serve, free_port, request, until, write_post
from tests.shortlinks_support import WECHAT_UA

pytest.importorskip("selenium", reason="no selenium")
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

PASSWORD = "correct horse battery staple"
ROLES = {"li": "editor", "wang": "viewer", "zhao": "admin"}
LIBRARY = "集美新图书馆开放"
METRO = "厦门地铁三号线通车"
SCRIPT = "<script>alert(1)</script>"
HOSTILE = f"{SCRIPT} 标题里的脚本"
# Tags in a front-matter title are stripped when posts are parsed; written as entities they
# are the title's text, which is how `<script>` reaches the console in a title.
POSTS = {1: LIBRARY, 2: METRO, 3: HOSTILE.replace("<", "&lt;").replace(">", "&gt;")}
CHANGES = "#disable, #enable, #delete, #restore, #retarget, #expire, #create, button.pick"
SESSION_COOKIE = "finews_console"
FINEWS = (sys.executable, "-m", "finews")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`finews serve` with three posts, on its own embedded Redis, and its three users
    (editor li, viewer wang, admin zhao) added through the CLI."""
    tmp = tmp_path_factory.mktemp("console")
    redis = EmbeddedRedis(tmp / "redis")
    redis.start()
    posts = tmp / "posts"
    posts.mkdir()
    for n, title in POSTS.items():
        write_post(posts, n, title)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {
        "redis__url": redis.url,
        "posts__dir": str(posts),
        "site__url": url,
        "api__keys": API_KEY,
        "server__host": "127.0.0.1",
        # Every test signs in afresh (successful sign-ins count too): more than the default 5.
        "console__login_per_name": "50",
    }
    serve = Serve(tmp, "console", port=port, **settings)
    try:
        env = clean_env(
            FINEWS_DATA__DIR=str(tmp / "cli-data"),
            **{f"FINEWS_{key.upper()}": value for key, value in settings.items()},
        )
        adding = [
            subprocess.Popen(
                [*FINEWS, "users", "add", name, "--role", role, "--password-stdin"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, role in ROLES.items()
        ]
        for process in adding:
            out, err = process.communicate(PASSWORD + "\n", timeout=60)
            assert process.returncode == 0, err
            assert out.startswith("added "), out
        live = LiveServer(url, port, API_KEY, serve)
        published = "标题里的脚本".encode()  # the hostile post, escaped in the feed
        until(lambda: published in live.get("/feeds/all.atom").body, "posts published")
        yield live
    finally:
        serve.stop()
        redis.stop()


@pytest.fixture
def driver(desktop: Any) -> Iterator[Any]:
    """The session's browser, desktop-sized; the console's cookies are gone afterwards
    (cookies ignore the port: the next live server on 127.0.0.1 would see them)."""
    yield desktop
    desktop.delete_all_cookies()


def sign_in(driver: Any, server: LiveServer, name: str) -> None:
    """Through the login form, as a person would; lands on the dashboard."""
    driver.get(f"{server.url}/console/login")
    driver.delete_all_cookies()  # whoever was signed in before
    driver.get(f"{server.url}/console/login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    submit(driver, driver.find_element(By.ID, "sign-in"))
    assert driver.current_url == f"{server.url}/console/", driver.current_url
    assert name in driver.find_element(By.ID, "sign-out").text


def submit(driver: Any, button: Any) -> None:
    """Click a submit button and wait for the page it leads to."""
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(old))


def answered(driver: Any) -> int:
    """The HTTP status of the page the browser shows."""
    return int(
        driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")
    )


def no_alert(driver: Any) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018  (reading it is the check)


def make_link(server: LiveServer, slug: str, title: str) -> str:
    """A link made through the API (setup for tests about other things); its code."""
    answer = server.api(
        "/api/links", {"url": f"{server.url}/2024/01/09/{slug}.html", "title": title}
    )
    assert answer.status == 201, answer.body
    return str(answer.json()["code"])


def follow(server: LiveServer, share_url: str, user_agent: str = WECHAT_UA) -> Any:
    """One click on a share URL (plain HTTP, redirects not followed)."""
    parts = urllib.parse.urlsplit(share_url)
    assert f"{parts.scheme}://{parts.netloc}" == server.url, share_url
    path = urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))
    return request(server.port, path, {"User-Agent": user_agent})


def open_link(driver: Any, server: LiveServer, code: str) -> None:
    driver.get(f"{server.url}/console/links/{code}")
    assert driver.find_element(By.TAG_NAME, "h1").is_displayed()


def wechat_count(driver: Any) -> int | None:
    rows = driver.find_elements(By.CSS_SELECTOR, 'tr[data-source="wechat"] td.count')
    return int(rows[0].text) if rows else None


def pick_post(driver: Any, server: LiveServer, words: str, title: str) -> None:
    """Search the posts on the new-link page and make the link of the one titled `title`."""
    driver.get(f"{server.url}/console/new")
    search = driver.find_element(By.NAME, "post_q")
    search.send_keys(words)
    submit(driver, search.find_element(By.XPATH, "following-sibling::button"))
    found = driver.find_elements(By.CSS_SELECTOR, "ul.posts li form")
    titles = [form.find_element(By.CSS_SELECTOR, ".post-title").text for form in found]
    assert title in titles, titles
    submit(driver, found[titles.index(title)].find_element(By.CSS_SELECTOR, "button.pick"))


def test_an_editor_signs_in_and_makes_a_link_from_a_post_found_by_title(
    server: LiveServer, driver: Any, screenshot: Callable[[str], Path]
) -> None:
    driver.get(f"{server.url}/console/links")
    assert driver.current_url == f"{server.url}/console/login"  # no session yet
    screenshot("console-login")
    sign_in(driver, server, "li")
    screenshot("console-dashboard-editor")
    pick_post(driver, server, "图书馆", LIBRARY)
    code = driver.current_url.rsplit("/", 1)[1].split("?")[0]
    # Every published post already holds a share code (shortlinks/share.py): picking it
    # gives that link, said so in the notice.
    assert driver.current_url == f"{server.url}/console/links/{code}?done=existing"
    assert driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert driver.find_element(By.TAG_NAME, "h1").text == LIBRARY
    target = driver.find_element(By.ID, "target").text
    assert target.startswith(f"{server.url}/") and target.endswith("post-1.html"), target
    share_url = driver.find_element(By.ID, "share-url").text
    assert share_url.endswith(f"infoCode={code}"), share_url
    screenshot("console-link-created")
    hop = follow(server, share_url)
    assert hop.status == 302 and hop.headers["Location"] == target
    driver.get(f"{server.url}/console/links?q=图书馆")
    assert driver.find_elements(By.CSS_SELECTOR, f'tr[data-code="{code}"]')
    screenshot("console-links-search")

    pasted = f"{server.url}/2024/01/10/pasted.html"  # a URL no post has: a new link
    driver.get(f"{server.url}/console/new")
    driver.find_element(By.NAME, "url").send_keys(pasted)
    submit(driver, driver.find_element(By.ID, "create"))
    new_code = driver.current_url.rsplit("/", 1)[1].split("?")[0]
    assert driver.current_url == f"{server.url}/console/links/{new_code}?done=created"
    assert new_code != code and driver.find_element(By.ID, "target").text == pasted
    hop = follow(server, driver.find_element(By.ID, "share-url").text)
    assert hop.status == 302 and hop.headers["Location"] == pasted


def test_three_wechat_clicks_show_in_the_total_and_the_wechat_row(
    server: LiveServer, driver: Any, screenshot: Callable[[str], Path]
) -> None:
    code = make_link(server, "wechat-clicks", "微信里转发的文章")
    sign_in(driver, server, "li")
    open_link(driver, server, code)
    assert driver.find_element(By.ID, "clicks-total").text == "0"
    assert wechat_count(driver) is None
    share_url = driver.find_element(By.ID, "share-url").text
    for _ in range(3):
        assert follow(server, share_url).status == 302

    def counted() -> bool:  # the visit writer flushes every 0.5 s
        open_link(driver, server, code)
        return driver.find_element(By.ID, "clicks-total").text == "3"

    until(counted, "three clicks on the link's page", 15)
    assert wechat_count(driver) == 3
    screenshot("console-link-wechat-clicks")


def test_the_qr_downloads_decode_to_the_scan_url_and_print_as_pdf(
    server: LiveServer,
    driver: Any,
    screenshot: Callable[[str], Path],
    decode_qr: Callable[[bytes], str],
) -> None:
    code = make_link(server, "qr-print", "明天见报的二维码")
    sign_in(driver, server, "li")
    open_link(driver, server, code)
    qr = driver.find_element(By.ID, "qr")
    assert driver.execute_script("return arguments[0].naturalWidth", qr) > 0  # it loaded
    hrefs = {
        fmt: driver.find_element(
            By.CSS_SELECTOR, f'a.qr-download[data-format="{fmt}"]'
        ).get_attribute("href")
        for fmt in ("png", "svg", "pdf", "eps")
    }
    paths = {fmt: urllib.parse.urlsplit(href) for fmt, href in hrefs.items()}
    png = server.get(f"{paths['png'].path}?{paths['png'].query}")
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    scanned = decode_qr(png.body)
    assert scanned == f"{server.url}/S/{code}".upper()
    scan = request(server.port, urllib.parse.urlsplit(scanned).path)
    assert scan.status == 302
    assert scan.headers["Location"] == f"{server.url}/2024/01/09/qr-print.html"
    pdf = server.get(f"{paths['pdf'].path}?{paths['pdf'].query}")
    assert pdf.status == 200 and pdf.body.startswith(b"%PDF")
    screenshot("console-link-qr")


def test_disabling_a_link_in_the_page_makes_its_redirect_answer_410(
    server: LiveServer, driver: Any, screenshot: Callable[[str], Path]
) -> None:
    code = make_link(server, "to-disable", "撤下的稿件")
    sign_in(driver, server, "li")
    open_link(driver, server, code)
    share_url = driver.find_element(By.ID, "share-url").text
    assert follow(server, share_url).status == 302
    submit(driver, driver.find_element(By.ID, "disable"))
    assert driver.current_url == f"{server.url}/console/links/{code}?done=disable"
    assert driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert driver.find_elements(By.ID, "enable") and not driver.find_elements(By.ID, "disable")
    screenshot("console-link-disabled")
    assert follow(server, share_url).status == 410


def test_a_viewer_sees_no_change_forms_and_a_change_with_a_valid_token_is_refused(
    server: LiveServer, driver: Any, screenshot: Callable[[str], Path]
) -> None:
    code = make_link(server, "viewer-reads", "只读用户看的稿件")
    sign_in(driver, server, "wang")
    for path in ("/console/", "/console/links", "/console/new", f"/console/links/{code}"):
        driver.get(server.url + path)
        assert driver.find_element(By.TAG_NAME, "h1").is_displayed()
        assert driver.find_elements(By.CSS_SELECTOR, CHANGES) == [], path
        posting = driver.find_elements(By.CSS_SELECTOR, "form[method=post]")
        assert [form.get_attribute("id") for form in posting] == ["sign-out"], path
    assert not driver.find_elements(By.CSS_SELECTOR, 'a[href="/console/new"]')
    screenshot("console-link-viewer")
    token = driver.find_element(By.CSS_SELECTOR, "#sign-out input[name=csrf]").get_attribute(
        "value"
    )
    assert token
    old = driver.find_element(By.TAG_NAME, "html")
    driver.execute_script(
        """const form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        const csrf = document.createElement('input');
        csrf.type = 'hidden'; csrf.name = 'csrf'; csrf.value = arguments[1];
        form.appendChild(csrf); document.body.appendChild(form); form.submit();""",
        f"/console/links/{code}/disable",
        token,
    )
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(old))
    assert answered(driver) == 403
    assert driver.find_element(By.CSS_SELECTOR, ".error").text
    screenshot("console-viewer-refused")
    assert request(server.port, f"/s/{code}").status == 302  # still enabled


def test_a_post_without_the_csrf_token_is_refused(
    server: LiveServer, driver: Any, screenshot: Callable[[str], Path]
) -> None:
    code = make_link(server, "csrf", "跨站请求")
    sign_in(driver, server, "li")
    open_link(driver, server, code)
    removed = driver.execute_script(
        "const input = document.querySelector('form[action$=\"/disable\"] input[name=csrf]');"
        "input.remove(); return input.value"
    )
    assert removed
    submit(driver, driver.find_element(By.ID, "disable"))
    assert answered(driver) == 403
    assert driver.find_element(By.CSS_SELECTOR, ".error").text
    screenshot("console-csrf-refused")
    assert request(server.port, f"/s/{code}").status == 302  # still enabled
    open_link(driver, server, code)
    assert driver.find_elements(By.ID, "disable")


def test_a_post_title_carrying_a_script_shows_as_text(
    server: LiveServer, driver: Any, screenshot: Callable[[str], Path]
) -> None:
    sign_in(driver, server, "li")
    pick_post(driver, server, "alert", HOSTILE)  # the search result shows it as text
    no_alert(driver)
    assert driver.find_element(By.TAG_NAME, "h1").text == HOSTILE
    assert SCRIPT in driver.title
    assert driver.find_elements(By.CSS_SELECTOR, "main script") == []
    screenshot("console-link-script-title")
    driver.get(f"{server.url}/console/links?q=alert")
    no_alert(driver)
    assert SCRIPT in driver.find_element(By.CSS_SELECTOR, "table.links tbody").text
    assert driver.find_elements(By.CSS_SELECTOR, "main script") == []


@pytest.fixture
def phone_driver(phone: Any) -> Iterator[Any]:
    yield phone
    phone.delete_all_cookies()


def test_every_page_reads_on_a_phone_with_its_charts(
    server: LiveServer, phone_driver: Any, screenshot: Callable[[str], Path]
) -> None:
    driver = phone_driver
    code = make_link(server, "on-a-phone", "手机上看的稿件")
    assert follow(server, f"{server.url}/s/{code}").status == 302  # something to chart
    sign_in(driver, server, "zhao")
    charted = {"/console/": 1, f"/console/links/{code}": 4}
    pages = {
        "dashboard": "/console/",
        "links": "/console/links",
        "link": f"/console/links/{code}",
        "new": "/console/new",
        "feeds": "/console/feeds",
        "users": "/console/users",
        "keys": "/console/keys",
    }
    for name, path in pages.items():
        driver.get(server.url + path)
        assert driver.find_element(By.TAG_NAME, "h1").is_displayed(), path
        width, scrolled = driver.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]"
        )
        assert width == 390 and scrolled <= width, (path, width, scrolled)
        charts = driver.find_elements(By.CSS_SELECTOR, ".chart svg, .chart img")
        assert len(charts) >= charted.get(path, 0), path
        for chart in charts:
            assert 0 < chart.size["width"] <= width, (path, chart.size)
        screenshot(f"console-{name}-phone")
    driver.get(f"{server.url}/console/feeds")
    assert driver.find_elements(By.CSS_SELECTOR, 'tr[data-feed="/feeds/all.atom"]')
    driver.get(f"{server.url}/console/users")
    users = driver.find_elements(By.CSS_SELECTOR, "tr[data-user]")
    assert {row.get_attribute("data-user") for row in users} == set(ROLES)


def test_signing_out_ends_the_session(
    server: LiveServer, driver: Any, screenshot: Callable[[str], Path]
) -> None:
    sign_in(driver, server, "li")
    cookie = driver.get_cookie(SESSION_COOKIE)
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    submit(driver, driver.find_element(By.CSS_SELECTOR, "#sign-out button"))
    assert driver.current_url == f"{server.url}/console/login"
    screenshot("console-signed-out")
    driver.get(f"{server.url}/console/links")
    assert driver.current_url == f"{server.url}/console/login"
    driver.add_cookie({"name": SESSION_COOKIE, "value": cookie["value"], "path": "/console/"})
    driver.get(f"{server.url}/console/")  # the old cookie, replayed: the session is gone
    assert driver.current_url == f"{server.url}/console/login"
