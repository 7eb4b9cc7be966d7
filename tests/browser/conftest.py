"""The browser harness: a real `finews serve`, Debian's headless Chromium driven by Selenium,
screenshots a person can look at, and a QR decoder.

Fixtures:
- `live_server(**settings)` starts `finews serve` on 127.0.0.1 and a free port, on the
  suite's Redis (flushed before each test), with `site.url` its own address, `api.keys`
  [LiveServer.api_key] and the posts in `posts_dir` (fill it before or after: the server
  watches it); keyword settings as `section__key="value"`. Returns a LiveServer (`url`,
  `api(...)`); stopped after the test.
- `browser`: one headless Chromium WebDriver for the session, desktop-sized; `phone` and
  `desktop` give the same driver emulating a phone (390 x 844, mobile viewport) or a
  1280 x 900 window.
- `screenshot(name)` saves the current page to var/screenshots/NAME.png (git-ignored).
- `decode_qr(png_bytes)` is the text of the one QR code in a PNG (zxing-cpp).

Only Debian's /usr/bin/chromium and /usr/bin/chromedriver run: Selenium Manager never
does (both paths are given), SE_AVOID_STATS keeps Selenium quiet, and the browser resolves
no name but 127.0.0.1 and sends anything not on loopback to a closed local port, so no
request leaves the machine. Without chromium, chromedriver or selenium the tests skip,
saying which is missing.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.serving import Answer, Serve, free_port, request

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
API_KEY = "browser-test-key"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = (1280, 900)
# Nothing resolves but loopback, and whatever is not loopback goes to a port nobody serves.
LOOPBACK_ONLY = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)
QUIET = (
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--no-pings",
)

os.environ["SE_AVOID_STATS"] = "true"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no {CHROMIUM} (apt-get install chromium)"
    if not CHROMEDRIVER.exists():
        return f"no {CHROMEDRIVER} (apt-get install chromium-driver)"
    for module, package in (("selenium", "selenium"), ("zxingcpp", "zxing-cpp"), ("PIL", "pillow")):
        if importlib.util.find_spec(module) is None:
            return f"no {package} (pip install -e '.[test]')"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a `browser` test, skipped with the reason when it cannot run."""
    here = Path(__file__).parent
    reason = missing()
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class LiveServer:
    """A running `finews serve`: `url` (no trailing slash), its port and API key."""

    url: str
    port: int
    api_key: str
    process: Serve

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return request(self.port, path, headers)

    def api(self, path: str, body: Any | None = None) -> Answer:
        """A request with the bearer key: POST of `body` as JSON when given, else GET."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        return request(self.port, path, headers, data)


@pytest.fixture
def posts_dir(tmp_path: Path) -> Path:
    """The posts the live server publishes (empty until the test writes some)."""
    posts = tmp_path / "posts"
    posts.mkdir()
    return posts


@pytest.fixture
def live_server(
    redis_url: str, tmp_path: Path, posts_dir: Path
) -> Iterator[Callable[..., LiveServer]]:
    started: list[Serve] = []

    def start(**settings: str) -> LiveServer:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        values = {
            "redis__url": redis_url,
            "posts__dir": str(posts_dir),
            "site__url": url,
            "api__keys": API_KEY,
            "server__host": "127.0.0.1",
            **settings,
        }
        serve = Serve(tmp_path, f"serve-{len(started)}", port=port, **values)
        started.append(serve)
        return LiveServer(url, port, API_KEY, serve)

    yield start
    for serve in started:
        serve.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (a WebDriver), desktop-sized."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    for flag in (*LOOPBACK_ONLY, *QUIET):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.set_window_size(*DESKTOP)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """The browser as a phone: a 390 x 844 CSS-pixel mobile viewport (meta viewport
    honoured), until the test ends."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture
def desktop(browser: Any) -> Any:
    """The browser as a 1280 x 900 desktop window."""
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.set_window_size(*DESKTOP)
    return browser


@pytest.fixture
def screenshot(browser: Any) -> Callable[[str], Path]:
    """`screenshot(name)`: the current page as var/screenshots/NAME.png; returns the path."""

    def take(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(browser.get_screenshot_as_png())
        return path

    return take


@pytest.fixture(scope="session")
def decode_qr() -> Callable[[bytes], str]:
    """`decode_qr(png_bytes)`: the text of the one QR code in the image."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    import zxingcpp
    from PIL import Image

    def decode(png: bytes) -> str:
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        texts = [code.text for code in found if code.format == zxingcpp.BarcodeFormat.QRCode]
        assert len(texts) == 1, f"expected one QR code, found {len(found)} codes"
        return texts[0]

    return decode
