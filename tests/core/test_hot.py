"""Hot routes (finews/core/hot.py): an answer from memory comes before the router, None
falls through to the route, only GET and HEAD take them, and each answer is counted under
the route name it gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from finews.app import create_app
from finews.core import hot
from finews.core.settings import Settings
from tests.core.test_metrics import scrape, value


async def test_hot_answers_come_first_and_none_takes_the_route(
    aiohttp_client: Callable[..., Awaitable[TestClient]], settings: Settings
) -> None:
    app = create_app(settings)
    routed: list[str] = []

    async def route(request: web.Request) -> web.Response:
        routed.append(request.match_info["name"])
        return web.Response(text="routed")

    def remembered(request: web.Request) -> tuple[web.StreamResponse, str] | None:
        if request.path != "/x/known":
            return None
        return web.Response(text="from memory"), "/x/{name}"

    app.router.add_route("*", "/x/{name}", route)
    hot.routes(app).add("/x/", remembered)
    client = await aiohttp_client(app)
    before = await scrape(client)

    assert await (await client.get("/x/known")).text() == "from memory"
    assert (await client.head("/x/known")).status == 200
    assert await (await client.get("/x/other")).text() == "routed"
    assert await (await client.post("/x/known")).text() == "routed"  # not GET or HEAD
    assert routed == ["other", "known"]

    after = await scrape(client)
    for method, n in (("GET", 2), ("HEAD", 1), ("POST", 1)):
        labels = {"route": "/x/{name}", "method": method, "status": "200"}
        got = value(after, "finews_http_requests_total", **labels)
        assert got - value(before, "finews_http_requests_total", **labels) == n, method


@pytest.mark.parametrize("segment", ["x", "/x", "x/", "/x/y/", "/"])
def test_a_hot_route_is_one_first_segment(segment: str) -> None:
    with pytest.raises(ValueError, match="one segment"):
        hot.HotRoutes().add(segment, lambda request: None)


def test_a_segment_has_one_hot_answer() -> None:
    routes = hot.HotRoutes()
    routes.add("/x/", lambda request: None)
    with pytest.raises(ValueError, match="taken"):
        routes.add("/x/", lambda request: None)
