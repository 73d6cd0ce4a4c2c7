"""compare.py: row/item joins, direction-aware regression rules, like-for-like notes, RunDiff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llmgate_runs import item, row, run, scored, threshold

from pytest_llmgate.config.thresholds import Policy, RegressionRule
from pytest_llmgate.results.io import write_results
from pytest_llmgate.verdict.compare import (
    BETTER,
    SAME,
    WORSE,
    BaselineError,
    default_rules,
    diff_runs,
    evaluate_rule,
    load_baseline,
    regression_checks,
)


def policy(**rules: RegressionRule) -> Policy:
    return Policy(regression=rules)


# ---- evaluate_rule ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "base", "current", "verdict"),
    [
        (RegressionRule("f1", max_drop=0.05), 0.80, 0.76, "pass"),
        (RegressionRule("f1", max_drop=0.05), 0.80, 0.75, "pass"),  # exactly at the limit
        (RegressionRule("f1", max_drop=0.05), 0.80, 0.70, "fail"),
        (RegressionRule("f1", max_drop_pct=10), 0.80, 0.73, "pass"),
        (RegressionRule("f1", max_drop_pct=10), 0.80, 0.71, "fail"),
        # every limit given must hold: the 1% limit is the binding one
        (RegressionRule("f1", max_drop=0.5, max_drop_pct=1), 0.80, 0.78, "fail"),
        (RegressionRule("latency_ms", max_rise_pct=20), 100.0, 119.0, "pass"),
        (RegressionRule("latency_ms", max_rise_pct=20), 100.0, 121.0, "fail"),
        (RegressionRule("cost_usd", max_rise=0.01, severity="warn"), 0.10, 0.2, "warn"),
        # a rise of a higher-is-better metric is no regression under a drop rule
        (RegressionRule("f1", max_drop=0.01), 0.5, 0.9, "pass"),
        # a percent limit on a zero baseline: any rise breaks it
        (RegressionRule("cost_usd", max_rise_pct=10), 0.0, 0.001, "fail"),
    ],
)
def test_evaluate_rule(rule: RegressionRule, base: float, current: float, verdict: str) -> None:
    assert evaluate_rule(rule, base, current).verdict == verdict


def test_rule_bounds_are_absolute_and_message_names_the_change() -> None:
    outcome = evaluate_rule(RegressionRule("f1", max_drop=0.05, max_drop_pct=10), 0.8, 0.6)
    assert outcome.min == pytest.approx(0.75)
    assert outcome.max is None
    assert "fell by 0.2 (-25.0%)" in outcome.message
    assert "allowed 0.05, 10%" in outcome.message


def test_improvement_past_tolerance_asks_for_a_baseline_refresh() -> None:
    up = evaluate_rule(RegressionRule("f1", max_drop=0.05), 0.70, 0.80)
    assert up.verdict == "pass"
    assert up.improved
    assert "refresh the baseline" in up.message
    small = evaluate_rule(RegressionRule("f1", max_drop=0.05), 0.70, 0.72)
    assert not small.improved
    cheaper = evaluate_rule(RegressionRule("cost_usd", max_rise_pct=10), 1.0, 0.5)
    assert cheaper.improved  # lower cost is better: the saving outgrew the 10% tolerance


def test_direction_override_changes_which_way_is_better() -> None:
    rule = RegressionRule("length_chars", max_drop=5, direction="higher_is_better")
    assert evaluate_rule(rule, 100, 120).improved
    assert evaluate_rule(rule, 100, 90).verdict == "fail"


# ---- regression_checks (the plugin's entry point) ----------------------------------------------
def test_regression_checks_fail_on_a_drop() -> None:
    base = item(rows=scored("r", [1, 1, 1, 1]))
    current = scored("r", [1, 1, 0, 0])
    checks = regression_checks(current, base, policy(f1=RegressionRule("f1", max_drop=0.1)),
                               dataset_sha256="a" * 64)
    assert [(c.kind, c.metric, c.verdict) for c in checks] == [("regression", "f1", "fail")]
    check = checks[0]
    assert check.value == 0.5
    assert check.baseline == 1.0
    assert check.min == pytest.approx(0.9)
    assert "regression: f1 mean 1 -> 0.5" in check.message


def test_new_item_has_no_checks() -> None:
    assert regression_checks(scored("r", [1]), None, policy(f1=RegressionRule("f1", max_drop=0))) == []


def test_changed_dataset_compares_shared_rows_and_says_so() -> None:
    base = item(rows=[*scored("r", [1, 1]), row("gone", f1=0.0)], sha="a" * 64)
    changed = row("r1", data={"id": "r1", "question": "edited"}, f1=0.0)
    current = [scored("r", [1])[0], changed, row("fresh", f1=0.0)]
    checks = regression_checks(current, base, policy(f1=RegressionRule("f1", max_drop=0.0)),
                               dataset_sha256="b" * 64)
    note, f1 = checks
    assert note.verdict == "warn"
    assert note.metric == "dataset"
    assert "not like for like" in note.message
    assert "dataset changed (sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb)" in note.message
    assert "1 row(s) not in the baseline" in note.message
    assert "1 baseline row(s) not in this run" in note.message
    assert "1 row(s) with changed data" in note.message
    assert "compared on the 1 of 3 row(s)" in note.message
    # only r0 is shared and unchanged: 1.0 vs 1.0, no regression despite the zeros elsewhere
    assert (f1.verdict, f1.value, f1.baseline) == ("pass", 1.0, 1.0)


def test_no_shared_rows_compares_nothing() -> None:
    base = item(rows=scored("old", [1]))
    checks = regression_checks(scored("new", [0]), base,
                               policy(f1=RegressionRule("f1", max_drop=0)), dataset_sha256="b" * 64)
    assert len(checks) == 1
    assert "no unchanged rows to compare" in checks[0].message


def test_skipped_baseline_item_is_noted() -> None:
    base = item(rows=(), verdict="skipped")
    checks = regression_checks(scored("r", [1]), base, policy(), dataset_sha256="a" * 64)
    assert [c.verdict for c in checks] == ["warn"]
    assert "has no rows (skipped)" in checks[0].message


def test_metric_missing_now_fails_closed() -> None:
    base = item(rows=scored("r", [1, 1]))
    current = [row("r0", errors=["boom"]), row("r1", errors=["boom"])]
    checks = regression_checks(current, base, policy(f1=RegressionRule("f1", max_drop=0.1)),
                               dataset_sha256="a" * 64)
    assert [c.verdict for c in checks] == ["fail"]
    assert "no value in this run" in checks[0].message


def test_error_rate_rule() -> None:
    base = item(rows=scored("r", [1, 1, 1, 1]))
    current = [*scored("r", [1, 1, 1]), row("r3", errors=["timeout"])]
    rule = RegressionRule("error_rate", max_rise=0.1)
    [check] = regression_checks(current, base, policy(error_rate=rule), dataset_sha256="a" * 64)
    assert (check.verdict, check.value, check.baseline) == ("fail", 0.25, 0.0)


def test_repeats_join_on_id_and_repeat() -> None:
    base = item(rows=[row("a", f1=1.0, repeat=0), row("a", f1=0.0, repeat=1)])
    current = [row("a", f1=1.0, repeat=0), row("a", f1=0.0, repeat=1)]
    [check] = regression_checks(current, base, policy(f1=RegressionRule("f1", max_drop=0)),
                                dataset_sha256="a" * 64)
    assert check.verdict == "pass"


# ---- diff_runs ----------------------------------------------------------------------------------
def _runs() -> tuple:
    shared = scored("r", [0.9, 0.8], cost_usd=0.01)
    base = run(
        item("bot", "v1", rows=shared, checks=[threshold("f1", 0.85, 0.5)],
             usage={"subject": {"cost_usd": 0.02}}),
        item("bot", "old", rows=shared),
        commit="b" * 40,
    )
    worse = scored("r", [0.5, 0.4], cost_usd=0.03)
    head = run(
        item("bot", "v1", rows=worse, checks=[threshold("f1", 0.45, 0.5)],
             usage={"subject": {"cost_usd": 0.06}}),
        item("bot", "new", rows=shared),
    )
    return base, head


def test_diff_runs_statuses_and_directions() -> None:
    base, head = _runs()
    diff = diff_runs(head, base)
    statuses = {d.nodeid.split("::")[1]: d.status for d in diff.items}
    assert statuses == {"bot[v1-qa]": "matched", "bot[new-qa]": "new", "bot[old-qa]": "removed"}
    matched = diff.item("suites/demo.yaml::bot[v1-qa]")
    assert matched is not None
    f1 = matched.metric("f1")
    cost = matched.metric("cost_usd")
    latency = matched.metric("latency_ms")
    assert f1 is not None and cost is not None
    assert f1.baseline == pytest.approx(0.85)
    assert f1.current == pytest.approx(0.45)
    assert f1.change == WORSE
    assert f1.gated
    assert cost.change == WORSE  # cost rose
    assert not cost.gated
    assert latency is None or latency.change == SAME
    assert matched.like_for_like
    assert matched.newly_failing
    assert matched.regressed
    assert diff.has_regression
    assert diff.cost_baseline == pytest.approx(0.02)
    assert diff.cost_delta == pytest.approx(0.04)
    assert diff.baseline_label == "main " + "b" * 12


def test_diff_of_a_run_decided_with_default_rules() -> None:
    """`llmgate diff` without recorded policies: the default rule, decided by the one decision
    path, then shown by the diff."""
    from dataclasses import replace

    from pytest_llmgate.verdict.decision import decide_run
    from pytest_llmgate.verdict.policy_data import policy_to_dict

    base, head = _runs()
    head = replace(head, items=tuple(
        replace(i, policy=policy_to_dict(Policy(regression=default_rules(i)))) for i in head.items
    ))
    diff = diff_runs(decide_run(head, base), base)
    f1 = diff.items[0].metric("f1")
    assert f1 is not None
    assert f1.verdict == "fail"
    assert f1.bound == ">= 0.8075"  # 5% below 0.85


def test_diff_runs_recorded_verdicts_and_improvements() -> None:
    base = run(item(rows=scored("r", [0.5, 0.5])))
    rule = RegressionRule("f1", max_drop=0.05)
    rows = scored("r", [0.9, 0.9])
    checks = regression_checks(rows, base.items[0], policy(f1=rule), dataset_sha256="a" * 64)
    head = run(item(rows=rows, checks=checks))
    diff = diff_runs(head, base)
    f1 = diff.items[0].metric("f1")
    assert f1 is not None
    assert f1.change == BETTER
    assert f1.verdict == "pass"
    assert f1.improved
    assert diff.improvements == [(diff.items[0], f1)]
    assert not diff.has_regression


def test_not_like_for_like_items_are_listed() -> None:
    base = run(item(rows=scored("r", [1, 1]), sha="a" * 64))
    head = run(item(rows=scored("r", [1, 1, 1]), sha="b" * 64))
    diff = diff_runs(head, base)
    [entry] = diff.not_like_for_like
    assert "not like for like" in entry.notes[0]


# ---- baselines ----------------------------------------------------------------------------------
def test_incomplete_baseline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "base.json"
    write_results(run(item(rows=scored("r", [1])), incomplete=True), path)
    with pytest.raises(BaselineError, match="incomplete run"):
        load_baseline(path)


def test_unreadable_baseline_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(BaselineError, match="not a pytest-llmgate results file"):
        load_baseline(path)
    complete = tmp_path / "ok.json"
    write_results(run(item(rows=scored("r", [1]))), complete)
    assert load_baseline(complete).items[0].rows[0].id == "r0"


def test_pass_rate_regression_rule_compares_means_and_says_so() -> None:
    base = item(rows=scored("r", [1, 1]))
    rule = RegressionRule("f1", aggregate="pass_rate", max_drop=0.1)
    [check] = regression_checks(scored("r", [1, 0]), base, policy(f1=rule),
                                dataset_sha256="a" * 64)
    assert (check.aggregate, check.verdict, check.value) == ("mean", "fail", 0.5)
    assert "f1 mean 1 -> 0.5" in check.message
