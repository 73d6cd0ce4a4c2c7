"""Statistics of noise-aware verdicts: interval coverage, paired-test error rates and power.

Simulations are seeded, so these tests are deterministic; the stated figures are the documented
ones in docs/verdicts.md.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.stats import (
    bootstrap_interval,
    interval,
    mcnemar_p,
    mean_interval,
    sign_flip_p,
    t_quantile,
    wilson_interval,
)
from pytest_llmgate.verdict.compare import paired_p_value

SIMULATIONS = 400
pytestmark = pytest.mark.slow


def test_t_quantile_matches_tables() -> None:
    # Student-t 97.5% quantiles from standard tables
    for df, expected in ((1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042)):
        assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize(("n", "sigma"), [(10, 1.0), (30, 0.5), (60, 2.0)])
def test_mean_interval_covers_the_true_mean_at_the_nominal_rate(n: int, sigma: float) -> None:
    rng = random.Random(n)
    covered = 0
    for _ in range(SIMULATIONS):
        sample = [rng.gauss(3.0, sigma) for _ in range(n)]
        low, high = mean_interval(sample)  # type: ignore[misc]
        covered += low <= 3.0 <= high
    assert covered / SIMULATIONS >= 0.93


def test_cluster_interval_with_repeats_covers_the_true_mean() -> None:
    # rows differ (between-row sd 1) and repeats are noisy (within sd 0.5): rows are the unit
    rng = random.Random(7)
    covered = 0
    for _ in range(SIMULATIONS):
        rows = [rng.gauss(4.0, 1.0) for _ in range(25)]
        groups = [[r + rng.gauss(0, 0.5) for _ in range(3)] for r in rows]
        low, high = interval(groups, "mean")  # type: ignore[misc]
        covered += low <= 4.0 <= high
    assert covered / SIMULATIONS >= 0.93


def test_wilson_interval_covers_the_true_rate() -> None:
    rng = random.Random(3)
    covered = 0
    for _ in range(SIMULATIONS):
        successes = sum(rng.random() < 0.8 for _ in range(50))
        low, high = wilson_interval(successes, 50)  # type: ignore[misc]
        covered += low <= 0.8 <= high
    assert covered / SIMULATIONS >= 0.93


def test_bootstrap_median_interval_covers_the_true_median() -> None:
    rng = random.Random(11)
    covered = 0
    for run in range(200):
        groups = [[rng.gauss(0.0, 1.0)] for _ in range(40)]
        low, high = bootstrap_interval(groups, "median", seed=run, resamples=400)  # type: ignore[misc]
        covered += low <= 0.0 <= high
    assert covered / 200 >= 0.90  # percentile bootstrap of a median is slightly liberal


@given(st.lists(st.floats(0, 5), min_size=2, max_size=40))
def test_intervals_contain_the_estimate(values: list[float]) -> None:
    ci = mean_interval(values)
    mean = sum(values) / len(values)
    if ci is None:  # no spread and no known range: no interval (see test_stats_exact.py)
        assert max(values) - min(values) <= 1e-9
        return
    low, high = ci
    assert low - 1e-9 <= mean <= high + 1e-9


@given(st.integers(0, 50), st.integers(1, 50))
def test_wilson_interval_is_a_probability_range(k: int, n: int) -> None:
    k = min(k, n)
    low, high = wilson_interval(k, n)  # type: ignore[misc]
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_paired_test_holds_its_false_positive_rate() -> None:
    rng = random.Random(5)
    positives = 0
    for run in range(SIMULATIONS):
        base = [rng.gauss(3, 1) for _ in range(30)]
        pairs = [(b + rng.gauss(0, 0.4), b + rng.gauss(0, 0.4)) for b in base]
        positives += paired_p_value(pairs, higher_is_better=True, seed=run) < 0.05
    assert positives / SIMULATIONS <= 0.07


def test_paired_test_detects_a_planted_drop() -> None:
    # a drop of 0.35 per row against per-row delta sd 0.57 (effect size 0.62) on 30 rows:
    # the documented power >= 90% at the 0.05 level
    rng = random.Random(6)
    detected = 0
    for run in range(SIMULATIONS):
        base = [rng.gauss(3, 1) for _ in range(30)]
        pairs = [(b + rng.gauss(0, 0.4), b - 0.35 + rng.gauss(0, 0.4)) for b in base]
        detected += paired_p_value(pairs, higher_is_better=True, seed=run) < 0.05
    assert detected / SIMULATIONS >= 0.90


def test_mcnemar_holds_its_level_and_detects_flips() -> None:
    rng = random.Random(8)
    false_pos = detected = 0
    for run in range(SIMULATIONS):
        same = [(float(rng.random() < 0.7), float(rng.random() < 0.7)) for _ in range(60)]
        false_pos += paired_p_value(same, True, seed=run) < 0.05
        base = [float(rng.random() < 0.8) for _ in range(60)]
        worse = [(b, 0.0 if b and rng.random() < 0.3 else b) for b in base]
        detected += paired_p_value(worse, True, seed=run) < 0.05
    assert false_pos / SIMULATIONS <= 0.06
    assert detected / SIMULATIONS >= 0.95


def test_exact_small_sample_values() -> None:
    assert mcnemar_p(5, 0) == pytest.approx(1 / 32)
    assert mcnemar_p(0, 0) == 1.0
    assert sign_flip_p([-1.0] * 5) == pytest.approx(1 / 32)
    assert sign_flip_p([1.0] * 5) == 1.0  # every row improved: no evidence of a drop
