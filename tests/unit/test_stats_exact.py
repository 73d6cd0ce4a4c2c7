"""The exact Student-t quantile, range-respecting intervals, and rules on intervals that cannot
be estimated (issue 11, "No false alarms")."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.config.thresholds import Policy, load_thresholds
from pytest_llmgate.results.model import RowResult
from pytest_llmgate.stats import (
    betainc,
    bootstrap_interval,
    interval,
    mean_interval,
    metric_range,
    t_cdf,
    t_quantile,
    wilson_interval,
)
from pytest_llmgate.verdict.gate import judge

# ---- the t quantile ------------------------------------------------------------------------------
# Reference values: mpmath at 40 digits (findroot on the regularized incomplete beta function).
# SciPy's t.ppf(0.975, 3) = 3.182446305284263 is itself 1.7e-13 off.
MPMATH = [
    (3, 0.975, 3.1824463052837095927),
    (10000, 0.95, 1.6450060180692429644),
    (4, 0.975, 2.7764451051977991),
    (14, 0.975, 2.1447866879169273),
    (39, 0.975, 2.0226909200367595),
]


@pytest.mark.parametrize(("df", "p", "expected"), MPMATH)
def test_t_quantile_is_exact(df: int, p: float, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-13)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, rel=1e-13)


def test_t_quantile_agrees_with_the_reference_the_issue_quotes() -> None:
    # the Cornish-Fisher approximation gave 3.1786 here
    assert t_quantile(0.975, 3) == pytest.approx(3.182446305284263, rel=1e-12)


def test_t_quantile_closed_forms_and_limits() -> None:
    assert t_quantile(0.975, 1) == pytest.approx(12.706204736174705, rel=1e-14)
    assert t_quantile(0.975, 2) == pytest.approx(4.302652729749464, rel=1e-14)
    assert t_quantile(0.5, 7) == 0.0
    # a huge df tends to the normal quantile
    assert t_quantile(0.975, 10**7) == pytest.approx(1.959963984540054, rel=1e-6)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="p must be"):
            t_quantile(bad, 3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.9, 0)


@given(st.floats(1e-6, 1 - 1e-6), st.integers(1, 400))
def test_t_quantile_inverts_the_cdf(p: float, df: int) -> None:
    t = t_quantile(p, df)
    assert t_cdf(t, df) == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert t_quantile(1 - p, df) == pytest.approx(-t, rel=1e-9, abs=1e-12)


@given(st.floats(0.51, 0.9999), st.integers(1, 200))
def test_t_quantile_shrinks_with_df_towards_the_normal(p: float, df: int) -> None:
    from statistics import NormalDist

    z = NormalDist().inv_cdf(p)
    assert t_quantile(p, df) >= t_quantile(p, df + 1) - 1e-12
    assert t_quantile(p, df + 1) >= z - 1e-12


@given(st.floats(0.01, 50), st.floats(0.01, 50), st.floats(0.001, 0.999))
def test_betainc_symmetry_and_bounds(a: float, b: float, x: float) -> None:
    value = betainc(a, b, x)
    assert 0.0 <= value <= 1.0 + 1e-12
    assert value == pytest.approx(1.0 - betainc(b, a, 1.0 - x), abs=1e-10)


def test_betainc_closed_forms() -> None:
    for x in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert betainc(1, 1, x) == pytest.approx(x, abs=1e-15)
        assert betainc(3, 1, x) == pytest.approx(x**3, abs=1e-15)
        assert betainc(1, 2, x) == pytest.approx(1 - (1 - x) ** 2, abs=1e-15)
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        betainc(1, 1, 1.5)


# ---- intervals respect the metric's range -----------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("exact_match", (0.0, 1.0)),
        ("f1_score", (0.0, 1.0)),
        ("rougeL_f1_score", (0.0, 1.0)),
        ("groundedness", (1.0, 5.0)),
        ("violence_score", (0.0, 7.0)),
        ("latency_ms", (0.0, None)),
        ("judge_cost_usd", (0.0, None)),
        ("my_metric", (None, None)),
    ],
)
def test_metric_ranges(metric: str, expected: tuple[float | None, float | None]) -> None:
    assert metric_range(metric) == expected


def test_exact_match_interval_stays_within_0_1() -> None:
    # the issue's case: the plain t interval was 0.6738..1.126
    values = [1.0] * 13 + [0.0] * 2
    low, high = mean_interval(values, bounds=(0.0, 1.0))  # type: ignore[misc]
    assert high == 1.0
    assert low == pytest.approx(13 / 15 - t_quantile(0.975, 14) * 0.35186577 / math.sqrt(15),
                                rel=1e-6)


def test_tiny_judge_sample_interval_stays_on_the_scale() -> None:
    # the issue's case: N=3 on a 1-5 scale gave 0.80..6.54
    low, high = mean_interval([2.0, 5.0, 4.0], bounds=(1.0, 5.0))  # type: ignore[misc]
    assert (low, high) == (1.0, 5.0)


@given(st.lists(st.sampled_from([0.0, 1.0]), min_size=2, max_size=60))
def test_binary_metric_interval_within_range_and_contains_the_mean(values: list[float]) -> None:
    low, high = mean_interval(values, bounds=metric_range("exact_match"))  # type: ignore[misc]
    mean = sum(values) / len(values)
    assert 0.0 <= low <= mean <= high <= 1.0
    assert high - low > 0  # never a zero-width claim of certainty


@given(st.lists(st.integers(1, 5), min_size=2, max_size=60))
def test_judge_interval_within_range(values: list[int]) -> None:
    ci = interval([[float(v)] for v in values], "mean", bounds=metric_range("relevance"))
    assert ci is not None
    assert 1.0 <= ci[0] <= ci[1] <= 5.0
    assert ci[1] > ci[0]


def test_no_spread_has_no_interval_without_a_range_and_a_wilson_one_with() -> None:
    assert mean_interval([0.7] * 5) is None
    assert mean_interval([0.7]) is None
    assert mean_interval([1.0], bounds=(0.0, 1.0)) is None
    low, high = mean_interval([1.0] * 15, bounds=(0.0, 1.0))  # type: ignore[misc]
    assert (low, high) == pytest.approx(wilson_interval(15, 15))  # type: ignore[arg-type]
    assert low == pytest.approx(0.796117, abs=1e-6)
    # on a 1-5 scale: rescaled to 0..1 and back
    low, high = mean_interval([5.0] * 15, bounds=(1.0, 5.0))  # type: ignore[misc]
    assert (low, high) == pytest.approx((1 + 4 * 0.7961166989641514, 5.0))


def test_bootstrap_without_spread() -> None:
    # the order-statistic interval [min, max] covers the median at 95% from 6 rows on
    assert bootstrap_interval([[3.0]] * 6, "median") == (3.0, 3.0)
    assert bootstrap_interval([[3.0]] * 5, "median") is None
    assert bootstrap_interval([[3.0]] * 58, "p95") is None
    assert bootstrap_interval([[3.0]] * 59, "p95") == (3.0, 3.0)
    assert bootstrap_interval([[3.0]] * 40, "min") is None
    assert bootstrap_interval([[3.0]] * 40, "std") is None
    assert interval([[1.0], [0.5], [0.25]], "median", bounds=(0.5, 1.0)) is not None


# ---- the gate on intervals that cannot be estimated -------------------------------------------
def _rows(values: list[float], metric: str = "m") -> list[RowResult]:
    return [
        RowResult(id=str(i), line=i + 1, data={}, inputs={}, output="o", metrics={metric: v})
        for i, v in enumerate(values)
    ]


def _policy(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text)
    return load_thresholds(path).apply(Policy(), suite="s", subject="a", variant="v", dataset="d")


@pytest.mark.parametrize("on", ["interval", "ci_low", "ci_high"])
@pytest.mark.parametrize(
    "values", [[0.9], [0.9, 0.9, 0.9], [0.1], [0.1, 0.1]], ids=["one-high", "flat-high", "one-low",
                                                                 "flat-low"]
)
def test_a_rule_on_an_interval_that_cannot_be_estimated_is_inconclusive(
    tmp_path: Path, on: str, values: list[float]
) -> None:
    p = _policy(tmp_path, f"metrics:\n  m: {{min: 0.5, max: 0.95, on: {on}}}\n")
    verdict = judge(_rows(values), p)
    (check,) = verdict.checks
    assert check.verdict == "inconclusive", check
    assert "no interval can be estimated" in check.message
    assert verdict.verdict == "failed"  # a gate that cannot tell does not pass
    warn = _policy(tmp_path, f"metrics:\n  m: {{min: 0.5, on: {on}, on_inconclusive: warn}}\n")
    assert judge(_rows(values), warn).checks[0].verdict == "warn"
    # on the point value the same data are decided
    value = _policy(tmp_path, "metrics:\n  m: {min: 0.5, max: 0.95}\n")
    assert judge(_rows(values), value).checks[0].verdict in ("pass", "fail")


def test_a_flat_bounded_metric_still_gets_an_interval(tmp_path: Path) -> None:
    # exact_match is 0..1: 40 rows all correct is strong evidence (Wilson 0.912..1)
    p = _policy(tmp_path, "metrics:\n  exact_match: {min: 0.9, on: ci_low}\n")
    (check,) = judge(_rows([1.0] * 40, "exact_match"), p).checks
    assert check.verdict == "pass"
    assert check.ci_low == pytest.approx(0.912, abs=1e-3)
    (check,) = judge(_rows([1.0] * 15, "exact_match"), p).checks
    assert check.verdict == "fail"  # 15 rows cannot show >= 0.9 at 95%: ci_low is 0.796


# values 0.5..1.1: mean 0.8, sd 0.216, t(0.975, 6) = 2.447, 95% CI 0.6002..0.9998
SPREAD = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]


@pytest.mark.parametrize(
    ("rule", "expected", "decided_on"),
    [
        ("{min: 0.7}", "pass", None),
        ("{min: 0.7, on: ci_low}", "fail", "ci_low 0.6002"),
        ("{min: 0.6, on: ci_low}", "pass", None),
        ("{max: 0.9}", "pass", None),
        ("{max: 0.9, on: ci_high}", "fail", "ci_high 0.9998"),
        ("{max: 1.0, on: ci_high}", "pass", None),
        ("{min: 0.7, on: ci_high}", "pass", None),
        ("{max: 0.9, on: ci_low}", "pass", None),
        ("{min: 0.9999, on: ci_high}", "fail", "ci_high 0.9998"),
        ("{max: 0.6, on: ci_low}", "fail", "ci_low 0.6002"),
        ("{min: 0.7, on: interval}", "inconclusive", None),
        ("{max: 0.9, on: interval}", "inconclusive", None),
        ("{min: 0.6, on: interval}", "pass", None),
        ("{min: 1.0, on: interval}", "fail", None),
        ("{max: 0.6, on: interval}", "fail", None),
    ],
)
def test_ci_low_and_ci_high_decide_on_their_end_of_the_interval(
    tmp_path: Path, rule: str, expected: str, decided_on: str | None
) -> None:
    p = _policy(tmp_path, f"metrics:\n  m: {rule}\n")
    (check,) = judge(_rows(SPREAD), p).checks
    assert check.ci_low == pytest.approx(0.8 - 0.19977, abs=1e-4)
    assert check.ci_high == pytest.approx(0.8 + 0.19977, abs=1e-4)
    assert check.verdict == expected, check.message
    if decided_on is not None:
        assert f"({decided_on})" in check.message
