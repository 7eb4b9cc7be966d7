"""wrk's --latency output parses into requests/s, p99 and error counts."""

from __future__ import annotations

import pytest

from bench.wrk import WrkError, parse

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
