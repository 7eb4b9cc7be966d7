"""Prometheus metrics: the registry, the HTTP request metrics, Redis errors, /metrics.

Each feature declares its own metrics (feeds/metrics.py, shortlinks/metrics.py,
websub/metrics.py) in the same process-wide registry, so one scrape shows them all. With
several workers, the master sets PROMETHEUS_MULTIPROC_DIR before it starts them: each
worker then writes its samples to files there, and a scrape answered by any worker adds up
all of them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Other methods are counted as OTHER: a label value per invented method would be unbounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

disable_created_metrics()  # a *_created gauge per series doubles the scrape for nothing

REQUESTS = Counter(
    "finews_http_requests_total",
    "HTTP requests answered, by route and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "finews_http_request_duration_seconds",
    "Time from request to response, by route.",
    ["route", "method"],
)
REDIS_ERRORS = Counter(
    "finews_redis_errors_total", "Redis commands that failed, by component.", ["component"]
)


def route_name(request: web.Request) -> str:
    """The matched resource's pattern (`/feeds/{name}`), never the raw path: bounded labels."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# (route, method, status) -> its labelled children: .labels() costs more than .inc().
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe(request: web.Request, status: int, seconds: float) -> None:
    """Count one answered request by route, method and status, and record its latency."""
    route = route_name(request)
    method = request.method if request.method in METHODS else "OTHER"
    children = _children.get((route, method, status))
    if children is None:
        children = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route, method))
        _children[(route, method, status)] = children
    children[0].inc()
    children[1].observe(seconds)


def registry() -> CollectorRegistry:
    """This process's registry, or all workers' samples in multiprocess mode."""
    if MULTIPROC_ENV not in os.environ:
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


async def scrape(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(generate_latest, registry())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def prepare_multiprocess(directory: Path) -> None:
    """Empty the samples directory and name it for the worker processes started after this."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)


def setup(app: web.Application) -> None:
    """The scrape route; requests are observed by finews.app's one middleware."""
    app.router.add_get("/metrics", scrape)
