"""Repeats, k-of-n row verdicts, confidence intervals and inconclusive verdicts, end to end."""

from __future__ import annotations

import pytest

from tests.conftest import Project

FLAKY_APP = '''
import collections

CALLS = collections.Counter()


def flaky(question):
    """Every third call for a question answers wrong: a flaky subject."""
    CALLS[question] += 1
    return "wrong" if CALLS[question] % 3 == 0 else "right"


def warming(question, score):
    """The first answer per question scores `score`; later samples score high."""
    CALLS[question] += 1
    return str(score if CALLS[question] == 1 else 0.95)
'''

EVALS = """
def right(*, response):
    return float(response == "right")


def as_score(*, response):
    return float(response)
"""


def _project(project: Project, suite: str, thresholds: str = "metrics: {}\n") -> None:
    project.write("flaky_app.py", FLAKY_APP)
    project.write("evaluators/noise.py", EVALS)
    rows = [
        {"id": f"q{i}", "question": f"q{i}", "score": s}
        for i, s in enumerate([0.4, 0.62, 0.5, 0.7, 0.45, 0.6, 0.55, 0.52])
    ]
    project.rows(rows)
    project.write("suites/support.yaml", suite)
    project.write("thresholds.yaml", thresholds)


FLAKY_SUITE = """
suite: flaky
concurrency: 1
repeat: 3
datasets: {qa: ../golden_datasets/qa.jsonl}
subjects:
  bot: {target: "flaky_app:flaky"}
evaluators: ["evaluators.noise:right"]
thresholds:
  metrics:
    right:
      - {aggregate: pass_rate, row: {min: 1}, pass_k: 2, min: 1.0}
      - {aggregate: pass_rate, row: {min: 1}, pass_k: all, max: 0.0, severity: warn}
"""


def test_repeats_are_independent_rows_and_k_of_n_decides(project: Project) -> None:
    _project(project, FLAKY_SUITE)
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    item = project.results()["items"][0]
    assert len(item["rows"]) == 24
    assert sorted({r.get("repeat", 0) for r in item["rows"]}) == [0, 1, 2]
    rates = [c["value"] for c in item["checks"]]
    assert rates == [1.0, 0.0]  # every row passes 2 of 3, none passes all 3
    assert item["checks"][0]["aggregate"] == "pass_rate(>= 1, 2 of n)"


def test_repeat_option_overrides_the_suite(project: Project) -> None:
    _project(project, FLAKY_SUITE.replace("repeat: 3", "repeat: 2"))
    project.pytester.runpytest("--llm-gate", "suites", "--llm-gate-repeat", "4")
    assert len(project.results()["items"][0]["rows"]) == 32


INTERVAL_SUITE = """
suite: noisy
concurrency: 1
datasets: {qa: ../golden_datasets/qa.jsonl}
subjects:
  bot: {target: "flaky_app:warming"}
evaluators: ["evaluators.noise:as_score"]
thresholds:
  defaults: {on_inconclusive: %s}
  metrics:
    as_score: {min: 0.5, on: interval}
"""


def test_interval_straddling_the_bound_is_inconclusive_and_fails(project: Project) -> None:
    _project(project, INTERVAL_SUITE % "fail")
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*as_score*mean [[]interval[]]*±*INCONCLUSIVE*",
            "*the interval straddles >= 0.5; inconclusive*",
        ]
    )
    check = project.results()["items"][0]["checks"][0]
    assert check["verdict"] == "inconclusive"
    assert check["ci_low"] < 0.5 < check["ci_high"]


def test_inconclusive_can_warn(project: Project) -> None:
    _project(project, INTERVAL_SUITE % "warn")
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    check = project.results()["items"][0]["checks"][0]
    assert check["verdict"] == "warn"
    assert check["ci_low"] < 0.5 < check["ci_high"]


def test_rerun_adds_repeats_near_the_bound_until_decided(project: Project) -> None:
    _project(project, INTERVAL_SUITE % "rerun")
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    item = project.results()["items"][0]
    rerun = [r for r in item["rows"] if r.get("repeat", 0) > 0]
    assert rerun, "rerun must have added repeats"
    assert len({r["id"] for r in rerun}) < 8, "only the rows nearest the bound are re-sampled"
    assert item["checks"][0]["verdict"] == "pass"
    assert item["checks"][0]["ci_low"] >= 0.5


def test_aggregates_carry_a_mean_interval(project: Project) -> None:
    result = project.pytester.runpytest("--llm-gate", "suites", "-k", "overlap")
    assert result.ret == 0
    aggs = project.results()["items"][0]["aggregates"]["length_words"]
    assert aggs["ci_low"] < aggs["mean"] < aggs["ci_high"]
    # 4 rows of 7, 11, 7 and 11 words: mean 9, t interval 9 +- 3.1824463 * 2.3094011 / 2 (exact t)
    assert aggs["mean"] == pytest.approx(9.0)
    assert (aggs["ci_low"], aggs["ci_high"]) == pytest.approx((5.325228, 12.674772), abs=1e-5)
