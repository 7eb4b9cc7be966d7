"""HTTP load with wrk: one bounded run, its requests/s, 99th-percentile latency, and the
server side's CPU time per request.

Throughput on a shared machine follows the neighbours; CPU time per request moves much
less. It is the machine's busy time over the run (/proc/stat: user, nice, system, irq,
softirq; not idle, iowait or steal) less wrk's own (its rusage): the server's processes,
its Redis and whatever else ran meanwhile, which on an otherwise idle machine is little.
"""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_P99 = re.compile(r"^\s+99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_TOTAL = re.compile(r"^\s+(\d+) requests in ", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkError(RuntimeError):
    """wrk failed, or its output is not what --latency prints."""


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx responses plus socket errors
    cpu_us: float | None = None  # server side CPU µs per request; None without /proc/stat


def parse(text: str) -> WrkResult:
    """Figures from the output of `wrk --latency`."""
    rps, p99, total = _RPS.search(text), _P99.search(text), _TOTAL.search(text)
    if not (rps and p99 and total):
        raise WrkError(f"unexpected wrk output: {text.strip()[-300:]!r}")
    errors = sum(int(n) for n in _NON_2XX.findall(text))
    for socket_errors in _SOCKET.findall(text):
        errors += sum(int(n) for n in socket_errors)
    return WrkResult(
        float(rps.group(1)),
        float(p99.group(1)) * UNITS_MS[p99.group(2)],
        int(total.group(1)),
        errors,
    )


def run(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    seconds: int = 5,
    connections: int = 32,
    threads: int = 2,
) -> WrkResult:
    """One wrk run, bounded by `seconds` (and a hard timeout beyond it)."""
    cmd = [
        "wrk",
        "--latency",
        "-d",
        f"{seconds}s",
        "-c",
        str(connections),
        "-t",
        str(threads),
        "--timeout",
        "5s",
    ]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    busy, children = busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {seconds + 30}s") from exc
    if out.returncode != 0:
        raise WrkError(f"wrk exited {out.returncode}: {(out.stderr or out.stdout).strip()[-200:]}")
    result = parse(out.stdout)
    after, done = busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    if busy is not None and after is not None and result.requests:
        wrk_cpu = (done.ru_utime + done.ru_stime) - (children.ru_utime + children.ru_stime)
        cpu_us = (after - busy - wrk_cpu) / result.requests * 1e6
        result = dataclasses.replace(result, cpu_us=cpu_us)
    if result.errors > result.requests // 100:
        raise WrkError(
            f"{result.errors} of {result.requests} requests failed (status >= 400 or socket errors)"
        )
    return result


def busy_seconds() -> float | None:
    """The machine's CPU seconds spent working so far (all CPUs), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal ...
    user, nice, system, _, _, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
