"""`compare_variants:` rules: parsed with their file:line, layered like every other rule, recorded
in the results, and decided (decision.comparison_checks / decide_run) with the regression rule's
limits and paired test, the reference variant standing in for the baseline."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmgate_runs import item, row, run, scored

from pytest_llmgate.config.thresholds import CompareRule, Policy, RegressionRule, load_thresholds
from pytest_llmgate.errors import InputError
from pytest_llmgate.results.model import ItemResult, RowResult
from pytest_llmgate.verdict.decision import comparison_checks, decide_run
from pytest_llmgate.verdict.policy_data import policy_from_dict, policy_to_dict

RULE = CompareRule("f1", candidate="b", reference="a", max_drop=0.02, source="thresholds.yaml:3")


def _with(rules: tuple[CompareRule, ...], variant: str, rows: list[RowResult]) -> ItemResult:
    return replace(item("bot", variant, rows=rows),
                   policy=policy_to_dict(Policy(compare=rules)))


def _rows(values: list[float]) -> list[RowResult]:
    return scored("r", values)


def test_rules_load_with_their_line_and_layer_like_other_rules(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(
        "compare_variants:\n"
        "  - {metric: f1, candidate: b, reference: a, max_drop: 0.02}\n"
        "  - {metric: cost_usd, candidate: b, reference: a, max_rise_pct: 10, severity: warn}\n"
        "overrides:\n"
        "  - match: {dataset: smoke}\n"
        "    compare_variants:\n"
        "      - {metric: f1, candidate: b, reference: a, max_drop: 0.1}\n",
        encoding="utf-8")
    thresholds = load_thresholds(path)
    names = dict(suite="s", subject="bot", variant="b")
    on_qa = thresholds.apply(Policy(), dataset="qa", **names).compare
    assert [(r.metric, r.max_drop, r.max_rise_pct, r.source) for r in on_qa] == [
        ("f1", 0.02, None, "thresholds.yaml:2"), ("cost_usd", None, 10, "thresholds.yaml:3")]
    on_smoke = thresholds.apply(Policy(), dataset="smoke", **names).compare
    assert [(r.metric, r.max_drop, r.source) for r in on_smoke] == [
        ("f1", 0.1, "thresholds.yaml:7"), ("cost_usd", None, "thresholds.yaml:3")]
    # the reference variant's item carries no rule: the check is the candidate's
    assert thresholds.apply(Policy(), dataset="qa", suite="s", subject="bot",
                            variant="a").compare == ()


def test_the_same_comparison_twice_in_one_layer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text("compare_variants:\n"
                    "  - {metric: f1, candidate: b, reference: a, max_drop: 0}\n"
                    "  - {metric: f1, candidate: b, reference: a, max_drop: 0.1}\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_thresholds(path)
    assert caught.value.one_line() == (
        f"{path}:3: compare_variants[1]: a second comparison of 'b' with 'a' on 'f1' "
        "(the first is at thresholds.yaml:2)")


def test_rules_travel_in_the_results_and_old_results_read_without_them() -> None:
    policy = Policy(regression={"f1": RegressionRule("f1", max_drop=0.1)}, compare=(RULE,))
    assert policy_from_dict(policy_to_dict(policy)) == policy
    older = policy_to_dict(Policy())
    assert "compare" not in older
    assert policy_from_dict(older).compare == ()


def test_a_significant_drop_fails_with_its_p_value() -> None:
    rng = random.Random(1)
    base = [0.8 + rng.uniform(-0.05, 0.05) for _ in range(40)]
    worse = [v - 0.1 + rng.uniform(-0.01, 0.01) for v in base]
    [check] = comparison_checks(_with((RULE,), "b", _rows(worse)), item("bot", "a", rows=_rows(base)))
    assert (check.kind, check.aggregate, check.verdict) == ("comparison", "mean vs a", "fail")
    assert check.p_value is not None and check.p_value < 0.001
    assert check.message.startswith("A/B b vs a: f1 mean ")
    assert "significant at 0.05" in check.message


def test_noise_is_not_worse() -> None:
    rng = random.Random(2)
    base = [rng.uniform(0.4, 0.9) for _ in range(40)]
    noisy = [min(1.0, max(0.0, v + rng.choice((-0.05, 0.05)))) for v in base]
    rule = replace(RULE, max_drop=0.0)
    [check] = comparison_checks(_with((rule,), "b", _rows(noisy)), item("bot", "a", rows=_rows(base)))
    assert check.verdict == "pass"
    assert check.p_value is not None and check.p_value > 0.05


def test_a_missing_reference_or_metric_fails_closed() -> None:
    candidate = _with((RULE,), "b", _rows([0.5, 0.6, 0.7]))
    [absent] = comparison_checks(candidate, None)
    assert (absent.verdict, absent.value) == ("error", None)
    assert "reference variant 'a' of bot on qa is not in this run" in absent.message
    errored = item("bot", "a", verdict="error")
    [broken] = comparison_checks(candidate, errored)
    assert broken.verdict == "error" and "'a' of bot on qa error (no rows)" in broken.message
    other_metric = item("bot", "a", rows=scored("r", [0.5, 0.6, 0.7], metric="rouge"))
    [missing] = comparison_checks(candidate, other_metric)
    assert missing.verdict == "error"
    assert missing.message == ("A/B b vs a: reference variant 'a' has no f1 mean to compare "
                               "with: cannot tell whether 'b' is worse")
    # the candidate without the metric: a breach (as a regression rule says), in A/B words
    [absent_here] = comparison_checks(_with((RULE,), "b", scored("r", [0.5, 0.6], metric="x")),
                                      item("bot", "a", rows=_rows([0.5, 0.6])))
    assert absent_here.verdict == "fail"
    assert absent_here.message == "A/B b vs a: f1 has no value in 'b' ('a' mean 0.55)"
    warn_only = _with((replace(RULE, severity="warn"),), "b", _rows([0.5, 0.6, 0.7]))
    assert [c.verdict for c in comparison_checks(warn_only, None)] == ["warn"]


def test_decide_run_decides_once_and_the_same_again() -> None:
    reference = item("bot", "a", rows=_rows([0.9, 0.8, 0.9, 0.85]))
    candidate = _with((RULE,), "b", _rows([0.5, 0.4, 0.5, 0.45]))
    first = decide_run(run(reference, candidate), None)
    assert [i.verdict for i in first.items] == ["passed", "failed"]
    again = decide_run(first, None)
    assert again.items == first.items  # re-deciding replaces, never duplicates
    # with a baseline, the regression checks join the comparison checks
    with_base = decide_run(first, run(reference, item("bot", "b", rows=_rows([0.5] * 4))))
    kinds = [c.kind for c in with_base.items[1].checks]
    assert kinds.count("comparison") == 1


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=2, max_size=30),
       gains=st.data(), max_drop=st.sampled_from([0.0, 0.01, 0.5]),
       literal=st.booleans())
def test_a_candidate_at_least_as_good_on_every_row_never_fails(
        values: list[float], gains: st.DataObject, max_drop: float, literal: bool) -> None:
    better = [min(1.0, v + gains.draw(st.floats(0, 0.3))) for v in values]
    rule = replace(RULE, max_drop=max_drop, literal=literal)
    checks = comparison_checks(_with((rule,), "b", _rows(better)), item("bot", "a",
                                                                        rows=_rows(values)))
    assert [c.verdict for c in checks] == ["pass"]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0.3, 1), min_size=5, max_size=30), drop=st.floats(0.2, 0.3))
def test_a_literal_rule_fails_every_drop_past_its_limit(values: list[float], drop: float) -> None:
    rule = replace(RULE, max_drop=0.1, literal=True)
    worse = [v - drop for v in values]
    [check] = comparison_checks(_with((rule,), "b", _rows(worse)), item("bot", "a",
                                                                       rows=_rows(values)))
    assert check.verdict == "fail"


def test_rows_of_one_variant_only_are_named() -> None:
    reference = item("bot", "a", rows=[*_rows([0.9, 0.9, 0.9]), row("extra", f1=0.1)])
    candidate = _with((replace(RULE, literal=True),), "b", _rows([0.9, 0.9, 0.9]))
    notes = [c.message for c in comparison_checks(candidate, reference) if c.metric == "dataset"]
    assert notes == ["A/B b vs a: not like for like: 1 row(s) of 'a' not in 'b'; compared on the "
                     "3 of 3 row(s) unchanged in both runs"]


def test_the_rules_of_one_reference_are_corrected_together() -> None:
    rng = random.Random(3)
    base = [0.8 + rng.uniform(-0.05, 0.05) for _ in range(12)]
    worse = [v - 0.03 + rng.uniform(-0.04, 0.04) for v in base]
    rows_a = [row(f"r{i}", f1=v, rouge=v) for i, v in enumerate(base)]
    rows_b = [row(f"r{i}", f1=v, rouge=v) for i, v in enumerate(worse)]
    one = (replace(RULE, max_drop=0.0),)
    two = (*one, replace(RULE, metric="rouge", max_drop=0.0))
    [alone] = comparison_checks(_with(one, "b", rows_b), item("bot", "a", rows=rows_a))
    together = comparison_checks(_with(two, "b", rows_b), item("bot", "a", rows=rows_a))
    assert [c.metric for c in together] == ["f1", "rouge"]
    assert alone.p_adjusted is not None and together[0].p_adjusted is not None
    assert together[0].p_adjusted > alone.p_adjusted  # Holm over two tests, not one
