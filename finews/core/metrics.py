"""Prometheus metrics: the registry, the HTTP request metrics, Redis errors, /metrics.

Each feature declares its own metrics (feeds/metrics.py, shortlinks/metrics.py,
websub/metrics.py) in the same process-wide registry, so one scrape shows them all. With
several workers, the master sets PROMETHEUS_MULTIPROC_DIR before it starts them: each
worker then writes its samples to files there, and a scrape answered by any worker adds
up all of them.

The per-request figures (requests by route, method and status; latency by route and
method) are counted in plain dicts of ints, not through prometheus_client's labelled
objects: a label look-up, a lock and a histogram observation on every request cost a
noticeable share of a redirect. `HttpCollector` turns the dicts into samples at scrape
time. Under workers each process also mirrors its figures into its own files in the
multiprocess directory (the same format prometheus_client writes), so any worker's
scrape sums every worker's requests. The mirror is written every MIRROR_INTERVAL
seconds, by the worker that answers a scrape just before it reads the files, and when a
worker stops, not on every request: three mmap writes per request were a twentieth of a
worker's CPU on a redirect. A scrape is exact for the worker answering it and at most
MIRROR_INTERVAL behind for the others; a worker that is killed loses that much.

Counters on other hot paths (a feed answered from cache, a redirect) are `PlainCounter`s
for the same reason: an int added without prometheus_client's lock, exported by
`PlainCollector` at scrape time and mirrored the same way under workers.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

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
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Other methods are counted as OTHER: a label value per invented method would be unbounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

disable_created_metrics()  # a *_created gauge per series doubles the scrape for nothing

REQUESTS_NAME = "finews_http_requests"  # exported as finews_http_requests_total
REQUESTS_HELP = "HTTP requests answered, by route and status."
LATENCY_NAME = "finews_http_request_duration_seconds"
LATENCY_HELP = "Time from request to response, by route."
BOUNDS = tuple(b for b in Histogram.DEFAULT_BUCKETS if b != float("inf"))
LE = (*(floatToGoString(b) for b in BOUNDS), "+Inf")
MIRROR_INTERVAL = 1.0  # seconds; see the module docstring

REDIS_ERRORS = Counter(
    "finews_redis_errors_total", "Redis commands that failed, by component.", ["component"]
)


class Mirror:
    """This worker's request figures in prometheus_client's multiprocess file format.

    Files named `counter_http_<pid>.db` and `histogram_http_<pid>.db`: the type prefix is
    what MultiProcessCollector reads, and the `http` part keeps them apart from the files
    prometheus_client itself writes for this pid.
    """

    def __init__(self, directory: str) -> None:
        pid = os.getpid()
        self.counts = MmapedDict(os.path.join(directory, f"counter_http_{pid}.db"))
        self.latency = MmapedDict(os.path.join(directory, f"histogram_http_{pid}.db"))
        self.keys: dict[tuple[str, ...], str] = {}
        # series -> what the files hold: a count, or a histogram's buckets and sum
        self.written: dict[tuple[str | int, ...], float | tuple[float, ...]] = {}

    def key(
        self, metric: str, name: str, labels: tuple[str, ...], values: tuple[str, ...], help_: str
    ) -> str:
        cache_key = (name, *values)
        key = self.keys.get(cache_key)
        if key is None:
            key = mmap_key(metric, name, list(labels), list(values), help_)
            self.keys[cache_key] = key
        return key

    def write(self, stats: HttpStats) -> None:
        """Write every series of `stats` and of the plain counters that changed since the
        last write."""
        written = self.written
        for (route, method, status), count in list(stats.counts.items()):
            if written.get(("requests", route, method, status)) != count:
                written["requests", route, method, status] = count
                key = self.key(
                    REQUESTS_NAME, REQUESTS_NAME + "_total", ("route", "method", "status"),
                    (route, method, str(status)), REQUESTS_HELP,
                )  # fmt: skip
                self.counts.write_value(key, count, 0.0)
        for (route, method), hist in list(stats.latency.items()):
            state = tuple(hist)
            if written.get(("latency", route, method)) == state:
                continue
            written["latency", route, method] = state
            name, labels = LATENCY_NAME + "_bucket", ("route", "method", "le")
            for le, n in zip(LE, hist, strict=False):
                key = self.key(LATENCY_NAME, name, labels, (route, method, le), LATENCY_HELP)
                self.latency.write_value(key, n, 0.0)
            total = self.key(
                LATENCY_NAME, LATENCY_NAME + "_sum", labels[:2], (route, method), LATENCY_HELP
            )
            self.latency.write_value(total, hist[-1], 0.0)
        for plain in PLAIN_COUNTERS:
            for values, child in list(plain.children.items()):
                if written.get(("plain", plain.name, *values)) != child.value:
                    written["plain", plain.name, *values] = child.value
                    key = self.key(
                        plain.name, plain.name + "_total", plain.labelnames, values, plain.help
                    )
                    self.counts.write_value(key, child.value, 0.0)


class HttpStats:
    """Requests and latency in plain counters; only the event loop's thread writes them."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int], int] = {}
        # (route, method) -> non-cumulative bucket counts (one per LE), then the sum
        self.latency: dict[tuple[str, str], list[float]] = {}
        # Under workers (the variable is set before a worker starts, so read once)
        self.directory = os.environ.get(MULTIPROC_ENV)
        self.mirror: Mirror | None = None

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        hist = self.latency.get((route, method))
        if hist is None:
            hist = self.latency[(route, method)] = [0.0] * (len(LE) + 1)
        bucket = bisect.bisect_left(BOUNDS, seconds)
        hist[bucket] += 1
        hist[-1] += seconds

    def mirror_now(self) -> None:
        """Bring this worker's mirror files up to date, opening them on first use (under
        workers only)."""
        if self.directory is not None:
            if self.mirror is None:
                self.mirror = Mirror(self.directory)
            self.mirror.write(self)


class HttpCollector(Collector):
    """Exports HttpStats at scrape time (the single-process registry)."""

    def __init__(self, stats: HttpStats) -> None:
        self.stats = stats

    def describe(self) -> list[Metric]:
        return list(self.families(empty=True))

    def collect(self) -> Iterator[Metric]:
        return self.families()

    def families(self, empty: bool = False) -> Iterator[Metric]:
        counts, latency = ({}, {}) if empty else (self.stats.counts, self.stats.latency)
        requests = CounterMetricFamily(
            REQUESTS_NAME, REQUESTS_HELP, labels=("route", "method", "status")
        )
        for (route, method, status), count in list(counts.items()):
            requests.add_metric((route, method, str(status)), count)
        yield requests
        duration = HistogramMetricFamily(LATENCY_NAME, LATENCY_HELP, labels=("route", "method"))
        for (route, method), hist in list(latency.items()):
            cumulative, acc = [], 0.0
            for le, n in zip(LE, hist, strict=False):
                acc += n
                cumulative.append((le, acc))
            duration.add_metric((route, method), cumulative, hist[-1])
        yield duration


HTTP = HttpStats()
REGISTRY.register(HttpCollector(HTTP))


class PlainCounter:
    """A counter for a hot path, counted in plain numbers and exported at scrape time.

    `labels(*values)` resolves a child once (keep it); a counter without labels has `inc`
    itself. Only the event loop's thread may count (no lock, as in HttpStats)."""

    def __init__(self, name: str, help_: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name.removesuffix("_total")  # as prometheus_client names a counter
        self.help, self.labelnames = help_, labels
        self.children: dict[tuple[str, ...], PlainChild] = {}
        PLAIN_COUNTERS.append(self)
        if not labels:
            self.inc: Callable[[], None] = self.labels().inc

    def labels(self, *values: str) -> PlainChild:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = PlainChild()
        return child


class PlainChild:
    """One series of a PlainCounter."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self) -> None:
        self.value += 1


class PlainCollector(Collector):
    """Exports every PlainCounter at scrape time (the single-process registry)."""

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(c.name, c.help, labels=c.labelnames) for c in PLAIN_COUNTERS]

    def collect(self) -> Iterator[Metric]:
        for counter in PLAIN_COUNTERS:
            family = CounterMetricFamily(counter.name, counter.help, labels=counter.labelnames)
            for values, child in list(counter.children.items()):
                family.add_metric(values, child.value)
            yield family


PLAIN_COUNTERS: list[PlainCounter] = []
REGISTRY.register(PlainCollector())


def method(request: web.Request) -> str:
    """The request's method as a label: OTHER for any method not in METHODS."""
    name = request.method
    return name if name in METHODS else "OTHER"


def registry() -> CollectorRegistry:
    """This process's registry, or all workers' samples in multiprocess mode."""
    if MULTIPROC_ENV not in os.environ:
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


async def scrape(request: web.Request) -> web.Response:
    HTTP.mirror_now()  # this worker's figures exact; the others' at most MIRROR_INTERVAL old
    body = await asyncio.to_thread(generate_latest, registry())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def prepare_multiprocess(directory: Path) -> None:
    """Empty the samples directory and name it for the worker processes started after this."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)


async def mirroring(app: web.Application) -> AsyncIterator[None]:
    """Under workers, write this worker's mirror every MIRROR_INTERVAL and once more when
    it stops, so that a clean stop loses no count."""
    if HTTP.directory is None:
        yield
        return

    async def run() -> None:
        while True:
            await asyncio.sleep(MIRROR_INTERVAL)
            HTTP.mirror_now()

    task = asyncio.create_task(run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    HTTP.mirror_now()


def setup(app: web.Application) -> None:
    """The scrape route and the mirror's writer; requests are observed by finews.app's route
    wrapper (`guarded`)."""
    app.router.add_get("/metrics", scrape)
    app.cleanup_ctx.append(mirroring)
