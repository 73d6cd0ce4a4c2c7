"""Multiplicity corrections across a run's regression tests (Holm, Benjamini-Hochberg, Bonferroni)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.config.thresholds import Policy, load_thresholds
from pytest_llmgate.results.model import Check
from pytest_llmgate.verdict.multiplicity import METHODS, adjust, apply_correction

p_values = st.lists(st.floats(0.0, 1.0), min_size=0, max_size=40)


@given(p_values, st.sampled_from(METHODS))
def test_adjusted_p_values_are_probabilities_at_least_the_raw_ones(ps: list[float], m: str) -> None:
    adjusted = adjust(ps, m)
    assert len(adjusted) == len(ps)
    for raw, adj in zip(ps, adjusted, strict=True):
        assert raw - 1e-15 <= adj <= 1.0


@given(p_values, st.sampled_from(METHODS))
def test_adjustment_keeps_the_order_of_p_values(ps: list[float], m: str) -> None:
    adjusted = adjust(ps, m)
    for i in range(len(ps)):
        for j in range(len(ps)):
            if ps[i] < ps[j]:
                assert adjusted[i] <= adjusted[j] + 1e-15


@given(p_values)
def test_bh_at_most_holm_at_most_bonferroni(ps: list[float]) -> None:
    bh, holm, bonf = adjust(ps, "bh"), adjust(ps, "holm"), adjust(ps, "bonferroni")
    for a, b, c in zip(bh, holm, bonf, strict=True):
        assert a <= b + 1e-15
        assert b <= c + 1e-15


@given(p_values, st.floats(0.0, 1.0))
def test_a_larger_raw_p_never_lowers_anything(ps: list[float], extra: float) -> None:
    # monotone in the inputs: raising one p-value cannot lower any adjusted p-value
    if not ps:
        return
    raised = [*ps]
    raised[0] = max(ps[0], extra)
    for m in METHODS:
        before, after = adjust(ps, m), adjust(raised, m)
        assert all(a <= b + 1e-12 for a, b in zip(before, after, strict=True))


def test_known_values() -> None:
    ps = [0.01, 0.04, 0.03, 0.005]
    assert adjust(ps, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.06 (running max)
    assert adjust(ps, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 -> 0.02, 0.02, 0.04, 0.04 (running min from the top)
    assert adjust(ps, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(ps, "none") == ps
    assert adjust([0.3, 0.9], "bonferroni") == [0.6, 1.0]
    assert adjust([], "holm") == []


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown correction 'sidak'"):
        adjust([0.1], "sidak")
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        adjust([float("nan")], "holm")
    with pytest.raises(ValueError, match="alpha"):
        apply_correction([], "holm", 0.0)


def test_holm_controls_the_family_wise_rate_of_independent_null_tests() -> None:
    rng = random.Random(4)
    runs, tests = 2000, 12
    raw_alarm = holm_alarm = 0
    for _ in range(runs):
        ps = [rng.random() for _ in range(tests)]
        raw_alarm += any(p < 0.05 for p in ps)
        holm_alarm += any(p < 0.05 for p in adjust(ps, "holm"))
    assert raw_alarm / runs > 0.40  # 1 - 0.95^12 = 46%
    assert holm_alarm / runs <= 0.06


def _check(metric: str, p: float | None, verdict: str, kind: str = "regression",
           alpha: float | None = 0.05) -> Check:
    return Check(kind=kind, metric=metric, aggregate="mean", value=0.5, verdict=verdict,
                 baseline=0.6, min=0.58, message=f"regression: {metric}", p_value=p, alpha=alpha)


def test_apply_correction_re_decides_only_the_regression_tests() -> None:
    checks = [
        _check("a", 0.001, "fail"),
        _check("b", 0.03, "fail"),  # significant alone, not after Holm over 4 tests
        _check("c", 0.5, "pass"),
        _check("d", 0.02, "warn"),
        _check("e", None, "fail"),  # a literal rule: no test, not in the family
        _check("t", 0.01, "fail", kind="threshold"),
    ]
    out = apply_correction(checks, "holm", 0.05)
    assert [c.metric for c in out] == ["a", "b", "c", "d", "e", "t"]
    assert [c.verdict for c in out] == ["fail", "pass", "pass", "pass", "fail", "fail"]
    assert [c.p_adjusted for c in out] == pytest.approx([0.004, 0.06, 0.5, 0.06, None, None])
    assert "within noise after holm correction over 4 test(s) of this item x 1 compared item(s)" in out[1].message
    assert out[4] is checks[4] and out[5] is checks[5]
    assert checks[1].verdict == "fail"  # pure: the input is untouched
    # none: adjusted p recorded, nothing re-decided
    assert [c.verdict for c in apply_correction(checks, "none", 0.05)] == [
        c.verdict for c in checks
    ]
    # a check's own level wins over the family alpha
    strict = [_check("a", 0.004, "fail", alpha=0.001), _check("b", 0.9, "pass")]
    assert apply_correction(strict, "bh", 0.05)[0].verdict == "pass"
    assert apply_correction(strict, "bh", 0.05)[0].p_adjusted == pytest.approx(0.008)
    loose = [_check("a", 0.004, "fail", alpha=None), _check("b", 0.9, "pass")]
    assert apply_correction(loose, "bh", 0.05)[0].verdict == "fail"
    assert apply_correction(loose, "bonferroni", 0.005)[0].verdict == "pass"


def test_correction_is_parsed_per_layer(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(
        "regression:\n  correction: bh\n  f1: {max_drop: 0.02}\n"
        "overrides:\n  - match: {dataset: smoke}\n    regression:\n      correction: none\n"
    )
    thresholds = load_thresholds(path)
    main = thresholds.apply(Policy(), suite="s", subject="a", variant="v", dataset="qa")
    smoke = thresholds.apply(Policy(), suite="s", subject="a", variant="v", dataset="smoke")
    assert main.correction == "bh" and smoke.correction == "none"
    assert list(main.regression) == ["f1"]  # `correction` is not a metric
    path.write_text("regression:\n  f1: {max_drop: 0.02, literal: true}\n")
    policy = load_thresholds(path).apply(Policy(), suite="s", subject="a", variant="v", dataset="qa")
    assert policy.correction == "holm"  # the default
    assert policy.regression["f1"].literal is True


def test_unknown_correction_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    from pytest_llmgate.errors import InputError

    path = tmp_path / "thresholds.yaml"
    path.write_text("regression:\n  f1: {max_drop: 0.02}\n  correction: sidak\n")
    with pytest.raises(InputError) as info:
        load_thresholds(path)
    text = str(info.value)
    assert "thresholds.yaml" in text and "correction" in text and "\n" not in text


def test_family_scales_the_adjusted_p_values_across_items() -> None:
    """With n compared items an item's tests are corrected n times harder (union bound)."""
    check = Check(kind="regression", metric="m", aggregate="mean", value=0.5, verdict="fail",
                  p_value=0.02, alpha=0.05, message="regression: m")
    assert apply_correction([check], "holm", family=1)[0].verdict == "fail"
    out = apply_correction([check], "holm", family=3)[0]
    assert out.verdict == "pass"
    assert out.p_adjusted == pytest.approx(0.06)
    assert "x 3 compared item(s)" in out.message
    assert apply_correction([check], "none", family=3)[0].verdict == "fail"
    with pytest.raises(ValueError, match="family"):
        apply_correction([check], "holm", family=0)
