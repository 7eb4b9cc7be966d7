"""Pages readers open, in a real headless Chromium against a real `finews serve`: the share
preview in Chinese on a phone, its QR code, and the 404 page of an English site."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer

By = pytest.importorskip("selenium.webdriver.common.by", reason="no selenium").By

TITLE = "集美新图书馆开放"
UNKNOWN = "NW202205240000000001"


def make_link(server: LiveServer) -> dict[str, Any]:
    answer = server.api(
        "/api/links",
        {"url": f"{server.url}/2022/05/24/jimei.html", "title": TITLE, "date": "2022-05-24"},
    )
    assert answer.status == 201, answer.body
    return answer.json()


def test_the_chinese_preview_reads_on_a_phone_and_its_qr_decodes_to_the_share_link(
    live_server: Callable[..., LiveServer],
    phone: Any,
    screenshot: Callable[[str], Path],
    decode_qr: Callable[[bytes], str],
) -> None:
    server = live_server(site__language="zh-CN")
    link = make_link(server)
    code = link["code"]
    phone.get(f"{server.url}/s/{code}+")
    assert phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    assert TITLE in phone.title
    body = phone.find_element(By.TAG_NAME, "body").text
    assert body.count(TITLE) == 1, body
    assert "2022年5月24日" in body and "阅读全文" in body
    width, scrolled = phone.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth]"
    )
    assert width == 390 and scrolled <= width, (width, scrolled)
    qr_image = phone.find_element(By.CSS_SELECTOR, "figure.qr img")
    assert phone.execute_script("return arguments[0].naturalWidth", qr_image) > 0  # it loaded
    shot = screenshot("browser-preview-zh-CN-phone")
    assert shot.read_bytes().startswith(b"\x89PNG")

    png_link = phone.find_element(By.CSS_SELECTOR, f'a[href$="/qr/{code}.png"]')
    png_path = urllib.parse.urlsplit(png_link.get_attribute("href")).path
    png = server.get(png_path)
    assert png.status == 200 and png.headers["Content-Type"] == "image/png"
    scanned = decode_qr(png.body)
    assert scanned == f"{server.url}/S/{code}".upper()
    followed = server.get(urllib.parse.urlsplit(scanned).path)
    assert followed.status in (301, 302, 307, 308)
    assert followed.headers["Location"] == f"{server.url}/2022/05/24/jimei.html"
    assert link["share_url"].endswith(f"infoCode={code}")


def test_the_404_page_of_an_english_site_is_in_english(
    live_server: Callable[..., LiveServer],
    desktop: Any,
    screenshot: Callable[[str], Path],
) -> None:
    server = live_server(site__language="en-GB")
    desktop.get(f"{server.url}/s/{UNKNOWN}")
    assert desktop.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en-GB"
    text = desktop.find_element(By.TAG_NAME, "body").text
    assert "Share link not found" in text
    assert "找不到" not in text
    screenshot("browser-404-en-GB-desktop")
    assert desktop.execute_script("return window.innerWidth") == 1280
