"""Fixtures and helpers shared by the share-link tests (imported by those modules)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from shortlinks.service import SERVICE, Service

KEY = "k-3f9a1c7e5b2d4a6c8e0f"
AUTH = {"Authorization": f"Bearer {KEY}"}
SITE = "https://news.example.cn"
ARTICLE = f"{SITE}/2022/05/24/jimei-library.html"
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.30(0x18001e31) "
    "NetType/WIFI Language/zh_CN"
)
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
# When the share-link tests run: 20:00 in Asia/Shanghai, far from either midnight.
NOON_UTC = datetime(2024, 5, 24, 12, tzinfo=UTC)


@pytest.fixture
def sl_settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    """No posts: the links in Redis are the ones each test makes."""
    (tmp_path / "no-posts").mkdir()
    return make_settings(site__url=SITE, api__keys=[KEY], posts__dir=str(tmp_path / "no-posts"))


@pytest.fixture
def clock() -> FrozenClock:
    """The app's clock: stands still at NOON_UTC until a test moves it (advance, set)."""
    return FrozenClock(NOON_UTC)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], sl_settings: Settings, clock: FrozenClock
) -> TestClient:
    return await aiohttp_client(create_app(sl_settings, clock=clock))


def service(client: TestClient) -> Service:
    return client.app[SERVICE]


async def create(client: TestClient, url: str = ARTICLE, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/links", json={"url": url, **fields}, headers=AUTH)
    assert response.status in (200, 201), await response.text()
    return await response.json()
