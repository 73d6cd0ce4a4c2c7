"""The load schedule and its item-level numbers: properties of `arrival_times` (the open-loop
send times) and `load_item_metrics` on hand-built request rows."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.load import arrival_times, load_item_metrics
from pytest_llmgate.results.model import RowResult


@given(st.floats(0.1, 500), st.floats(0, 20), st.floats(0.01, 20), st.integers(1, 5000))
def test_arrivals_follow_the_ramp_and_the_bounds(rate: float, ramp: float, duration: float,
                                                 limit: int) -> None:
    times = arrival_times(rate, ramp, duration, limit)
    assert times == sorted(times)
    assert all(0 <= t < ramp + duration for t in times)
    assert len(times) <= limit
    expected = rate * ramp / 2 + rate * duration  # the area under the rate curve
    if len(times) < limit:
        assert abs(len(times) - expected) <= 1.0 + 1e-9 * expected
    steady = [t for t in times if t >= ramp]
    gaps = [b - a for a, b in itertools.pairwise(steady)]
    assert all(g == pytest.approx(1 / rate) for g in gaps)


def test_ramp_starts_slow() -> None:
    times = arrival_times(10, 2, 1, 1000)
    first_second = sum(1 for t in times if t < 1)
    second_second = sum(1 for t in times if 1 <= t < 2)
    assert first_second == 3 and second_second == 7  # 10 * 1/4 and 10 * 3/4, rounded up
    assert len(times) == 20


def _row(n: int, *, limited: bool = False, error: bool = False, start: float = 0.0,
         end: float = 1.0) -> RowResult:
    metrics = {"rate_limited": 1.0 if limited else 0.0}
    if not limited and not error:
        metrics["latency_ms"] = 100.0
    return RowResult(id=f"r#{n}", line=1, data={}, inputs={}, output="", metrics=metrics,
                     details={"t_start_s": start, "t_end_s": end},
                     errors=("request: HTTP 500",) if error else ())


def test_item_metrics_count_every_kind_of_request() -> None:
    rows = [_row(0, start=0.0, end=0.5), _row(1, limited=True, start=0.5, end=0.6),
            _row(2, error=True, start=1.0, end=1.5), _row(3, start=1.5, end=2.0)]
    got = load_item_metrics(rows)
    assert got == {"requests": 4.0, "rate_limited_rate": 0.25, "error_rate": 0.25,
                   "requests_per_s": 1.0}


def test_item_metrics_of_nothing() -> None:
    assert load_item_metrics([]) == {"requests": 0.0}
    assert "requests_per_s" not in load_item_metrics([_row(0, start=1.0, end=1.0)])
    assert math.isfinite(load_item_metrics([_row(0)])["requests_per_s"])
