"""Hot routes: answers from memory, given before aiohttp's router runs.

Most requests are a share link the process has just redirected, or a reader polling a
feed with the validator it was given. Each answer is one dictionary look-up, yet the
router walks its resources and matches patterns first, builds the match information, and
the route's guard adds a coroutine layer (finews/app.py). For these requests that was a
tenth of the CPU a request costs.

A feature adds, for the first segment of a path ("/s/", "/feeds/"), a plain function that
answers from what it holds in memory, or returns None. None sends the request on its route
as usual, so an answer here is only ever a shortcut to what the route would answer, and
it is counted under that route's name in the request metrics.

The root installs `dispatch` as the application's request handler once the routes are
final (finews/app.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from finews.core import metrics

# An answer and the route name it is counted under, or None: take the route.
Answer = Callable[[web.Request], "tuple[web.StreamResponse, str] | None"]
Handler = Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]
METHODS = frozenset({"GET", "HEAD"})  # the hot routes answer only these


class HotRoutes:
    """The answers by a path's first segment, with both its slashes: "/s/"."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}

    def add(self, segment: str, answer: Answer) -> None:
        if not (segment.startswith("/") and segment.endswith("/") and segment.count("/") == 2):
            raise ValueError(f"hot route segment {segment!r}: expected one segment, '/s/'")
        if segment in self.answers:
            raise ValueError(f"hot route segment {segment!r} is taken")
        self.answers[segment] = answer

    def dispatch(self, routed: Handler) -> Handler:
        """A request handler that tries the hot answers, then `routed` (the router's)."""
        answers, stats, clock = self.answers, metrics.HTTP, time.perf_counter

        async def handle(request: web.Request) -> web.StreamResponse:
            if request.method in METHODS:
                path = request.path
                answer = answers.get(path[: path.find("/", 1) + 1])
                if answer is not None:
                    start = clock()
                    got = answer(request)
                    if got is not None:
                        response, route = got
                        stats.observe(route, request.method, response.status, clock() - start)
                        return response
            return await routed(request)

        return handle


HOT = web.AppKey("hot_routes", HotRoutes)


def routes(app: web.Application) -> HotRoutes:
    """The app's hot routes, made on first use: a feature adds its answers whether or not
    the root put them in front of the router (an app built in a test without the root's
    startup answers the same requests, by routing)."""
    if HOT not in app:
        app[HOT] = HotRoutes()
    return app[HOT]
