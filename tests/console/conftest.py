"""Fixtures of the console tests: settings on the test Redis and an app client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.clock import FrozenClock
from finews.core.settings import Settings
from tests.console.support import HTTP_SITE
from tests.shortlinks_support import KEY


@pytest.fixture
def console_settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    (tmp_path / "no-posts").mkdir()
    return make_settings(
        site__url=HTTP_SITE,  # the test client sends no Secure cookie over plain HTTP
        api__keys=[KEY],
        posts__dir=str(tmp_path / "no-posts"),
        console__login_per_name=3,
    )


@pytest.fixture
async def web(
    aiohttp_client: Callable[..., Any], console_settings: Settings, clock: FrozenClock
) -> TestClient:
    return await aiohttp_client(create_app(console_settings, clock=clock))
