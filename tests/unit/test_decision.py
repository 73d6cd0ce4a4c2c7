"""The decision module: one path from rows to verdicts, re-decidable from what a run recorded."""

from __future__ import annotations

from dataclasses import replace

import pytest
from llmgate_runs import item, run, scored

from pytest_llmgate.config.thresholds import Policy, RegressionRule, Rule
from pytest_llmgate.evaluators.lexical import Meteor
from pytest_llmgate.results.model import Check
from pytest_llmgate.verdict.decision import comparison_family, decide_item, decide_run, item_verdict
from pytest_llmgate.verdict.policy_data import policy_from_dict, policy_to_dict

POLICY = Policy(
    rules={"f1": (Rule("f1", "mean", min=0.5),)},
    regression={"f1": RegressionRule("f1", max_drop=0.05, literal=True)},
)


def decided(values: list[float], baseline=None, family: int = 1, **kw):  # type: ignore[no-untyped-def]
    rows = scored("r", values)
    decision = decide_item(rows, POLICY, nodeid="suites/d.yaml::bot[v1-qa]",
                           baseline_item=baseline, dataset_sha256="a" * 64, family=family, **kw)
    return replace(item("bot", "v1", rows=rows), **decision.fields())


def test_the_policy_round_trips_through_the_results() -> None:
    assert policy_from_dict(policy_to_dict(POLICY)) == POLICY


def test_run_level_decision_equals_the_item_level_one() -> None:
    """What the session decided while the item ran is what merge/diff re-decide from the file."""
    baseline = decided([0.9] * 6)
    current = decided([0.7] * 6, baseline=baseline, family=1)
    assert current.verdict == "failed"
    assert any(c.kind == "regression" and c.verdict == "fail" for c in current.checks)
    rerun = decide_run(run(current), run(baseline), family=1)
    assert rerun.items[0].checks == current.checks
    assert rerun.items[0].verdict == current.verdict
    # deciding twice changes nothing
    assert decide_run(rerun, run(baseline), family=1) == rerun


def test_without_a_baseline_nothing_is_re_decided() -> None:
    current = decided([0.7] * 6)
    assert decide_run(run(current), None).items == (current,)


def test_item_verdict_keeps_skips_and_errors_and_fails_on_any_failing_check() -> None:
    base = decided([0.9] * 3)
    assert item_verdict(base, base.checks) == "passed"
    bad = Check(kind="regression", metric="f1", aggregate="mean", value=0.1, verdict="fail")
    assert item_verdict(base, [*base.checks, bad]) == "failed"
    unsure = replace(bad, verdict="inconclusive")
    assert item_verdict(base, [unsure]) == "failed"
    assert item_verdict(base, [replace(bad, verdict="warn")]) == "passed"
    assert item_verdict(replace(base, verdict="skipped"), [bad]) == "skipped"
    assert item_verdict(replace(base, verdict="error"), []) == "error"
    assert item_verdict(replace(base, rows=(), aggregates={}), []) == "error"


def test_comparison_family_counts_items_known_to_the_baseline() -> None:
    baseline = run(item("bot", "a"), item("bot", "b"))
    ids = [item("bot", v).nodeid for v in ("a", "b", "c")]
    assert comparison_family(ids, baseline) == 2
    assert comparison_family(ids, None) == 1
    assert comparison_family([], baseline) == 1


def test_meteor_records_its_synonym_source() -> None:
    assert Meteor(synonyms="off").data_sources == {"synonyms": "off"}
    auto = Meteor()
    expected = "wordnet-3.0" if auto.wordnet_source else "none"
    assert auto.data_sources == {"synonyms": expected}


@pytest.mark.parametrize(("before", "after"), [
    ({"synonyms": "none"}, {"synonyms": "wordnet-3.0"}),
    (None, {"synonyms": "none"}),
])
def test_a_baseline_scored_with_other_data_is_not_like_for_like(before, after) -> None:  # type: ignore[no-untyped-def]
    spec = {"name": "meteor", "use": "meteor", "version": "1"}
    baseline = replace(decided([0.9] * 4),
                       evaluators=({**spec, "data": before} if before else spec,))
    current = decided([0.9] * 4, baseline=baseline, evaluators=[{**spec, "data": after}])
    [note] = [c for c in current.checks if c.aggregate == "data"]
    assert note.verdict == "warn"
    assert "not like for like: evaluator meteor" in note.message
    same = decided([0.9] * 4, baseline=replace(baseline, evaluators=({**spec, "data": after},)),
                   evaluators=[{**spec, "data": after}])
    assert not [c for c in same.checks if c.aggregate == "data"]
