"""Tests written to kill mutants that survived the suite (bench/mutate.py, docs/verdicts.md):
errored repeats never count within a row bound, overrides apply in file order (the last matching
one wins), and the error budget is strict."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate.config.thresholds import Policy, load_thresholds
from pytest_llmgate.results.model import RowResult
from pytest_llmgate.verdict.gate import judge


def _repeats(groups: list[list[float | None]], metric: str = "m") -> list[RowResult]:
    """Rows with repeats; None is an errored repeat (no metric, an error)."""
    out = []
    for i, group in enumerate(groups):
        for k, value in enumerate(group):
            out.append(
                RowResult(
                    id=f"r{i}", line=i + 1, data={}, inputs={}, output="o", repeat=k,
                    metrics={} if value is None else {metric: value},
                    errors=("evaluator m: boom",) if value is None else (),
                )
            )
    return out


def _policy(tmp_path: Path, text: str, **names: str) -> Policy:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text)
    where = {"suite": "s", "subject": "a", "variant": "v", "dataset": "d", **names}
    return load_thresholds(path).apply(Policy(), **where)


@pytest.mark.parametrize(
    ("row", "pass_k", "expected_rate"),
    [
        ("{max: 0.5}", "all", 0.5),  # r0 [0.2, error] fails, r1 [0.1, 0.3] passes
        ("{min: 0.0}", "all", 0.5),
        ("{max: 0.5}", "1", 1.0),  # one good repeat is enough
        ("{max: 0.5}", "2", 0.5),  # an errored repeat is not the second pass
        ("{max: 0.5}", "any", 1.0),
    ],
)
def test_an_errored_repeat_never_counts_within_a_row_bound(
    tmp_path: Path, row: str, pass_k: str, expected_rate: float
) -> None:
    text = (
        "defaults: {max_error_rate: 0.5}\n"
        f"metrics:\n  m: {{aggregate: pass_rate, row: {row}, min: 0.9, pass_k: {pass_k}}}\n"
    )
    rows = _repeats([[0.2, None], [0.1, 0.3]])
    verdict = judge(rows, _policy(tmp_path, text))
    errors, check = verdict.checks
    assert errors.kind == "errors" and errors.verdict == "warn"  # 1 of 4 within the budget
    assert check.value == pytest.approx(expected_rate)
    assert verdict.verdict == ("passed" if expected_rate >= 0.9 else "failed")


def test_a_row_whose_every_repeat_errored_fails_its_row_bound(tmp_path: Path) -> None:
    text = (
        "defaults: {max_error_rate: 1}\n"
        "metrics:\n  m: {aggregate: pass_rate, row: {max: 0.5}, min: 0.5, pass_k: any}\n"
    )
    verdict = judge(_repeats([[None, None], [0.1]]), _policy(tmp_path, text))
    check = next(c for c in verdict.checks if c.kind == "threshold")
    assert check.value == pytest.approx(0.5)
    assert verdict.verdict == "passed"
    text = text.replace("min: 0.5, pass_k", "min: 0.6, pass_k")
    assert judge(_repeats([[None, None], [0.1]]), _policy(tmp_path, text)).verdict == "failed"


OVERRIDES = """\
metrics:
  m: {min: 0.9}
overrides:
  - match: {variant: '*'}
    metrics:
      m: {min: 0.1}
  - match: {variant: 'v'}
    metrics:
      m: {min: 0.5}
  - match: {dataset: 'other'}
    metrics:
      m: {min: 0.2}
"""


def test_overrides_apply_in_file_order_the_last_match_wins(tmp_path: Path) -> None:
    rows = _repeats([[0.3], [0.3]])
    policy = _policy(tmp_path, OVERRIDES)
    (rule,) = policy.rules["m"]
    assert rule.min == 0.5 and rule.source == "thresholds.yaml:9"
    assert judge(rows, policy).verdict == "failed"  # 0.3 < 0.5
    # only the first override matches another variant
    other_variant = _policy(tmp_path, OVERRIDES, variant="w")
    assert other_variant.rules["m"][0].min == 0.1
    assert judge(rows, other_variant).verdict == "passed"
    # all three match: the third (file order) wins
    every = _policy(tmp_path, OVERRIDES, dataset="other")
    assert every.rules["m"][0].min == 0.2


def test_error_budget_is_strict_at_the_edge(tmp_path: Path) -> None:
    rows = _repeats([[0.5], [None], [0.5], [0.5]])  # 1 of 4 rows errored: 25%
    at = _policy(tmp_path, "defaults: {max_error_rate: 0.25}\nmetrics:\n  m: {min: 0.1}\n")
    assert judge(rows, at).verdict == "passed"
    below = _policy(tmp_path, "defaults: {max_error_rate: 0.24}\nmetrics:\n  m: {min: 0.1}\n")
    verdict = judge(rows, below)
    assert verdict.verdict == "failed"
    assert verdict.checks[0].verdict == "fail"
    assert verdict.checks[0].message == "1 of 4 rows errored (max_error_rate 0.24)"


def test_sum_and_count_have_no_interval() -> None:
    from pytest_llmgate.stats import interval

    assert interval([[1.0], [2.0], [4.0]], "sum") is None
    assert interval([[1.0], [2.0], [4.0]], "count") is None
    assert interval([], "mean") is None


def test_a_continuous_metric_has_no_binary_mde_floor() -> None:
    from llmgate_runs import item

    from pytest_llmgate.config.thresholds import RegressionRule
    from pytest_llmgate.verdict.compare import regression_checks

    base = [0.5 + 0.01 * (i % 5) for i in range(40)]
    head = [b + (0.01 if i % 2 else -0.01) for i, b in enumerate(base)]

    def rows(values: list[float]) -> list[RowResult]:
        return [RowResult(id=f"r{i}", line=1, data={"id": f"r{i}"}, inputs={}, output="o",
                          metrics={"f1_score": v}) for i, v in enumerate(values)]

    rule = RegressionRule("f1_score", max_drop=0.001)
    (check,) = regression_checks(rows(head), item(rows=rows(base)),
                                 Policy(regression={"f1_score": rule}), dataset_sha256="a" * 64)
    assert check.mde is not None and check.mde < 5 / 40  # 0/1 metrics only need 5 changed rows


def test_a_significant_drop_below_min_effect_passes() -> None:
    from llmgate_runs import item

    from pytest_llmgate.config.thresholds import RegressionRule
    from pytest_llmgate.verdict.compare import regression_checks

    def rows(values: list[float]) -> list[RowResult]:
        return [RowResult(id=f"r{i}", line=1, data={"id": f"r{i}"}, inputs={}, output="o",
                          metrics={"relevance": v}) for i, v in enumerate(values)]

    rule = RegressionRule("relevance", significance=0.05, min_effect=0.3)
    policy = Policy(regression={"relevance": rule})
    (small,) = regression_checks(rows([3.9] * 12), item(rows=rows([4.0] * 12)), policy,
                                 dataset_sha256="a" * 64)
    assert small.p_value == pytest.approx(1 / 4096)
    assert small.verdict == "pass"  # significant, but 0.1 < min_effect 0.3
    (better,) = regression_checks(rows([4.5] * 12), item(rows=rows([4.0] * 12)), policy,
                                  dataset_sha256="a" * 64)
    assert better.verdict == "pass"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("{aggregate: mean}", "a rule needs a bound: min and/or max"),
        ("{aggregate: pass_rate, min: 0.5}", "aggregate pass_rate needs a row bound"),
    ],
)
def test_a_rule_without_its_bound_is_refused(tmp_path: Path, rule: str, problem: str) -> None:
    from pytest_llmgate.errors import InputError

    path = tmp_path / "thresholds.yaml"
    path.write_text(f"metrics:\n  m: {rule}\n")
    with pytest.raises(InputError, match=problem):
        load_thresholds(path)
