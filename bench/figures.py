"""The figures: each measures one thing of ours beside its baseline, in the same run.

Each figure returns its rows and never raises: a missing feature, tool or failing run
becomes `n/a (reason)` in its own cells, and the other figures still run.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

from bench import corpus as corpora
from bench import sites, tools, wrk
from bench.proc import Response, Server, free_port, http_get, run_measured, serving
from bench.table import Row, Value, attempt, compare, na
from finews.embedded_redis import EmbeddedRedis

FINEWS = [sys.executable, "-m", "finews"]
BASELINE = [sys.executable, "-m", "bench.baseline_server"]
START_TIMEOUT = 900.0  # a cold start at 100,000 posts may parse every file
BUILD_TIMEOUT = 1200.0  # 20 minutes for any one build (Jekyll needs minutes)
LIVE_TIMEOUT = 30.0  # a new post not served after this is a failed trial
LIVE_TRIALS = 3
CODE = re.compile(r"\b([A-Z]{1,8}\d{18})\b")
SHANGHAI = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Config:
    small: int  # "10,000 posts" (1,000 with --quick)
    large: int  # "100,000 posts" (5,000 with --quick)
    wrk_seconds: int
    rounds: int  # wrk runs per side, alternating with the baseline's (builds: best kept)
    cache: Path  # corpora, reused between runs
    work: Path  # this run's scratch space, removed afterwards

    def corpus(self, n: int) -> Path:
        return corpora.cached(self.cache, n)

    def scratch(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def finews_env(posts: Path, data: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without its FINEWS_ settings, plus ours: finews's defaults
    otherwise (the access log, metrics and counting on), as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINEWS_")}
    env.update(
        FINEWS_POSTS__DIR=str(posts),
        FINEWS_DATA__DIR=str(data),
        PYTHONUNBUFFERED="1",
    )
    env.update({f"FINEWS_{k.upper()}": v for k, v in extra.items()})
    return env


def has_items(resp: Response) -> bool:
    """A feed with at least one item: the posts are loaded, not just the route up."""
    if resp.body.lstrip().startswith(b"{"):
        try:
            return bool(json.loads(resp.body).get("items"))
        except ValueError:
            return False
    return b"<item>" in resp.body or b"<entry>" in resp.body


@contextlib.contextmanager
def finews_serving(env: Mapping[str, str], log: Path, workers: int = 1) -> Iterator[Server]:
    port = free_port()
    cmd = [*FINEWS, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving([*cmd, "--workers", str(workers)], port, log, env=env) as server:
        yield server


@contextlib.contextmanager
def own_redis(data: Path) -> Iterator[str]:
    """A Valkey the bench owns, so `finews shorten` can share it with a running server."""
    server = EmbeddedRedis(data)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def baseline_serving(log: Path, *args: str, processes: int = 1) -> Iterator[Server]:
    """The bare handler; with `processes` > 1, that many on one port (SO_REUSEPORT)."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        if processes > 1:
            args = (*args, "--reuse-port")
        for _ in range(processes):
            cmd = [*BASELINE, "--port", str(port), *args]
            server = stack.enter_context(serving(cmd, port, log))
            server.wait_for("/feed", 30.0)
        yield server


# ---------------------------------------------------------------- a. feed build


@dataclass(frozen=True)
class Built:
    seconds: float
    mb: float
    feeds: int
    notes: tuple[str, ...] = ()


def measured(cmd: list[str], log: Path, what: str, env: Mapping[str, str]) -> tuple[float, float]:
    """Seconds and peak MB of a build that must succeed within BUILD_TIMEOUT."""
    run = run_measured(cmd, log, env=env, timeout=BUILD_TIMEOUT)
    if run.returncode is None:
        raise RuntimeError(f"n/a (timeout: {what} still running after {BUILD_TIMEOUT:.0f} s)")
    if run.returncode != 0:
        last = run.tail(1)
        if "invalid choice" in last:
            raise RuntimeError(f"n/a (`{what}` does not exist yet)")
        raise RuntimeError(f"n/a ({what} exited {run.returncode}: {last})")
    return run.seconds, run.peak_bytes / 2**20


def build_ours(cfg: Config, corpus: Path) -> Built:
    work = cfg.scratch("build-ours")
    out = work / "out"
    env = finews_env(corpus / corpora.POSTS, work / "data")
    seconds, mb = measured(
        [*FINEWS, "build", "--out", str(out), "--no-archives"],
        work / "build.log",
        "finews build",
        env=env,
    )
    feeds = sites.count_files(out, ".rss")
    if not feeds:
        raise RuntimeError(f"n/a (finews build wrote no .rss file into {out})")
    shutil.rmtree(work, ignore_errors=True)
    return Built(seconds, mb, feeds)


def build_hugo(cfg: Config, corpus: Path) -> Built:
    if reason := tools.ensure("hugo"):
        raise RuntimeError(na(reason))
    work = cfg.scratch("build-hugo")
    site = sites.hugo_site(corpus, work / "site")
    env = dict(os.environ, HUGO_CACHEDIR=str(work / "cache"))
    cmd = ["hugo", "--source", str(site), "--destination", str(work / "out")]
    notes = []
    full = run_measured(cmd, work / "full.log", env=env, timeout=BUILD_TIMEOUT)
    if full.returncode != 0:
        error = next(
            (
                line.strip()
                for line in full.log.read_text(errors="replace").splitlines()
                if "Error" in line
            ),
            full.tail(1),
        )
        error = error.removeprefix("Error: ").replace(f"{site}/content/posts/", "")
        hostile = sites.hostile_posts(corpus)
        for name in hostile:
            (site / "content" / "posts" / name).unlink()
        shutil.rmtree(work / "out", ignore_errors=True)
        notes.append(
            f"Hugo aborts the whole build on the full corpus ({error[:200]}); measured "
            f"on the corpus without its {len(hostile)} posts holding control characters"
        )
    seconds, mb = measured(cmd, work / "build.log", "hugo", env=env)
    feeds = sites.count_files(work / "out", "index.xml")
    shutil.rmtree(work, ignore_errors=True)
    return Built(seconds, mb, feeds, tuple(notes))


def build_jekyll(cfg: Config, corpus: Path) -> Built:
    if reason := tools.ensure("jekyll"):
        raise RuntimeError(na(reason))
    work = cfg.scratch("build-jekyll")
    site = sites.jekyll_site(corpus, work / "site")
    env = dict(os.environ, JEKYLL_ENV="production")
    seconds, mb = measured(
        ["jekyll", "build", "--source", str(site), "--destination", str(work / "out")],
        work / "build.log",
        "jekyll build",
        env=env,
    )
    skipped = (work / "build.log").read_text(errors="replace").count("YAML Exception")
    feeds = sites.count_files(work / "out", ".xml")
    shutil.rmtree(work, ignore_errors=True)
    return Built(
        seconds,
        mb,
        feeds,
        (
            f"Jekyll skipped {skipped} posts it could not read (control characters) and wrote "
            f"{feeds} Atom feeds: none per tag, jekyll-feed drops every non-ASCII tag",
        ),
    )


def build(cfg: Config) -> list[Row]:
    """a. `finews build --no-archives` beside Hugo (both sizes) and Jekyll (small only)."""
    rows = []
    for n in (cfg.small, cfg.large):
        corpus = cfg.corpus(n)
        ours: Built | str | None = None
        hugo: Built | str | None = None
        for _ in range(cfg.rounds):  # alternate, keep the fastest: load on a shared machine
            if not isinstance(ours, str):
                ours = faster(ours, attempt(build_ours, cfg, corpus))
            if not isinstance(hugo, str):
                hugo = faster(hugo, attempt(build_hugo, cfg, corpus))
        assert ours is not None and hugo is not None
        baselines = [("Hugo", hugo)]
        if n == cfg.small:
            baselines.append(("Jekyll", attempt(build_jekyll, cfg, corpus)))
        for name, base in baselines:
            notes = list(base.notes) if isinstance(base, Built) else []
            if isinstance(ours, Built) and isinstance(base, Built) and name == "Hugo":
                notes.append(
                    f"RSS feeds written: ours {ours.feeds} (plus Atom, JSON Feed, .gz "
                    f"twins), Hugo {base.feeds} (Hugo reads `tags: a b` as one tag)"
                )
            aim_s = "ours faster" if name == "Hugo" and n == cfg.large else ""
            rows.append(
                compare(
                    f"a. build {n:,} posts: wall time vs {name}",
                    pick(ours, "seconds"),
                    pick(base, "seconds"),
                    "s",
                    higher_is_better=False,
                    base_name=name,
                    aim=aim_s,
                    notes=notes,
                )
            )
            rows.append(
                compare(
                    f"a. build {n:,} posts: peak memory vs {name}",
                    pick(ours, "mb"),
                    pick(base, "mb"),
                    "MB",
                    higher_is_better=False,
                    base_name=name,
                    aim="ours < 500 MB" if aim_s else "",
                )
            )
    return rows


def faster(best: Built | str | None, new: Built | str) -> Built | str:
    """The faster build; a failure only when there is nothing better."""
    if isinstance(best, Built) and (isinstance(new, str) or best.seconds <= new.seconds):
        return best
    return new


def pick(result: object, field: str) -> Value:
    return result if isinstance(result, str) else getattr(result, field)


# ---------------------------------------------------------------- b. restart


def settled(server: Server, timeout: float = 60.0) -> None:
    """Wait (bounded) until the server's log says its own first build is done: a server
    that answers from the edition it restored from Redis is still rendering on its thread,
    and a wrk round then would measure the build too. (A build that changed nothing stores
    nothing, so `feeds_built` is the line every build logs.)"""
    deadline = time.monotonic() + timeout
    while "event=feeds_built" not in server.log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)


def first_feed(env: Mapping[str, str], log: Path, settle: bool = False) -> float:
    """Seconds from `finews serve` start to the first 200 with items on /feeds/all.rss.

    With `settle`, the server then runs on until its log says the built feeds are stored
    (bounded), as a server that was not killed right after its first answer would."""
    with finews_serving(env, log) as server:
        seconds = server.wait_for("/feeds/all.rss", START_TIMEOUT, has_items)
        deadline = time.monotonic() + START_TIMEOUT
        while settle and "event=feeds_stored" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return seconds


def restart(cfg: Config) -> list[Row]:
    """b. A second start on the same data dir (warm index) beside the first (cold)."""
    n = cfg.large
    work = cfg.scratch("restart")
    env = finews_env(cfg.corpus(n) / corpora.POSTS, work / "data")
    cold = attempt(first_feed, env, work / "cold.log", settle=True)
    warm = (
        attempt(first_feed, env, work / "warm.log")
        if not isinstance(cold, str)
        else "n/a (cold start failed)"
    )
    row = Row(
        f"b. restart, {n:,} posts: start to first 200 on /feeds/all.rss",
        warm if isinstance(warm, str) else f"{warm:.2f} s warm",
        cold if isinstance(cold, str) else f"{cold:.2f} s cold",
        "n/a",
    )
    if not isinstance(warm, str) and not isinstance(cold, str):
        row.ratio = f"{cold / warm:.2f} cold/warm, >1 = the warm start is faster; aim warm < 2 s"
    row.notes.append(
        "baseline = our own first start on an empty data dir (no other tool keeps "
        "an index); ours = the second start on the same data dir"
    )
    shutil.rmtree(work, ignore_errors=True)
    return [row]


# ---------------------------------------------------------------- c, d. HTTP load


@dataclass(frozen=True)
class Runs:
    """wrk results of ours and of the baseline, measured in alternation, round by round."""

    ours: list[wrk.WrkResult]
    base: list[wrk.WrkResult]

    def ratios(self) -> list[float]:
        return [o.rps / b.rps for o, b in zip(self.ours, self.base, strict=True)]


def load_runs(cfg: Config, ours_url: str, base_url: str, headers: Mapping[str, str]) -> Runs | str:
    """wrk on the baseline then ours, `rounds` times: each ratio from two runs side by side."""
    for url in (ours_url, base_url):
        if url.startswith("n/a"):
            return url
    if reason := tools.ensure("wrk"):
        return na(reason)
    for url in (ours_url, base_url):  # warm-up
        attempt(wrk.run, url, headers, seconds=1, connections=8)
    ours, base = [], []
    for _ in range(cfg.rounds):
        base.append(wrk.run(base_url, headers, seconds=cfg.wrk_seconds, connections=64))
        ours.append(wrk.run(ours_url, headers, seconds=cfg.wrk_seconds, connections=64))
    return Runs(ours, base)


def median(values: list[float]) -> float:
    return statistics.median(values)


def load_rows(
    label: str,
    runs: Runs | str,
    aim: str,
    notes: list[str],
    names: tuple[str, str] = ("ours", "bare"),
) -> list[Row]:
    """Throughput as the median ratio of the rounds and their spread; p99 as the median.
    `names` are what the runs' two sides are called in the ratios."""
    if isinstance(runs, str):
        return [Row(f"{label}: throughput", runs, "-", "n/a", list(notes))]
    ratios = runs.ratios()
    ours = [r.rps for r in runs.ours]
    base = [r.rps for r in runs.base]
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
    row = Row(
        f"{label}: throughput",
        f"{median(ours):,.0f} req/s",
        f"{median(base):,.0f} req/s",
        f"{median(ratios):.2f} {names[0]}/{names[1]} (median of {len(ratios)} rounds, "
        f"spread {spread}), "
        f"higher is better" + (f"; aim {aim}" if aim else ""),
        list(notes),
    )
    return [
        row,
        compare(
            f"{label}: p99 latency",
            median([r.p99_ms for r in runs.ours]),
            median([r.p99_ms for r in runs.base]),
            "ms",
            higher_is_better=False,
            base_name=names[1],
        ),
        *cpu_rows(label, runs, names),
    ]


def cpu_rows(label: str, runs: Runs, names: tuple[str, str] = ("ours", "bare")) -> list[Row]:
    """Server side CPU per request (bench/wrk.py), as bare/ours: the figure that moves least
    with the neighbours. Ours includes its Redis: counting a visit is part of a redirect."""
    pairs = [
        (o.cpu_us, b.cpu_us)
        for o, b in zip(runs.ours, runs.base, strict=True)
        if o.cpu_us and b.cpu_us and o.cpu_us > 0 and b.cpu_us > 0
    ]
    if not pairs:
        return []
    ratios = [b / o for o, b in pairs]
    return [
        Row(
            f"{label}: CPU per request",
            f"{median([o for o, _ in pairs]):.0f} µs",
            f"{median([b for _, b in pairs]):.0f} µs",
            f"{median(ratios):.2f} {names[1]}/{names[0]} (median of {len(ratios)} rounds, spread "
            f"{min(ratios):.2f}-{max(ratios):.2f}), higher is better",
        )
    ]


ACCESS = {"on": "access log on (default)", "off": "access log off"}


def feed_items(server: Server) -> list[dict]:
    resp = http_get(server.base + "/feeds/all.json")
    items = json.loads(resp.body)["items"]
    if not items:
        raise RuntimeError("/feeds/all.json has no items")
    return items


class Share(NamedTuple):
    code: str
    location: str
    how: str  # where the code came from
    headers: dict[str, str]  # what our redirect sent, for the baseline to send too


# What aiohttp adds to every answer by itself, to the baseline's as to ours.
AIOHTTP_ADDS = frozenset({"date", "server", "content-length", "transfer-encoding", "connection"})


def sent_headers(resp: Response) -> dict[str, str]:
    """The headers a handler of ours set on this answer: the baseline sends the same, so
    that both answers are the same bytes and a ratio measures only the work per request."""
    return {k: v for k, v in resp.headers.items() if k not in AIOHTTP_ADDS}


def baseline_headers(work: Path, answers: Mapping[str, dict[str, str]]) -> str:
    """A `--headers` file for the baseline: each answer's headers by its name ("redirect",
    "feed", "not-modified"; an answer left out keeps the baseline's own)."""
    path = work / "baseline-headers.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    return str(path)


def share_code(server: Server, env: Mapping[str, str]) -> Share:
    """A working share code for a post: from `finews shorten`, else from a feed item."""
    items = feed_items(server)
    url = items[0]["url"]
    code, how = None, ""
    try:
        out = subprocess.run(
            [*FINEWS, "shorten", url], env=dict(env), capture_output=True, text=True, timeout=60
        )
        if out.returncode == 0 and (found := CODE.search(out.stdout)):
            code, how = found.group(1), "`finews shorten`"
        else:
            how = f"`finews shorten` exited {out.returncode}: {out.stderr.strip()[-120:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        how = f"`finews shorten` failed: {exc}"
    if code is None:
        fields = {k: v for k, v in items[0].items() if not k.startswith(("content", "summary"))}
        found = CODE.search(json.dumps(fields))
        if not found:
            raise RuntimeError(f"no share code: {how}; none in the feed item either")
        code, how = found.group(1), f"a feed item's share link ({how})"
    resp = http_get(f"{server.base}/s/{code}")
    if resp.status not in (301, 302, 303, 307, 308):
        raise RuntimeError(f"/s/{code} answered {resp.status}, not a redirect")
    return Share(code, resp.headers.get("location", ""), how, sent_headers(resp))


def redirect(cfg: Config) -> list[Row]:
    """c. wrk on /s/CODE (counting on) beside a bare aiohttp handler's fixed 302, with the
    access log on (the default) and off; then `serve --workers 2` beside two bare processes
    sharing one port."""
    n = cfg.small
    work = cfg.scratch("redirect")
    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        redis_url = attempt(stack.enter_context, own_redis(work / "redis"))
        code: Share | str = "n/a (no Redis)"
        for access, workers in (("on", 1), ("off", 1), ("on", 2)):
            label = f"c. redirect /s/CODE, {n:,} posts, {ACCESS[access]}"
            if workers > 1:
                label += f", serve --workers {workers} vs {workers} bare processes"
            with contextlib.ExitStack() as inner:

                def start_ours(access: str = access, workers: int = workers) -> str:
                    nonlocal code
                    if redis_url.startswith("n/a"):
                        raise RuntimeError(redis_url)
                    env = finews_env(
                        cfg.corpus(n) / corpora.POSTS,
                        work / "data",
                        redis__url=redis_url,
                        log__access="true" if access == "on" else "false",
                    )
                    log = work / f"finews-{access}-{workers}.log"
                    server = inner.enter_context(finews_serving(env, log, workers))
                    server.wait_for("/feeds/all.json", START_TIMEOUT, has_items)
                    settled(server)
                    if isinstance(code, str):
                        code = share_code(server, env)
                    return f"{server.base}/s/{code.code}"

                ours_url = attempt(start_ours)
                same = ["--location", "http://127.0.0.1/"]  # ours did not answer: a plain 302
                if not isinstance(code, str):
                    same = ["--headers", baseline_headers(work, {"redirect": code.headers})]
                base = attempt(
                    inner.enter_context,
                    baseline_serving(work / "baseline.log", *same, processes=workers),
                )
                base_url = base if isinstance(base, str) else f"{base.base}/s/NW202205242389705455"
                runs = attempt(load_runs, cfg, ours_url, base_url, {})
            aim = ">= 0.8" if workers > 1 else ">= 0.75" if access == "on" else ""
            notes = []
            if not rows and not isinstance(code, str):
                notes.append(f"code {code.code} from {code.how}, redirecting to {code.location}")
                notes.append("the baseline sends the headers our 302 sent")
            rows += load_rows(label, runs, aim, notes)
    shutil.rmtree(work, ignore_errors=True)
    return rows


def biggest_category(corpus: Path) -> str:
    cats = corpora.load_manifest(corpus)["categories"]
    return max(cats, key=lambda c: c["posts"])["slug"]


@dataclass(frozen=True)
class FeedProbe:
    etag: str
    gz_body: bytes  # what the baseline sends: our gzip bytes (or the body, gzipped)
    url_304: str  # the URL to load, or n/a when ours does not answer 304
    url_gz: str  # the URL to load, or n/a when ours does not gzip
    notes: tuple[str, ...]
    sent: dict[str, dict[str, str]] = field(default_factory=dict)  # the baseline's --headers


def probe_feed(server: Server, path: str) -> FeedProbe:
    """Check ours answers a conditional GET and gzip before loading it."""
    url = server.base + path
    plain = http_get(url, {"Accept-Encoding": "identity"})
    if plain.status != 200:
        raise RuntimeError(f"{path} answered {plain.status}")
    if not (etag := plain.headers.get("etag")):
        raise RuntimeError(f"{path} has no ETag")
    cond = http_get(url, {"If-None-Match": etag})
    url_304 = url if cond.status == 304 else na(f"If-None-Match answered {cond.status}")
    zipped = http_get(url, {"Accept-Encoding": "gzip"})
    gzipped = zipped.status == 200 and zipped.headers.get("content-encoding") == "gzip"
    url_gz = url if gzipped else na(f"Accept-Encoding: gzip answered {zipped.status} without gzip")
    gz_body = zipped.body if gzipped else gzip.compress(plain.body)
    sent = {"not-modified": sent_headers(cond)} if cond.status == 304 else {}
    if gzipped:
        sent["feed"] = sent_headers(zipped)
    return FeedProbe(
        etag,
        gz_body,
        url_304,
        url_gz,
        (f"feed {len(plain.body):,} bytes, gzip {len(gz_body):,} bytes",),
        sent,
    )


def feed(cfg: Config) -> list[Row]:
    """d. A cached category feed: 304 and gzip 200 beside a bare handler with the same bytes,
    with the access log on (the default) and off."""
    n = cfg.small
    work = cfg.scratch("feed")
    corpus = cfg.corpus(n)
    path = f"/feeds/category/{biggest_category(corpus)}.rss"
    first_notes = [
        f"{path}, the biggest category; the baseline returns the bytes and headers our server sent"
    ]
    rows: list[Row] = []
    for access in ("on", "off"):
        with contextlib.ExitStack() as stack:

            def start_ours(access: str = access) -> FeedProbe:
                env = finews_env(
                    corpus / corpora.POSTS,
                    work / "data",
                    log__access="true" if access == "on" else "false",
                )
                server = stack.enter_context(finews_serving(env, work / f"finews-{access}.log"))
                server.wait_for("/feeds/all.json", START_TIMEOUT, has_items)
                settled(server)
                return probe_feed(server, path)

            probe = attempt(start_ours)
            if isinstance(probe, str):
                probe = FeedProbe('"bench"', gzip.compress(b"<rss/>"), probe, probe, ())
            (work / "feed.gz").write_bytes(probe.gz_body)
            base = attempt(
                stack.enter_context,
                baseline_serving(
                    work / "baseline.log",
                    *("--body", str(work / "feed.gz"), "--etag", probe.etag),
                    *("--headers", baseline_headers(work, probe.sent)),
                ),
            )
            base_304 = base if isinstance(base, str) else base.base + "/not-modified"
            base_gz = base if isinstance(base, str) else base.base + "/feed"
            r304 = attempt(load_runs, cfg, probe.url_304, base_304, {"If-None-Match": probe.etag})
            rgz = attempt(load_runs, cfg, probe.url_gz, base_gz, {"Accept-Encoding": "gzip"})
        label = f"d. cached feed, {n:,} posts, {ACCESS[access]}"
        notes = [*first_notes, *probe.notes] if access == "on" else []
        aim = ">= 0.85" if access == "on" else ""
        rows += load_rows(f"{label}, 304 If-None-Match", r304, aim, notes)
        rows += load_rows(f"{label}, gzip 200", rgz, aim, [])
    shutil.rmtree(work, ignore_errors=True)
    return rows


# ---------------------------------------------------------------- e. live update


NEW_POST = """---
layout: post
title: "实时更新 {token}"
date: {date}
categories: {slug}
tags: 基准测试
---
<p>基准测试写入的新文章 {token}。 </p>"""


def live_trial(server: Server, posts: Path, slug: str, trial: int) -> float:
    """Seconds from writing a new post file to /feeds/all.json serving it."""
    token = f"live{os.getpid()}x{trial}x{time.time_ns() % 10**9}"
    now = datetime.now(SHANGHAI)
    text = NEW_POST.format(token=token, slug=slug, date=now.strftime("%Y-%m-%d %H:%M:%S +0800"))
    path = posts / f"{now:%Y-%m-%d}-bench-{token}.md"
    start = time.monotonic()
    path.write_text(text, encoding="utf-8")
    deadline = start + LIVE_TIMEOUT
    while time.monotonic() < deadline:
        resp = http_get(server.base + "/feeds/all.json")
        if resp.status == 200 and token.encode() in resp.body:
            return time.monotonic() - start
        time.sleep(0.02)
    raise RuntimeError(f"n/a (new post not served within {LIVE_TIMEOUT:.0f} s)")


def live_latency(cfg: Config, n: int) -> float:
    work = cfg.scratch(f"live-{n}")
    corpus = cfg.corpus(n)
    posts = work / "posts"
    sites.link_posts(corpus / corpora.POSTS, posts)
    try:
        with finews_serving(finews_env(posts, work / "data"), work / "finews.log") as server:
            server.wait_for("/feeds/all.json", START_TIMEOUT, has_items)
            time.sleep(1.0)  # let the watcher start
            slug = biggest_category(corpus)
            return statistics.median(live_trial(server, posts, slug, i) for i in range(LIVE_TRIALS))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def live(cfg: Config) -> list[Row]:
    """e. Live update: a new post file written to the posts dir until served, median of 3."""
    rows = []
    for n in (cfg.small, cfg.large):
        seconds = attempt(live_latency, cfg, n)
        aim = "; aim < 1 s" if n == cfg.large else ""
        rows.append(
            Row(
                f"e. live update, {n:,} posts: file written -> in /feeds/all.json",
                seconds if isinstance(seconds, str) else f"{seconds:.2f} s",
                "-",
                f"- (no baseline: Hugo and Jekyll only rebuild){aim}",
            )
        )
    return rows


# ---------------------------------------------------------------- f. access log


def access_log(cfg: Config) -> list[Row]:
    """f. What the access log costs, measured directly: the cheapest request (a feed 304)
    on two finews servers started side by side, one on its defaults (log on) and one with
    `log.access = false`, loaded in alternating rounds. Figures c and d show the same
    rows, but loaded minutes apart, and on a shared machine that gap is noise of its own."""
    n = cfg.small
    work = cfg.scratch("access")
    corpus = cfg.corpus(n)
    path = f"/feeds/category/{biggest_category(corpus)}.rss"
    with contextlib.ExitStack() as stack:

        def start(access: str) -> FeedProbe:
            env = finews_env(
                corpus / corpora.POSTS,
                work / f"data-{access}",
                log__access="true" if access == "on" else "false",
            )
            server = stack.enter_context(finews_serving(env, work / f"finews-{access}.log"))
            server.wait_for("/feeds/all.json", START_TIMEOUT, has_items)
            settled(server)
            return probe_feed(server, path)

        on, off = attempt(start, "on"), attempt(start, "off")
        runs: Runs | str
        if isinstance(on, str):
            runs = on
        elif isinstance(off, str):
            runs = off
        elif on.etag != off.etag:
            runs = na(f"the two servers sent different feeds ({on.etag}, {off.etag})")
        else:
            headers = {"If-None-Match": on.etag}
            runs = attempt(load_runs, cfg, on.url_304, off.url_304, headers)
    shutil.rmtree(work, ignore_errors=True)
    label = f"f. access log, feed 304, {n:,} posts"
    return load_rows(label, runs, ">= 0.9", [f"{path}, log on and off"], ("on", "off"))


FIGURES: dict[str, Callable[[Config], list[Row]]] = {
    "build": build,
    "restart": restart,
    "redirect": redirect,
    "feed": feed,
    "live": live,
    "access": access_log,
}
TOOLS_NEEDED = {
    "build": ("hugo", "jekyll"),
    "redirect": ("wrk",),
    "feed": ("wrk",),
    "access": ("wrk",),
}
