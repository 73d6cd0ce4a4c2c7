"""`compare_variants:` in thresholds.yaml, end to end: "variant B must not be worse than A" gates
the run through the one decision path, so the terminal, the results JSON, the JUnit, the Markdown
comment and the HTML report all show it; bad rules stop the run before any row with one
`file:line: field: problem` line; a reference that did not run fails closed.

The example project's variants: `overlap` answers with the sentence sharing most words with the
question (word_overlap 1.0 on every row), `first` with the first sentence (0.25 on average).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.cli.main import main
from pytest_llmgate.reporting.pack import read_embedded
from tests.conftest import Project

ARTIFACTS = ("--llm-gate-junit=junit.xml", "--llm-gate-md=comment.md", "--llm-gate-html=r.html")


def _thresholds(project: Project, rule: str) -> None:
    project.write(
        "thresholds.yaml",
        "metrics:\n  word_overlap: {min: 0.0}\ncompare_variants:\n  - " + rule + "\n",
    )


def _comparisons_in(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        item["nodeid"].split("::")[1]: [c for c in item["checks"] if c["kind"] == "comparison"]
        for item in results["items"]
    }


def _comparisons(project: Project) -> dict[str, list[dict[str, Any]]]:
    return _comparisons_in(project.results())


def test_a_worse_candidate_fails_the_gate_on_every_surface(
    project: Project, xdist_args: list[str]
) -> None:
    _thresholds(project, "{metric: word_overlap, candidate: first, reference: overlap, "
                         "max_drop: 0.05}")
    result = project.pytester.runpytest("--llm-gate", "suites", *xdist_args, *ARTIFACTS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    found = _comparisons(project)
    assert found["answer[overlap-qa]"] == []  # the rule is the candidate's
    [check] = found["answer[first-qa]"]
    assert (check["metric"], check["aggregate"], check["verdict"]) == (
        "word_overlap", "mean vs overlap", "fail")
    assert (check["value"], check["baseline"], check["min"]) == (0.25, 1.0, 0.95)
    assert check["source"] == "thresholds.yaml:4"
    assert check["message"].startswith("A/B first vs overlap: word_overlap mean 1 -> 0.25: "
                                       "fell by 0.75")
    verdicts = {i["nodeid"].split("::")[1]: i["verdict"] for i in project.results()["items"]}
    assert verdicts == {"answer[overlap-qa]": "passed", "answer[first-qa]": "failed"}
    # terminal: the breach first (with -n 2 the reference ran on another worker: decided at the
    # end of the run, where the summary comes from)
    result.stdout.fnmatch_lines([
        "*breaches and regressions:*",
        "*FAIL answer[[]first-qa[]]: word_overlap mean vs overlap = 0.25, needs >= 0.95 "
        "[[]thresholds.yaml:4[]]*",
    ])
    # JUnit: the candidate's testcase fails with the comparison in its message
    junit = ET.parse(project.path / "junit.xml")
    failures = {case.get("name"): case.find("failure") for case in junit.iter("testcase")}
    failed = [name for name, f in failures.items() if f is not None]
    assert len(failed) == 1 and "first" in str(failed[0])
    assert "A/B first vs overlap: word_overlap mean 1 -> 0.25" in str(
        failures[failed[0]].get("message"))
    # the PR comment's first table and the HTML report's "what failed"
    comment = (project.path / "comment.md").read_text("utf-8")
    first_table = comment.split("<details>")[0]
    assert "word\\_overlap mean vs overlap" in first_table
    page = read_embedded((project.path / "r.html").read_text("utf-8"))
    assert [(f["short"], f["metric"], f["aggregate"], f["verdict"]) for f in page["findings"]] \
        == [("answer[first-qa]", "word_overlap", "mean vs overlap", "fail")]


def test_a_candidate_no_worse_passes(project: Project) -> None:
    _thresholds(project, "{metric: word_overlap, candidate: overlap, reference: first, "
                         "max_drop: 0}")
    result = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist", *ARTIFACTS)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    [check] = _comparisons(project)["answer[overlap-qa]"]
    assert (check["verdict"], check["value"], check["baseline"]) == ("pass", 1.0, 0.25)
    result.assert_outcomes(passed=2)


def test_severity_warn_reports_without_failing(project: Project) -> None:
    _thresholds(project, "{metric: word_overlap, candidate: first, reference: overlap, "
                         "max_drop: 0.05, severity: warn}")
    result = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    [check] = _comparisons(project)["answer[first-qa]"]
    assert check["verdict"] == "warn"


def test_a_reference_left_out_of_the_run_fails_closed(project: Project) -> None:
    _thresholds(project, "{metric: word_overlap, candidate: overlap, reference: first, "
                         "max_drop: 0}")
    result = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist", "-k", "overlap")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    [check] = _comparisons(project)["answer[overlap-qa]"]
    assert check["verdict"] == "error"
    assert check["message"] == (
        "A/B overlap vs first: reference variant 'first' of answer on qa is not in this run: "
        "cannot tell whether 'overlap' is worse")
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("rule", "line"),
    [
        ("{metric: word_overlap, candidate: frist, reference: overlap, max_drop: 0}",
         "thresholds.yaml:4: compare_variants[0].candidate: no item of the project's suites has "
         "variant 'frist'; did you mean 'first'?"),
        ("{metric: word_overlap, candidate: first, reference: overlapp, max_drop: 0}",
         "thresholds.yaml:4: compare_variants[0].reference: subject 'answer' of suite 'support' "
         "on 'qa' has no variant 'overlapp' to compare 'first' with (variants: first, overlap); "
         "did you mean 'overlap'?"),
        ("{metric: word_overlp, candidate: first, reference: overlap, max_drop: 0}",
         "thresholds.yaml:4: compare_variants[0].metric: no evaluator of the project's suites "
         "produces metric 'word_overlp'; did you mean 'word_overlap'?"),
        ("{metric: word_overlap, candidate: first, reference: first, max_drop: 0}",
         "thresholds.yaml:4: compare_variants[0].reference: candidate and reference are the same "
         "variant 'first'"),
        ("{metric: word_overlap, candidate: first, reference: overlap}",
         "thresholds.yaml:4: compare_variants[0]: a comparison needs max_drop, max_drop_pct, "
         "max_rise, max_rise_pct or significance (e.g. max_drop: 0 for \"not worse at all\")"),
        ("{metric: word_overlap, candidate: first, max_drop: 0}",
         "thresholds.yaml:4: compare_variants[0].reference: is required"),
        ("{metric: word_overlap, candidate: first, reference: overlap, max_drop: -1}",
         "thresholds.yaml:4: compare_variants[0].max_drop: -1 is less than the minimum of 0"),
    ],
    ids=["candidate", "reference", "metric", "same", "no-limit", "schema", "negative"],
)
def test_a_bad_rule_stops_the_run_with_one_line(project: Project, rule: str, line: str) -> None:
    _thresholds(project, rule)
    result = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    assert [e for e in result.errlines if e.startswith("ERROR: ")] == [f"ERROR: {line}"]
    assert not (project.path / ".llmgate/results.json").exists()


def test_a_rule_in_a_suite_gates_that_suite(project: Project) -> None:
    project.write("thresholds.yaml", "metrics: {}\n")
    suite = (project.path / "suites/support.yaml").read_text("utf-8")
    project.write("suites/support.yaml", suite + (
        "thresholds:\n  compare_variants:\n"
        "    - {metric: word_overlap, candidate: first, reference: overlap, max_drop: 0.05}\n"))
    result = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    [check] = _comparisons(project)["answer[first-qa]"]
    assert (check["verdict"], check["source"]) == ("fail", "support.yaml:15")
    # and a misspelt variant there is the suite's own one-line error, before any row
    project.write("suites/support.yaml", suite + (
        "thresholds:\n  compare_variants:\n"
        "    - {metric: word_overlap, candidate: first, reference: overlp, max_drop: 0.05}\n"))
    result = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [e for e in result.errlines if e.startswith("ERROR: ")] == [
        "ERROR: suites/support.yaml:15: thresholds.compare_variants[0].reference: subject "
        "'answer' of suite 'support' on 'qa' has no variant 'overlp' to compare 'first' with "
        "(variants: first, overlap); did you mean 'overlap'?"]


def test_validate_prints_the_same_line(project: Project) -> None:
    _thresholds(project, "{metric: word_overlap, candidate: frist, reference: overlap, "
                         "max_drop: 0}")
    gate = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist")
    expected = [e.removeprefix("ERROR: ") for e in gate.errlines if e.startswith("ERROR: ")]
    assert len(expected) == 1
    done = subprocess.run(
        [sys.executable, "-m", "pytest_llmgate", "validate"], cwd=project.path,
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(project.path), str(Path(__file__).resolve().parents[2])])},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines() == expected


def test_shards_decide_provisionally_and_the_merge_decides(project: Project) -> None:
    """With `--llm-gate-shard`, the reference may run in another shard: the shard's check fails
    closed (a shard's verdict is provisional), and `llmgate merge` decides it over both items."""
    _thresholds(project, "{metric: word_overlap, candidate: overlap, reference: first, "
                         "max_drop: 0}")
    parts = []
    for index in (1, 2):
        name = f"shard{index}.json"
        project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist", "--llm-gate-shard",
                                   f"{index}/2", "--llm-gate-json", name)
        parts.append(str(project.path / name))
    shards = [project.results(Path(p).name)["items"] for p in parts]
    assert sorted(len(items) for items in shards) == [1, 1]  # one variant in each shard
    overlap = next(i for items in shards for i in items if "overlap" in i["nodeid"])
    [check] = [c for c in overlap["checks"] if c["kind"] == "comparison"]
    assert check["verdict"] == "error" and "not in this run" in check["message"]
    out = project.path / "merged.json"
    assert main(["merge", *parts, "-o", str(out), "--fail-on-breach"]) == 0
    [check] = _comparisons_in(project.results("merged.json"))["answer[overlap-qa]"]
    assert (check["verdict"], check["value"], check["baseline"]) == ("pass", 1.0, 0.25)
