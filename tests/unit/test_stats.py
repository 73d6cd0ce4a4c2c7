"""Aggregates agree with NumPy and obey their algebra (hypothesis)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.stats import aggregate, is_aggregate, pass_rate, percentile, summarize

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
values = st.lists(finite, min_size=1, max_size=200)


@given(values, st.integers(min_value=0, max_value=100))
def test_percentile_matches_numpy_linear(xs: list[float], q: int) -> None:
    assert percentile(sorted(xs), q) == pytest.approx(float(np.percentile(xs, q)), abs=1e-6)


@given(values)
def test_summary_matches_numpy(xs: list[float]) -> None:
    s = summarize(xs)
    assert s["mean"] == pytest.approx(float(np.mean(xs)), abs=1e-6)
    assert s["median"] == pytest.approx(float(np.median(xs)), abs=1e-6)
    assert s["min"] == min(xs) and s["max"] == max(xs)
    assert s["count"] == len(xs)
    assert s["sum"] == pytest.approx(math.fsum(xs), abs=1e-6)
    if len(xs) > 1:
        assert s["std"] == pytest.approx(float(np.std(xs, ddof=1)), rel=1e-6, abs=1e-6)


@given(values)
def test_percentiles_are_monotone_and_bounded(xs: list[float]) -> None:
    ps = [aggregate(xs, f"p{q}") for q in (0, 10, 25, 50, 75, 90, 95, 100)]
    assert all(a is not None and b is not None and a <= b + 1e-9 for a, b in itertools.pairwise(ps))
    assert ps[0] == min(xs) and ps[-1] == max(xs)


@given(st.lists(st.one_of(st.none(), finite), min_size=1, max_size=100), finite, finite)
def test_pass_rate_counts_missing_as_failing(xs: list[float | None], a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    rate = pass_rate(xs, low, high)
    expected = sum(1 for x in xs if x is not None and low <= x <= high) / len(xs)
    assert rate == pytest.approx(expected)
    assert pass_rate([None] * len(xs), low, high) == 0.0


def test_empty_values_have_no_aggregate_but_a_count() -> None:
    assert aggregate([], "mean") is None
    assert aggregate([], "count") == 0.0
    assert pass_rate([], 0, 1) is None


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("mean", True),
        ("p95", True),
        ("p100", True),
        ("p101", False),
        ("average", False),
        ("pass_rate", True),
    ],
)
def test_aggregate_names(name: str, ok: bool) -> None:
    assert is_aggregate(name) is ok
