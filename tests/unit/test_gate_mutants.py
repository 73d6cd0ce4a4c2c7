"""Tests written to kill mutants that survived the suite (bench/mutate.py, docs/verdicts.md):
errored repeats never count within a row bound, overrides apply in file order (the last matching
one wins), and the error budget is strict."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_llmgate.gate import judge
from pytest_llmgate.results import RowResult
from pytest_llmgate.thresholds import Policy, load_thresholds


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
