"""The injectable clock: a frozen clock moves only when told, and the app crosses the site's
midnight on it exactly, without a test waiting or depending on when it runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.appkeys import CLOCK
from finews.core.clock import SYSTEM, FrozenClock
from finews.core.settings import Settings
from tests.shortlinks_support import AUTH, CHROME_UA, SITE, create, service

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Half a second before midnight in the site's timezone (16:00 UTC is then a window edge).
BEFORE_MIDNIGHT = datetime(2024, 5, 24, 23, 59, 59, 500_000, tzinfo=SHANGHAI)


def test_a_frozen_clock_moves_only_forward_and_only_when_told() -> None:
    clock = FrozenClock(BEFORE_MIDNIGHT)
    wall, mono = clock.time(), clock.monotonic()
    assert clock.now(SHANGHAI) == BEFORE_MIDNIGHT and clock.time() == wall
    clock.advance(0.5)
    assert clock.now(SHANGHAI) == datetime(2024, 5, 25, tzinfo=SHANGHAI)
    assert clock.now() == datetime(2024, 5, 24, 16, tzinfo=UTC)
    assert clock.monotonic() == mono + 0.5
    clock.set(datetime(2024, 5, 25, 1, tzinfo=SHANGHAI))
    assert clock.time() == wall + 3600.5 and clock.monotonic() == mono + 3600.5
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="no timezone"):
        FrozenClock(datetime(2024, 5, 24))


async def test_the_app_uses_the_system_clock_unless_given_one(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> None:
    client = await aiohttp_client(create_app(sl_settings))
    assert client.app[CLOCK] is SYSTEM and service(client).clock is SYSTEM


@pytest.fixture
async def midnight(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> tuple[TestClient, FrozenClock]:
    clock = FrozenClock(BEFORE_MIDNIGHT)
    settings = sl_settings.replace(
        site__timezone="Asia/Shanghai", shortlinks__rate_create_per_key=2
    )
    return await aiohttp_client(create_app(settings, clock=clock)), clock


async def test_visits_either_side_of_midnight_land_on_their_own_days(
    midnight: tuple[TestClient, FrozenClock],
) -> None:
    client, clock = midnight
    code = (await create(client))["code"]
    assert code.startswith("NW20240524")
    browser = {"User-Agent": CHROME_UA}
    for _ in range(2):  # 23:59:59.5, then 00:00:00.0: the same reader, one click each day
        response = await client.get(f"/s/{code}", headers=browser, allow_redirects=False)
        assert response.status == 302
        clock.advance(0.5)
    await service(client).writer.flush()
    response = await client.get(f"/api/links/{code}/stats", headers=AUTH)
    body = await response.json()
    assert body["to"] == "2024-05-25"  # "today" is the clock's day in the site's timezone
    days = {
        d["date"]: (d["clicks"], d["unique_clicks"], d["visitors"])
        for d in body["days"]
        if d["clicks"]
    }
    assert days == {"2024-05-24": (1, 1, 1), "2024-05-25": (1, 1, 1)}
    assert (await create(client, f"{SITE}/after.html"))["code"].startswith("NW20240525")


async def test_the_rate_limit_window_resets_exactly_at_midnight(
    midnight: tuple[TestClient, FrozenClock],
) -> None:
    client, clock = midnight
    for n in range(2):
        await create(client, f"{SITE}/{n}.html")
    refused = await client.post("/api/links", json={"url": f"{SITE}/x.html"}, headers=AUTH)
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"  # 0.5 s, rounded up
    clock.advance(0.25)  # 23:59:59.75: still the old window
    refused = await client.post("/api/links", json={"url": f"{SITE}/x.html"}, headers=AUTH)
    assert refused.status == 429
    clock.advance(0.25)  # 00:00:00.000: the new one
    assert clock.now(SHANGHAI) == datetime(2024, 5, 25, tzinfo=SHANGHAI)
    accepted = await client.post("/api/links", json={"url": f"{SITE}/x.html"}, headers=AUTH)
    assert accepted.status == 201
