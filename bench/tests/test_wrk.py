"""wrk's --latency output parses into requests/s, p99 and error counts."""

from __future__ import annotations

import time

import pytest

from bench.figures import Runs, cpu_rows, load_rows
from bench.wrk import WrkError, WrkResult, busy_seconds, parse

CAPTURED = """\
Running 3s test @ http://127.0.0.1:18555/s/NW1
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.34ms  739.10us  12.72ms   91.94%
    Req/Sec    12.45k     2.97k   20.25k    78.69%
  Latency Distribution
     50%    1.11ms
     75%    1.38ms
     90%    1.89ms
     99%    3.93ms
  75544 requests in 3.10s, 10.30MB read
Requests/sec:  24370.29
Transfer/sec:      3.32MB
"""

SLOW_AND_FAILING = """\
Running 5s test @ http://127.0.0.1:9/feeds/all.rss
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   410.26ms  100.58us   1.81s    97.65%
    Req/Sec    40.75      2.31    52.85     72.73%
  Latency Distribution
     50%  436.00us
     75%  556.00us
     90%  676.00ms
     99%    1.20s
  400 requests in 5.10s, 1.59MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 10
Requests/sec:     78.43
Transfer/sec:      1.44MB
"""


def test_parses_requests_per_second_and_p99() -> None:
    result = parse(CAPTURED)
    assert result.rps == 24370.29
    assert result.p99_ms == pytest.approx(3.93)
    assert result.requests == 75544 and result.errors == 0


def test_units_and_errors() -> None:
    result = parse(SLOW_AND_FAILING)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.errors == 15


def test_output_without_latency_distribution_is_an_error() -> None:
    with pytest.raises(WrkError, match="unexpected wrk output"):
        parse(CAPTURED.replace("     99%    3.93ms\n", ""))


def test_busy_seconds_grow_with_work_done() -> None:
    before = busy_seconds()
    assert before is not None
    end = time.process_time() + 0.3
    while time.process_time() < end:  # 0.3 s of this process's CPU
        pass
    after = busy_seconds()
    assert after is not None and after - before >= 0.25


def test_cpu_per_request_is_reported_as_bare_over_ours() -> None:
    def result(cpu_us: float | None) -> WrkResult:
        return WrkResult(1000.0, 1.0, 5000, 0, cpu_us)

    runs = Runs(
        ours=[result(100.0), result(200.0), result(125.0)],
        base=[result(50.0), result(80.0), result(100.0)],
    )
    (row,) = cpu_rows("c. redirect", runs)
    assert (row.ours, row.baseline) == ("125 µs", "80 µs")
    assert row.ratio.startswith("0.50 bare/ours (median of 3 rounds, spread 0.40-0.80)")
    assert cpu_rows("c. redirect", Runs([result(None)], [result(50.0)])) == []
    (row,) = cpu_rows("f. access log", runs, ("on", "off"))  # two finews servers
    assert row.ratio.startswith("0.50 off/on (median of 3 rounds")
    throughput = load_rows("f. access log", runs, ">= 0.9", [], ("on", "off"))[0]
    assert throughput.ratio.startswith("1.00 on/off (median of 3 rounds")
    assert throughput.ratio.endswith("; aim >= 0.9")
