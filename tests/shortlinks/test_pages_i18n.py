"""Pages readers see, in site.language: the share preview, the 404/410/429 pages and the
feeds' HTML views, over real HTTP; and rendered in headless Chromium where it is installed
(Debian's `chromium`; the browser tests skip, saying so, where it is not). Screenshots go
to var/screenshots/ (git-ignored)."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from shortlinks.store import Link
from tests.shortlinks_support import AUTH, KEY, NOON_UTC, SITE, create, service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"
)
UNKNOWN = "NW202205240000000001"
SERVED = web.AppKey("served", list)


@pytest.fixture
def served(make_settings: Callable[..., Settings], tmp_path: Path) -> Callable[..., Any]:
    """A client for an app whose site speaks `language`; it records the paths it served."""

    async def make(aiohttp_client: Callable[..., Any], language: str) -> TestClient:
        settings = make_settings(
            site__url=SITE, site__language=language, api__keys=[KEY], posts__dir=str(tmp_path)
        )
        app = create_app(settings, clock=FrozenClock(NOON_UTC))
        app[SERVED] = []

        async def record(request: web.Request, response: web.StreamResponse) -> None:
            request.app[SERVED].append(request.path)

        app.on_response_prepare.append(record)
        return await aiohttp_client(app)

    return make


async def preview_link(client: TestClient) -> str:
    """A post-like link: title, summary and a publication day."""
    code = (
        await create(
            client, f"{SITE}/2022/05/24/jimei.html", title="集美新图书馆开放", date="2022-05-24"
        )
    )["code"]
    store = service(client).store
    link = await store.get(code)
    assert link is not None
    await store.redis.set(f"finews:shortlinks:{{{code}}}:link", _with_summary(link).dumps())
    return code


def _with_summary(link: Link) -> Link:
    from dataclasses import replace

    return replace(link, summary="新馆藏书一百万册，周一至周日开放。")


async def test_the_preview_page_in_chinese_shows_title_once_date_summary_and_qr(
    aiohttp_client: Callable[..., Any], served: Callable[..., Any]
) -> None:
    client = await served(aiohttp_client, "zh-CN")
    code = await preview_link(client)
    page = await (await client.get(f"/s/{code}+")).text()
    assert '<html lang="zh-CN">' in page and 'name="viewport"' in page
    assert page.count("集美新图书馆开放") == 2  # <title> and <h1>, once on the page
    assert "2022年5月24日" in page and "新馆藏书一百万册" in page and "阅读全文" in page
    for kind in ("pdf", "eps", "svg", "png"):
        assert f"/qr/{code}.{kind}" in page
    style = await client.get("/assets/share.css")
    assert style.status == 200 and style.content_type == "text/css"
    assert "@media print" in await style.text() and 'href="/assets/share.css"' in page


async def test_error_pages_speak_the_site_language(
    aiohttp_client: Callable[..., Any], served: Callable[..., Any]
) -> None:
    en = await served(aiohttp_client, "en-GB")
    missing = await en.get(f"/s/{UNKNOWN}", allow_redirects=False)
    assert "Share link not found" in await missing.text()
    assert '<html lang="en-GB">' in await missing.text()
    home = await (await en.get("/", headers={"Accept": "text/html"})).text()
    assert "OPML subscription list" in home

    zh = await served(aiohttp_client, "zh-CN")
    code = (await create(zh))["code"]
    assert (
        await zh.patch(f"/api/links/{code}", json={"disabled": True}, headers=AUTH)
    ).status == 200
    gone = await zh.get(f"/s/{code}", allow_redirects=False)
    assert gone.status == 410 and "这个分享链接已失效" in await gone.text()
    missing = await zh.get(f"/s/{UNKNOWN}", allow_redirects=False)
    assert missing.status == 404 and "找不到这个分享链接" in await missing.text()
    limit = service(zh).settings.shortlinks.rate_scan_per_address
    for n in range(limit + 1):
        last = await zh.get(f"/s/NW20220524{n:010d}", allow_redirects=False)
    assert last.status == 429
    text = await last.text()
    assert "请求过于频繁" in text and f"请在 {last.headers['Retry-After']} 秒后重试" in text
    feeds_404 = await zh.get("/feeds/nothing.rss", headers={"Accept": "text/html"})
    assert feeds_404.status == 404 and "这个地址没有订阅源或页面" in await feeds_404.text()


async def browse(url: str, *flags: str) -> str:
    """Chromium (headless, on loopback only) on `url`; its standard output."""
    process = await asyncio.create_subprocess_exec(
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        *flags,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return out.decode()


@pytest.mark.browser
@needs_chromium
async def test_chromium_renders_the_chinese_preview_and_410_pages_with_the_stylesheet(
    aiohttp_client: Callable[..., Any], served: Callable[..., Any]
) -> None:
    client = await served(aiohttp_client, "zh-CN")
    code = await preview_link(client)
    url = str(client.make_url(f"/s/{code}+"))
    dom = await browse(url, "--dump-dom")
    assert re.search(r"<h1>集美新图书馆开放</h1>", dom) and "2022年5月24日" in dom
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "preview-zh-CN-phone.png"
    shot.unlink(missing_ok=True)
    await browse(
        url,
        f"--screenshot={shot}",
        "--window-size=390,844",
        "--hide-scrollbars",
    )
    assert shot.read_bytes().startswith(b"\x89PNG")
    assert int.from_bytes(shot.read_bytes()[16:20], "big") == 390
    await client.patch(f"/api/links/{code}", json={"disabled": True}, headers=AUTH)
    service(client).redirector.forget(code)
    dom = await browse(str(client.make_url(f"/s/{code}")), "--dump-dom")
    assert "这个分享链接已失效" in dom and "返回首页" in dom
    assert {"/assets/share.css", f"/qr/{code}.svg"} <= set(client.app[SERVED])  # loaded
