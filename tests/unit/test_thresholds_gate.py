"""Threshold layering and verdict semantics (errors fail closed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.config.thresholds import Policy, direction_of, load_thresholds
from pytest_llmgate.errors import InputError
from pytest_llmgate.results.model import RowResult
from pytest_llmgate.verdict.gate import judge


def rows(values: list[float | None], metric: str = "m") -> list[RowResult]:
    out = []
    for i, v in enumerate(values):
        metrics = {} if v is None else {metric: v}
        errors = ("evaluator x: boom",) if v is None else ()
        out.append(
            RowResult(
                id=str(i),
                line=i + 1,
                data={},
                inputs={},
                output="o",
                metrics=metrics,
                errors=errors,
            )
        )
    return out


def policy(tmp_path: Path, text: str, **names: str) -> Policy:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text)
    defaults = {"suite": "s", "subject": "a", "variant": "v", "dataset": "d", **names}
    return load_thresholds(path).apply(Policy(), **defaults)


def test_min_bound_breach_fails_and_names_source(tmp_path: Path) -> None:
    p = policy(tmp_path, "metrics:\n  m: {min: 0.5}\n")
    verdict = judge(rows([0.2, 0.4]), p)
    assert verdict.verdict == "failed"
    (check,) = verdict.checks
    assert check.verdict == "fail" and check.value == pytest.approx(0.3)
    assert check.source == "thresholds.yaml:2"


def test_bound_is_inclusive(tmp_path: Path) -> None:
    p = policy(tmp_path, "metrics:\n  m: {min: 0.3, max: 0.3}\n")
    assert judge(rows([0.1, 0.2, 0.6]), p).verdict == "passed"


def test_override_replaces_metric_rules_for_matching_items_only(tmp_path: Path) -> None:
    text = (
        "metrics:\n  m: {min: 0.9}\noverrides:\n"
        "  - match: {variant: 'cheap-*'}\n    metrics:\n      m: {min: 0.1}\n"
    )
    assert judge(rows([0.5]), policy(tmp_path, text, variant="cheap-1")).verdict == "passed"
    assert judge(rows([0.5]), policy(tmp_path, text, variant="best")).verdict == "failed"


def test_errors_fail_closed_unless_budgeted(tmp_path: Path) -> None:
    strict = policy(tmp_path, "metrics:\n  m: {min: 0}\n")
    assert judge(rows([1.0, None]), strict).verdict == "failed"
    lenient = policy(tmp_path, "defaults: {max_error_rate: 0.5}\nmetrics:\n  m: {min: 0}\n")
    assert judge(rows([1.0, None]), lenient).verdict == "passed"


def test_all_rows_errored_is_an_error_check_not_a_pass(tmp_path: Path) -> None:
    p = policy(tmp_path, "defaults: {max_error_rate: 1}\nmetrics:\n  m: {min: 0}\n")
    verdict = judge(rows([None, None]), p)
    assert verdict.verdict == "failed"
    assert any(c.verdict == "error" and c.metric == "m" for c in verdict.checks)


def test_warn_severity_never_fails(tmp_path: Path) -> None:
    p = policy(tmp_path, "metrics:\n  m: {max: 0.1, severity: warn}\n")
    verdict = judge(rows([0.9]), p)
    assert verdict.verdict == "passed" and verdict.checks[0].verdict == "warn"


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text("metrics:\n  m: {min: 1}\n  m: {min: 2}\n")
    with pytest.raises(InputError, match=r"thresholds.yaml:3: metrics.m: duplicate key"):
        load_thresholds(path)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=50), st.floats(0, 1))
def test_mean_rule_agrees_with_arithmetic(values: list[float], bound: float) -> None:
    from pytest_llmgate.config.thresholds import Rule

    p = Policy(rules={"m": (Rule(metric="m", aggregate="mean", min=bound),)})
    mean = sum(values) / len(values)
    verdict = judge(rows(list(values)), p).verdict
    if mean < bound - 1e-6:
        assert verdict == "failed"
    elif mean > bound + 1e-6:
        assert verdict == "passed"


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("f1_score", "higher_is_better"),
        ("cost_usd", "lower_is_better"),
        ("latency_ms", "lower_is_better"),
    ],
)
def test_direction(metric: str, direction: str) -> None:
    assert direction_of(metric) == direction


def test_item_level_metrics_are_gated_directly(tmp_path: Path) -> None:
    p = policy(tmp_path, "metrics:\n  accuracy: {min: 0.75}\n")
    failing = judge(rows([1.0]), p, item_metrics={"accuracy": 0.5})
    assert failing.verdict == "failed"
    (check,) = failing.checks
    assert (check.aggregate, check.value, check.verdict) == ("value", 0.5, "fail")
    assert judge(rows([1.0]), p, item_metrics={"accuracy": 0.8}).verdict == "passed"
