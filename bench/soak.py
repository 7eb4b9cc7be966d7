"""Soak: mixed traffic against a real `finews serve` for a while; does it hold up?

Usage: python -m bench.soak [--seconds 60] [--warmup 5] [--posts 2000] [--connections 32]

Starts `finews serve` on 127.0.0.1 with default settings (plus an API key, a scratch data
dir and a posts dir holding the shipped sample posts and a generated corpus), creates
share links through the API, then sends as fast as it can, on `--connections` keep-alive
connections from one aiohttp client process:
- feed polls without validators (any feed, page 2s too, every coding) and with them
  (If-None-Match, If-Modified-Since or both, from the first answer: 304s);
- clicks on share links (/s/, the QR /S/ and the public share URL), by a few browsers that
  come back (repeat clicks) and, one click in ten, a new one (first clicks);
- API writes: title changes (each connection changes its own link; with
  --contended-writes all change the same few, concurrently) and, at most about 6 a second
  (under the creation limit), new links.
It prints the request count, statuses (goal: no 5xx), the memory of the server's process
tree after the warm-up and at the end (goal: under 10% growth) and whether the click
counts the API reports equal the clicks sent, once the visit writer has flushed.
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import aiohttp
from lxml import etree

from bench import corpus
from bench.proc import free_port, group_memory, http_get, serving

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "bench"
SAMPLE_POSTS = REPO / "content" / "posts"
API_KEY = "soak-key"
CLICK_LINKS = 20
CONTENDED_LINKS = 5  # links every connection changes with --contended-writes
CREATE_EVERY = 0.15  # seconds between two new links: ~400 a minute, under the limit
NEW_VISITOR = 0.1  # share of clicks by a browser never seen before
FLUSH_WAIT = 20.0  # seconds for the visit writer to catch up after the load
GROWTH_GOAL = 0.10
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN",
]
CODINGS = ["gzip", "br", "identity", "gzip, deflate, br"]


@dataclass
class Report:
    seconds: float
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    client_errors: Counter[str] = field(default_factory=Counter)
    memory_start: int = 0  # PSS of the server's process tree, bytes
    memory_end: int = 0
    server_rss_start: int = 0  # RSS of the finews process alone
    server_rss_end: int = 0
    clicks_sent: int = 0
    clicks_counted: int = 0
    unique_sent: int = 0
    unique_counted: int = 0
    links_exact: int = 0
    links: int = 0
    posts: int = 0
    log_errors: list[str] = field(default_factory=list)  # the server log's ERROR lines

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def growth(self) -> float:
        return (self.memory_end - self.memory_start) / self.memory_start

    @property
    def exact(self) -> bool:
        return self.links_exact == self.links and self.links > 0

    @property
    def ok(self) -> bool:
        return (
            self.server_errors == 0
            and not self.client_errors
            and self.exact
            and self.growth < GROWTH_GOAL
        )

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(self.statuses.items()))
        errors = ", ".join(f"{k}: {n}" for k, n in self.client_errors.items()) or "none"
        mb = 1e6
        return [
            f"soak: {self.requests:,} requests in {self.seconds:.0f} s after the warm-up "
            f"({self.requests / self.seconds:,.0f} req/s), {self.posts:,} posts",
            f"soak: statuses {statuses}; 5xx: {self.server_errors}; client errors: {errors}",
            f"soak: memory (PSS of the process tree) {self.memory_start / mb:.1f} MB after the "
            f"warm-up, {self.memory_end / mb:.1f} MB at the end: {self.growth:+.1%} (goal "
            f"< {GROWTH_GOAL:.0%}); finews process RSS {self.server_rss_start / mb:.1f} -> "
            f"{self.server_rss_end / mb:.1f} MB",
            f"soak: click counts {'exact' if self.exact else 'NOT exact'}: {self.links_exact} "
            f"of {self.links} links; clicks sent {self.clicks_sent:,}, counted "
            f"{self.clicks_counted:,}; unique sent {self.unique_sent:,}, counted "
            f"{self.unique_counted:,}",
            *(f"soak: server log: {line}" for line in self.log_errors[:20]),
        ]


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def posts_dir(work: Path, posts: int, cache: Path) -> Path:
    """The shipped sample posts plus `posts` generated ones (hard links into the cache)."""
    folder = work / "posts"
    shutil.copytree(SAMPLE_POSTS, folder / "sample")
    if posts:
        generated = corpus.cached(cache, posts) / corpus.POSTS
        (folder / "corpus").mkdir()
        for entry in os.scandir(generated):
            try:
                os.link(entry.path, folder / "corpus" / entry.name)
            except OSError:
                shutil.copy2(entry.path, folder / "corpus" / entry.name)
    return folder


class Load:
    """The traffic mix and what it sent; `run` drives it on one session."""

    def __init__(
        self,
        base: str,
        feeds: list[str],
        clicks: list[str],
        writes: list[str],
        validators: dict[str, tuple[str, str, str]],
        report: Report,
    ) -> None:
        self.base, self.feeds, self.clicks, self.writes = base, feeds, clicks, writes
        self.validators = validators  # path -> (coding, ETag, Last-Modified)
        self.report = report
        self.sent: Counter[str] = Counter()  # code -> clicks answered 302
        self.visitors: defaultdict[str, set[str]] = defaultdict(set)
        self.new_browsers = itertools.count()
        self.created = itertools.count()
        self.last_create = 0.0
        self.counting = False  # requests are counted after the warm-up
        self.rng = random.Random(1)

    async def one(self, session: aiohttp.ClientSession, worker: int) -> None:
        kind = self.rng.random()
        if kind < 0.3:
            path = self.rng.choice(self.feeds)
            await self.send(session, "GET", path, {"Accept-Encoding": self.rng.choice(CODINGS)})
        elif kind < 0.55:
            path = self.rng.choice(list(self.validators))
            coding, etag, modified = self.validators[path]
            headers = {"Accept-Encoding": coding}
            style = self.rng.randrange(3)
            if style != 1:
                headers["If-None-Match"] = etag
            if style != 0:
                headers["If-Modified-Since"] = modified
            await self.send(session, "GET", path, headers)
        elif kind < 0.93:
            await self.click(session)
        else:
            await self.write(session, self.writes[worker % len(self.writes)])

    async def click(self, session: aiohttp.ClientSession) -> None:
        code = self.rng.choice(self.clicks)
        if self.rng.random() < NEW_VISITOR:
            browser = f"{BROWSERS[0]} soak/{next(self.new_browsers)}"
        else:
            browser = self.rng.choice(BROWSERS)
        path = self.rng.choice(
            [f"/s/{code}", f"/S/{code}", f"/html_News/NewsShare.html?infoCode={code}"]
        )
        if await self.send(session, "GET", path, {"User-Agent": browser}) == 302:
            self.sent[code] += 1
            self.visitors[code].add(browser)

    async def write(self, session: aiohttp.ClientSession, code: str) -> None:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        now = time.monotonic()
        if now - self.last_create >= CREATE_EVERY:
            self.last_create = now
            url = f"http://127.0.0.1:8080/soak/new/{next(self.created)}.html"
            await self.send(session, "POST", "/api/links", auth, {"url": url})
        else:
            await self.send(
                session,
                "PATCH",
                f"/api/links/{code}",
                auth,
                {"title": f"soak {self.rng.randrange(10**6)}"},
            )

    async def send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        headers: dict[str, str],
        body: object = None,
    ) -> int | None:
        try:
            async with session.request(
                method,
                self.base + path,
                headers=headers,
                json=body,
                allow_redirects=False,
                auto_decompress=False,
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            if self.counting:
                self.report.client_errors[type(exc).__name__] += 1
            return None
        if self.counting:
            self.report.requests += 1
            self.report.statuses[status] += 1
        elif status >= 500:  # the warm-up is held to the same goal
            self.report.statuses[status] += 1
        return status

    async def run(self, session: aiohttp.ClientSession, worker: int, until: float) -> None:
        while time.monotonic() < until:
            await self.one(session, worker)


def api(base: str, method: str, path: str, body: object = None) -> object:
    """One API call with the soak key (the setup and the final counts)."""
    request = Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    with urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def feed_paths(base: str) -> list[str]:
    """Every feed in the OPML list in its three formats, and page 2 of the largest ones."""
    outline = etree.fromstring(http_get(base + "/feeds.opml").body)
    rss = [urlsplit(url).path for url in outline.xpath("//outline/@xmlUrl")]
    paths = [path[:-4] + ext for path in rss for ext in (".rss", ".atom", ".json")]
    paths += [path[:-4] + "/page/2.atom" for path in rss[:10]]
    return [path for path in paths if http_get(base + path).status == 200]


def make_links(base: str, count: int, kind: str) -> list[str]:
    links = [{"url": f"http://127.0.0.1:8080/soak/{kind}/{n}.html"} for n in range(count)]
    results = api(base, "POST", "/api/links/batch", {"links": links})
    return [r["link"]["code"] for r in results["results"]]  # type: ignore[index]


async def drive(
    load: Load, connections: int, warmup: float, seconds: float, measure: Callable[[str], None]
) -> None:
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        end = time.monotonic() + warmup
        await asyncio.gather(*(load.run(session, n, end) for n in range(connections)))
        measure("start")
        load.counting = True
        end = time.monotonic() + seconds
        await asyncio.gather(*(load.run(session, n, end) for n in range(connections)))
        measure("end")


def soak(
    seconds: float = 60,
    warmup: float = 5,
    posts: int = 2000,
    connections: int = 32,
    cache: Path = CACHE,
    contended_writes: bool = False,
) -> Report:
    report = Report(seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="finews-soak-") as tmp:
        work = Path(tmp)
        folder = posts_dir(work, posts, cache)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINEWS_")}
        env.update(
            FINEWS_DATA__DIR=str(work / "data"),
            FINEWS_POSTS__DIR=str(folder),
            FINEWS_API__KEYS=API_KEY,
        )
        cmd = [sys.executable, "-m", "finews", "serve", "--host", "127.0.0.1", "--port", str(port)]
        with serving(cmd, port, work / "server.log", env=env, cwd=REPO) as server:
            server.wait_for("/feeds/all.rss", timeout=600)
            base = server.base
            report.posts = sum(1 for _ in folder.rglob("*") if _.is_file())
            feeds = feed_paths(base)
            validators = {}
            for path in feeds[:40]:
                coding = random.Random(path).choice(["gzip", "br", "identity"])
                got = http_get(base + path, {"Accept-Encoding": coding})
                validators[path] = (coding, got.headers["etag"], got.headers["last-modified"])
            clicks = make_links(base, CLICK_LINKS, "click")
            writes = make_links(base, CONTENDED_LINKS if contended_writes else connections, "write")
            load = Load(base, feeds, clicks, writes, validators, report)

            def measure(when: str) -> None:
                memory, own = group_memory(server.proc.pid), rss(server.proc.pid)
                if when == "start":
                    report.memory_start, report.server_rss_start = memory, own
                else:
                    report.memory_end, report.server_rss_end = memory, own

            asyncio.run(drive(load, connections, warmup, seconds, measure))
            count_clicks(base, load, report)
        log = (work / "server.log").read_text(encoding="utf-8", errors="replace")
        report.log_errors = [
            line[:300] for line in log.splitlines() if " ERROR " in line or "Error" in line
        ]
    return report


def count_clicks(base: str, load: Load, report: Report) -> None:
    """Compare the API's all-time counts with what was sent, once the writer has caught up."""
    report.links = len(load.clicks)
    report.clicks_sent = sum(load.sent.values())
    report.unique_sent = sum(len(v) for v in load.visitors.values())
    deadline = time.monotonic() + FLUSH_WAIT
    while True:
        counted = {
            code: api(base, "GET", f"/api/links/{code}/stats")["all_time"]  # type: ignore[index]
            for code in load.clicks
        }
        exact = [
            code
            for code in load.clicks
            if counted[code]["clicks"] == load.sent[code]
            and counted[code]["unique_clicks"] == len(load.visitors[code])
        ]
        if len(exact) == len(load.clicks) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    report.links_exact = len(exact)
    report.clicks_counted = sum(c["clicks"] for c in counted.values())
    report.unique_counted = sum(c["unique_clicks"] for c in counted.values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=60, help="measured load (60)")
    parser.add_argument("--warmup", type=float, default=5, help="load before measuring (5)")
    parser.add_argument("--posts", type=int, default=2000, help="generated posts (2000)")
    parser.add_argument("--connections", type=int, default=32, help="client connections (32)")
    parser.add_argument(
        "--contended-writes",
        action="store_true",
        help=f"every connection changes the same {CONTENDED_LINKS} links",
    )
    args = parser.parse_args(argv)
    report = soak(
        args.seconds,
        args.warmup,
        args.posts,
        args.connections,
        contended_writes=args.contended_writes,
    )
    print("\n".join(report.lines()), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
