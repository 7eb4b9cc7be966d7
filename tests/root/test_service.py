"""The service over HTTP: health and readiness, against a real Redis."""

from __future__ import annotations

import os
from collections.abc import Callable

from aiohttp.test_utils import TestClient, TestServer

from finews.app import create_app
from finews.core.errors import CONTENT_TYPE, problem_type
from finews.core.logs import AccessLogger
from finews.core.settings import Settings


async def test_healthz_and_readyz(
    aiohttp_client: Callable[..., TestClient], settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "pid": os.getpid(), "worker": 0}
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_is_503_with_a_reason_when_redis_is_unreachable(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings], tmp_path
) -> None:
    settings = make_settings(redis__url=f"unix://{tmp_path}/nobody-home.sock")
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    body = await response.json()
    assert response.content_type == CONTENT_TYPE
    assert body["status"] == 503 and body["type"] == problem_type("unavailable")
    assert "redis" in body["detail"] and "Error" in body["detail"]


async def test_access_log_has_one_line_per_request(
    aiohttp_client: Callable[..., TestClient], settings: Settings, caplog
) -> None:
    server = TestServer(create_app(settings))
    await server.start_server(access_log_class=AccessLogger)
    client = await aiohttp_client(server)
    caplog.set_level("INFO", logger="aiohttp.access")
    await client.get("/healthz?x=1", headers={"User-Agent": "probe/1"})
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1
    assert 'method=GET path="/healthz?x=1" status=200' in lines[0]
    assert 'ua="probe/1"' in lines[0]


async def test_a_request_that_needs_a_dead_redis_gets_503_with_retry_after(
    aiohttp_client: Callable[..., TestClient], make_settings: Callable[..., Settings], tmp_path
) -> None:
    from aiohttp import web

    from finews.core.appkeys import REDIS

    async def needs_redis(request: web.Request) -> web.Response:
        return web.Response(text=str(await request.app[REDIS].get("anything")))

    app = create_app(make_settings(redis__url=f"unix://{tmp_path}/gone.sock"))
    app.router.add_get("/needs-redis", needs_redis)
    client = await aiohttp_client(app)
    response = await client.get("/needs-redis")
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert response.content_type == CONTENT_TYPE
    assert (await response.json())["type"] == problem_type("unavailable")
