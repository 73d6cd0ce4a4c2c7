"""Noise-aware regression rules: the default paired test, the timing minimum effect, `literal:`,
and the minimum detectable effect every regression check reports."""

from __future__ import annotations

import math
import random

import pytest
from llmgate_runs import item

from pytest_llmgate.config.thresholds import Policy, RegressionRule
from pytest_llmgate.results.model import Check, RowResult
from pytest_llmgate.stats import paired_mde, t_quantile
from pytest_llmgate.verdict.compare import regression_checks

SHA = "a" * 64


def _rows(metric: str, values: list[float]) -> list[RowResult]:
    return [_row(f"r{i}", metric, v) for i, v in enumerate(values)]


def _row(rid: str, metric: str, value: float) -> RowResult:
    return RowResult(id=rid, line=1, data={"id": rid}, inputs={}, output="o",
                     metrics={metric: value})


def _check(rule: RegressionRule, base: list[float], head: list[float]) -> Check:
    baseline = item(rows=_rows(rule.metric, base))
    (check,) = regression_checks(_rows(rule.metric, head), baseline,
                                 Policy(regression={rule.metric: rule}), dataset_sha256=SHA)
    return check


def test_a_plain_max_drop_is_noise_aware_by_default() -> None:
    # judge scores on 1-5 move by +-1 on a few rows of an unchanged subject: the mean falls 0.2
    # (beyond max_drop 0.1) but the rows disagree on the direction: no regression
    base = [4.0, 3.0, 5.0, 4.0, 4.0, 3.0, 5.0, 4.0, 4.0, 3.0]
    head = [3.0, 4.0, 4.0, 3.0, 4.0, 3.0, 4.0, 5.0, 4.0, 3.0]
    check = _check(RegressionRule("relevance", max_drop=0.1), base, head)
    assert check.verdict == "pass", check.message
    assert "within noise" in check.message
    assert check.p_value is not None and check.p_value > 0.05
    assert check.alpha == 0.05
    # the same numbers with `literal: true` compare the limit alone
    literal = _check(RegressionRule("relevance", max_drop=0.1, literal=True), base, head)
    assert literal.verdict == "fail"
    assert literal.p_value is None and literal.alpha is None
    assert literal.mde == pytest.approx(0.1)


def test_a_real_drop_still_fails_by_default() -> None:
    base = [4.0] * 12
    head = [3.0] * 6 + [4.0] * 6
    check = _check(RegressionRule("relevance", max_drop=0.1), base, head)
    assert check.verdict == "fail"
    assert check.p_value == pytest.approx(1 / 64)
    assert "significant at 0.05" in check.message


def test_a_drop_within_the_limit_passes_even_when_significant() -> None:
    base = [0.80] * 10
    head = [0.79] * 10
    check = _check(RegressionRule("f1_score", max_drop=0.02), base, head)
    assert check.verdict == "pass"
    assert check.p_value == pytest.approx(1 / 1024)


def test_few_rows_fall_back_to_the_literal_limit() -> None:
    # 4 rows: an exact paired test cannot go below 1/16, so it could never fire at 0.05
    check = _check(RegressionRule("f1_score", max_drop=0.1), [1, 1, 1, 1], [1, 1, 0, 0])
    assert check.verdict == "fail"
    assert check.p_value is None and check.alpha is None
    # 5 rows can: 1/32 < 0.05
    five = _check(RegressionRule("f1_score", max_drop=0.1), [1] * 5, [0] * 5)
    assert five.verdict == "fail" and five.p_value == pytest.approx(1 / 32)
    assert five.alpha == 0.05


def test_an_identical_rerun_on_a_busy_machine_is_not_a_latency_regression() -> None:
    # every row 35% slower (the machine, not the code): the paired test alone would fire
    rng = random.Random(1)
    base = [rng.uniform(200, 400) for _ in range(30)]
    busy = [b * 1.35 for b in base]
    rule = RegressionRule("latency_ms", aggregate="p95", max_rise_pct=10)
    check = _check(rule, base, busy)
    assert check.p_value is not None and check.p_value < 0.001
    assert check.verdict == "pass", check.message
    # a 2x slowdown is beyond the 50% timing minimum and the limit: a regression
    slow = _check(rule, base, [b * 2 for b in base])
    assert slow.verdict == "fail"
    # an explicit min_effect replaces the timing default
    strict = _check(RegressionRule("latency_ms", aggregate="p95", max_rise_pct=10,
                                   min_effect=1.0), base, busy)
    assert strict.verdict == "fail"


def test_cost_and_tokens_use_the_paired_test() -> None:
    base = [0.010, 0.012, 0.011, 0.009, 0.010, 0.013, 0.011, 0.010]
    head = [0.011, 0.011, 0.012, 0.009, 0.011, 0.012, 0.012, 0.009]
    check = _check(RegressionRule("cost_usd", max_rise_pct=2), base, head)
    assert check.p_value is not None and check.p_value > 0.05
    assert check.verdict == "pass"


def test_explicit_significance_is_unchanged() -> None:
    base = [4.0] * 12
    head = [3.0] * 6 + [4.0] * 6
    check = _check(RegressionRule("relevance", significance=0.01, min_effect=0.3), base, head)
    assert check.verdict == "pass"  # p = 1/64 = 0.0156 is not below 0.01
    assert check.alpha == 0.01


# ---- minimum detectable effect ------------------------------------------------------------------
def test_paired_mde_formula() -> None:
    deltas = [0.5, -0.5, 1.0, -1.0, 0.0, 0.5, -0.5, 0.0, 1.0, -1.0]
    n = len(deltas)
    mean = sum(deltas) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (n - 1))
    expected = (t_quantile(0.95, n - 1) + t_quantile(0.8, n - 1)) * sd / math.sqrt(n)
    assert paired_mde(deltas) == pytest.approx(expected, rel=1e-12)
    # quadrupling N halves it (same spread)
    assert paired_mde(deltas * 4) < expected * 0.55  # type: ignore[operator]
    assert paired_mde([1.0]) is None
    assert paired_mde([1.0, -1.0, 0.0, 1.0]) is None  # 4 rows can never reach 0.05
    # a 0/1 metric needs at least 5 rows to change: floor 5/n
    assert paired_mde([0.0] * 40, binary=True) == pytest.approx(5 / 40)
    assert paired_mde([0.0] * 40) == 0.0


def test_every_regression_check_reports_its_mde() -> None:
    rng = random.Random(3)
    base = [float(min(5, max(1, round(rng.gauss(4, 0.8))))) for _ in range(40)]
    head = [float(min(5, max(1, round(b + rng.gauss(0, 0.8))))) for b in base]
    check = _check(RegressionRule("groundedness", max_drop=0.1), base, head)
    deltas = [h - b for b, h in zip(base, head, strict=True)]
    assert check.mde == pytest.approx(max(paired_mde(deltas) or 0.0, 0.1))  # type: ignore[arg-type]
    assert 0.3 < check.mde < 0.6  # type: ignore[operator]
    assert Check.from_dict(check.to_dict()) == check
    assert check.to_dict()["mde"] == check.mde
    # at N=15 the same spread can only see a larger drop
    small = _check(RegressionRule("groundedness", max_drop=0.1), base[:15], head[:15])
    assert small.mde > check.mde  # type: ignore[operator]
    # the rule's own minimum effect is a floor
    big = _check(RegressionRule("groundedness", significance=0.05, min_effect=0.9), base, head)
    assert big.mde == pytest.approx(0.9)


def test_a_busy_machine_slowing_fast_code_is_no_timing_regression() -> None:
    """Measured on a loaded runner: identical code, p95 2.9 ms -> 15.5 ms, every row slower. The
    paired test calls that significant; the default timing rule's absolute floor does not."""
    from pytest_llmgate.config.thresholds import Policy, RegressionRule
    from pytest_llmgate.results.model import ItemResult, RowResult
    from pytest_llmgate.verdict.compare import regression_checks, timing_floor

    def rows(ms: float) -> tuple[RowResult, ...]:
        return tuple(RowResult(id=f"r{i}", line=i, data={}, inputs={}, output="x",
                               metrics={"latency_ms": ms + i * 0.01}) for i in range(12))

    base = ItemResult(nodeid="n", suite="s", subject="b", variant="v", dataset="d",
                      verdict="passed", rows=rows(2.9), dataset_sha256="a")
    policy = Policy(regression={"latency_ms": RegressionRule("latency_ms", "p95", max_rise_pct=5)})
    [check] = regression_checks(rows(15.5), base, policy, dataset_sha256="a")
    assert check.verdict == "pass", check.message
    [slow] = regression_checks(rows(400.0), base, policy, dataset_sha256="a")
    assert slow.verdict == "fail"  # a real slowdown past the floor still fails
    assert timing_floor("latency_ms") == 250.0
    assert timing_floor("duration_s") == 0.25
