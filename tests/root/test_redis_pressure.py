"""Load costs latency, never wrong answers: hundreds of concurrent clients each get their
real answer (no 503 "Too many connections"), and readers who share an address with a
code scanner (carrier NAT) still reach known links."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core.settings import Settings
from shortlinks import keys
from tests.shortlinks_support import AUTH, SITE, create, service

CLICKS = 500
CREATIONS = 200
# Generous: a bound on a hang, not a speed check.
PATIENCE = aiohttp.ClientTimeout(total=120)


async def concurrently(
    client: TestClient, requests: list[tuple[str, str, dict[str, Any]]]
) -> list[tuple[int, str | None]]:
    """Send every request at once, each on its own connection: (status, Location)."""
    connector = aiohttp.TCPConnector(limit=0)  # the test client's session allows 100
    async with aiohttp.ClientSession(connector=connector, timeout=PATIENCE) as session:

        async def one(method: str, path: str, options: dict[str, Any]) -> tuple[int, str | None]:
            async with session.request(
                method, client.make_url(path), allow_redirects=False, **options
            ) as response:
                await response.read()
                return response.status, response.headers.get("Location")

        return await asyncio.gather(*(one(*request) for request in requests))


async def test_500_concurrent_first_clicks_on_uncached_codes_all_redirect(
    client: TestClient,
) -> None:
    shortlinks = service(client)
    urls = [f"{SITE}/2024/01/01/story-{n}.html" for n in range(CLICKS)]
    issued = await shortlinks.store.issue([shortlinks.want(url) for url in urls])
    codes = [result.link.code for result in issued]
    assert not any(shortlinks.redirector.fresh(code) for code in codes)

    answers = await concurrently(client, [("GET", f"/s/{code}", {}) for code in codes])

    assert answers == [(302, url) for url in urls]


async def test_200_concurrent_api_creations_all_succeed(client: TestClient) -> None:
    answers = await concurrently(
        client,
        [
            (
                "POST",
                "/api/links",
                {"json": {"url": f"{SITE}/2024/02/02/new-{n}.html"}, "headers": AUTH},
            )
            for n in range(CREATIONS)
        ],
    )

    assert sorted({status for status, _ in answers}) == [201]
    assert await service(client).store.redis.zcard(keys.CODES) == CREATIONS


async def test_a_known_code_is_never_refused_after_many_unknown_ones(
    aiohttp_client: Callable[..., Any], sl_settings: Settings
) -> None:
    """Readers behind carrier NAT share one address with whoever scans for codes."""
    client = await aiohttp_client(
        create_app(sl_settings.replace(shortlinks__rate_scan_per_address=60))
    )
    code = (await create(client, f"{SITE}/nat.html"))["code"]
    statuses = [(await client.get(f"/s/NW2022052400000{n:05d}")).status for n in range(100)]
    assert statuses[:60] == [404] * 60 and statuses[60:] == [429] * 40

    known = await client.get(f"/s/{code}", allow_redirects=False)
    assert known.status == 302 and known.headers["Location"] == f"{SITE}/nat.html"
    legacy = await client.get(f"/html_News/NewsShare.html?infoCode={code}", allow_redirects=False)
    assert legacy.status == 302
    # the scanner is still refused, for unknown and malformed codes alike
    assert (await client.get("/s/NW202205249999999999")).status == 429
    assert (await client.get("/s/not-a-code")).status == 429
