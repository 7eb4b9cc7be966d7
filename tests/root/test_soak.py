"""`make soak`, briefly: a few seconds of mixed traffic against a real `finews serve`
give no 5xx, no failed request and click counts equal to the clicks sent."""

from __future__ import annotations

from pathlib import Path

from bench.soak import soak


def test_a_short_soak_has_no_server_errors_and_exact_click_counts(tmp_path: Path) -> None:
    report = soak(seconds=3, warmup=1, posts=50, connections=16, cache=tmp_path)
    summary = "\n".join(report.lines())
    assert report.requests > 0 and report.statuses[302] > 0 and report.statuses[304] > 0, summary
    assert report.server_errors == 0 and not report.client_errors, summary
    assert report.clicks_sent > 0 and report.exact, summary
    assert report.clicks_counted == report.clicks_sent, summary
    assert report.unique_counted == report.unique_sent, summary
