"""Regressions found in review: ambiguous item ids, warn rules with intervals, rows re-sampled
more often than others, outputs that are not JSON, None scores, raw U+2028 in JSONL, duplicate
ids through the Python API, and --lf on suite items."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_llmgate.errors import GateError
from tests.conftest import Project

EVALS = """
def score(*, response):
    return float(response)


def partial(*, response):
    return {"quality": 1.0 if float(response) > 0.5 else None, "quality_len": 1.0}
"""
APP = """
import dataclasses


@dataclasses.dataclass
class Answer:
    response: str
    raw: bytes


def as_given(question):
    return question


def dataclass_answer(question):
    return Answer(response=question, raw=question.encode())
"""


def _setup(project: Project, rest: str, target: str = "review_app:as_given") -> None:
    """The review app and evaluators, ten rows (questions "0" and "1") and suite `s`: its one
    subject `s` calls `target` on them (dataset `d`), `rest` gives its evaluators and thresholds."""
    project.write("review_app.py", APP)
    project.write("evaluators/review.py", EVALS)
    project.rows([{"id": f"r{i}", "question": str(i % 2)} for i in range(10)])
    project.write(
        "suites/support.yaml",
        "suite: s\ndatasets: {d: ../golden_datasets/qa.jsonl}\n"
        f'subjects: {{s: {{target: "{target}"}}}}\n' + textwrap.dedent(rest).lstrip("\n"),
    )
    project.write("thresholds.yaml", "metrics: {}\n")


def test_ambiguous_item_ids_are_a_collection_error(project: Project) -> None:
    project.write("golden_datasets/b-c.jsonl", '{"id": "x", "question": "1"}\n')
    project.write("golden_datasets/c.jsonl", '{"id": "y", "question": "1"}\n')
    _setup(project, 'evaluators: ["evaluators.review:score"]\n')
    # replaced: two datasets and two variants whose names join into the same id, s[a-b-c]
    project.write(
        "suites/support.yaml",
        """
        suite: s
        datasets: {b-c: ../golden_datasets/b-c.jsonl, c: ../golden_datasets/c.jsonl}
        subjects:
          s: {target: "review_app:as_given", variants: {a: {}, a-b: {}}}
        evaluators: ["evaluators.review:score"]
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*subjects.s.variants.a-b: item id s[[]a-b-c[]] is ambiguous*"])


def test_warn_rule_on_an_interval_never_fails(project: Project) -> None:
    _setup(
        project,
        """
        evaluators: ["evaluators.review:score"]
        thresholds:
          metrics: {score: {min: 0.5, on: interval, severity: warn}}
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*score*mean [[]interval[]]*WARN*"])


def test_rows_resampled_by_rerun_do_not_weigh_more(project: Project) -> None:
    _setup(
        project,
        """
        evaluators: ["evaluators.review:score"]
        thresholds:
          metrics:
            score:
              - {min: 0.45, on: interval, on_inconclusive: rerun}
              - {aggregate: mean, min: 0.45}
    """,
    )
    project.pytester.runpytest("--llm-gate", "suites")
    item = project.results()["items"][0]
    assert any(r.get("repeat", 0) for r in item["rows"]), "rerun must have added repeats"
    plain = [c for c in item["checks"] if c["aggregate"] == "mean"]
    assert plain[0]["value"] == pytest.approx(0.5)
    assert plain[0]["verdict"] == "pass"
    assert item["aggregates"]["score"]["mean"] == pytest.approx(0.5)


def test_outputs_that_are_not_json_are_recorded(project: Project) -> None:
    _setup(project, "evaluators: [length]\n", target="review_app:dataclass_answer")
    result = project.pytester.runpytest("--llm-gate", "suites", "--llm-gate-html", "r.html")
    result.assert_outcomes(passed=1)
    row = project.results()["items"][0]["rows"][0]
    assert row["output"] == {"response": "0", "raw": "0"}


def test_a_none_score_is_an_error_row_not_a_dropped_row(project: Project) -> None:
    _setup(
        project,
        """
        evaluators: ["evaluators.review:partial"]
        thresholds:
          metrics: {quality: {min: 0.9}}
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*5 of 10 rows errored*", "*metric 'quality' is None*"])


def test_raw_line_separators_inside_jsonl_strings_are_data(project: Project) -> None:
    text = "".join(
        json.dumps({"id": f"u{i}", "question": "1\u2028line\u0085x"}, ensure_ascii=False) + "\n"
        for i in range(3)
    )
    _setup(project, "evaluators: [length]\n")
    (project.path / "golden_datasets/qa.jsonl").write_text(text, encoding="utf-8")
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    assert len(project.results()["items"][0]["rows"]) == 3


def test_python_api_refuses_duplicate_ids() -> None:
    import pytest_llmgate

    rows = [{"id": 1, "question": "a"}, {"id": 1, "question": "b"}]
    with pytest.raises(GateError, match=r"data\[1\]: duplicate id '1' \(first at data\[0\]\)"):
        pytest_llmgate.evaluate(lambda question: question, rows, evaluators=["length"])


def test_last_failed_reruns_only_the_failed_suite_items(project: Project) -> None:
    project.write("pytest.ini", "[pytest]\naddopts = -p no:hypothesispytest\npythonpath = .\n")
    first = project.pytester.runpytest("--llm-gate", "suites")
    first.assert_outcomes(passed=1, failed=1)
    again = project.pytester.runpytest("--llm-gate", "suites", "--lf")
    again.assert_outcomes(failed=1)  # the passing item is not run again
