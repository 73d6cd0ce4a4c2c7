"""The pull request gate end to end: run the gate, save a baseline, change a variant, run again
against the baseline, and check what a reviewer and CI see: the JUnit file, the Markdown diff,
the HTML, the exit statuses of the plugin and of `llmgate diff --fail-on-regression`."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.cli.main import main as llmgate
from pytest_llmgate.results.io import load_results

SUITE = """
suite: support
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer:
    target: demo_app:answer
    variants:
      main: {strategy: overlap}
evaluators:
  - "evaluators.custom:word_overlap"
  - length
"""

THRESHOLDS = """
metrics:
  word_overlap: {min: 0.2}
regression:
  word_overlap: {max_drop: 0.05}
  length_chars: {max_rise_pct: 500, severity: warn}
"""

ARTIFACTS = ["--llm-gate-junit", "out/gate.xml", "--llm-gate-md", "out/comment.md",
             "--llm-gate-html", "out/report.html", "--llm-gate-csv", "out/rows.csv"]


@pytest.fixture
def gate(project: Any) -> Any:
    project.write("suites/support.yaml", SUITE)
    project.write("thresholds.yaml", THRESHOLDS)
    return project


def _baseline(gate: Any) -> Path:
    result = gate.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-save", "base.json")
    assert result.ret == 0, result.stdout.str()
    return gate.path / "base.json"


def _table(markdown: str) -> dict[str, list[str]]:
    lines = markdown.splitlines()
    start = lines.index("| item | metric | baseline | current | \u0394 | bound | verdict |")
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[1]] = cells
    return rows


def test_regression_fails_the_gate_and_every_artifact_says_why(
    gate: Any, xdist_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _baseline(gate)
    summary = gate.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    gate.write("suites/support.yaml", SUITE.replace("strategy: overlap", "strategy: first"))
    result = gate.pytester.runpytest("--llm-gate", *xdist_args, "--llm-gate-baseline", str(base),
                                     "--junitxml=out/pytest.xml", *ARTIFACTS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.assert_outcomes(failed=1)

    # JUnit: one failing case, the regression in its message, deltas as properties
    root = ET.parse(gate.path / "out" / "gate.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "1", "0")
    [case] = root.iter("testcase")
    assert (case.get("classname"), case.get("name")) == ("llm_gate.support", "answer[main-qa]")
    failure = case.find("failure")
    assert failure is not None
    assert "regression: word_overlap mean" in (failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["answer[main-qa].regression.word_overlap.mean.verdict"] == "fail"
    assert float(props["answer[main-qa].word_overlap.mean.delta"]) < -0.05
    assert props["answer[main-qa].baseline"] == "matched"
    # pytest's own --junitxml is untouched and separate
    ours = ET.parse(gate.path / "out" / "pytest.xml").getroot()
    assert ours.find(".//testcase").get("name") == "answer[main-qa]"  # type: ignore[union-attr]
    assert "llm_gate" not in (ours.find(".//testcase").get("classname") or "")  # type: ignore[union-attr]

    # Markdown: verdict line, the diff row with a worse-going arrow and the bold breach
    comment = (gate.path / "out" / "comment.md").read_text("utf-8")
    assert "\u274c **LLM gate failed** \u2014 1 of 1 item(s) failed \u00b7 1 regression(s)" in comment
    row = _table(comment)["word\\_overlap \\(mean\\)"]
    assert row[0] == "suites/support.yaml::answer\\[main-qa\\]"
    assert row[3].startswith("**") and row[3].endswith("**")
    assert row[4].startswith("\u25bc \u2212") and row[4].endswith("\U0001f534")
    assert row[6] == "**FAIL**"
    assert "#### Failing items" in comment
    assert "Artifacts: results.json, report.html, gate.xml, rows.csv" in comment
    assert summary.read_text("utf-8").startswith(comment)  # appended to the job summary too

    # HTML and CSV exist and carry the rows
    html = (gate.path / "out" / "report.html").read_text("utf-8")
    assert "Content-Security-Policy" in html
    assert '"label":' in html
    assert len((gate.path / "out" / "rows.csv").read_text().splitlines()) == 5

    # llmgate diff agrees, with the same thresholds or with the default rule
    head = gate.path / ".llmgate" / "results.json"
    assert llmgate(["diff", str(base), str(head), "--fail-on-regression",
                    "--thresholds", str(gate.path / "thresholds.yaml")]) == 1
    assert llmgate(["diff", str(base), str(head), "--fail-on-regression"]) == 1
    assert llmgate(["diff", str(base), str(base), "--fail-on-regression"]) == 0


def test_unchanged_run_passes_against_its_baseline(gate: Any) -> None:
    base = _baseline(gate)
    result = gate.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-baseline",
                                     str(base), *ARTIFACTS)
    assert result.ret == 0, result.stdout.str()
    comment = (gate.path / "out" / "comment.md").read_text("utf-8")
    assert "\u2705 **LLM gate passed** \u2014 1 item(s) \u00b7 no regression" in comment
    row = _table(comment)["word\\_overlap \\(mean\\)"]
    assert row[4] == "= 0"
    assert row[6] == "pass"
    checks = load_results(gate.path / ".llmgate" / "results.json").items[0].checks
    assert {(c.kind, c.metric, c.verdict) for c in checks if c.kind == "regression"} == {
        ("regression", "word_overlap", "pass"), ("regression", "length_chars", "pass")}


def test_new_items_and_changed_dataset_are_reported(gate: Any) -> None:
    base = _baseline(gate)
    gate.write("suites/support.yaml", SUITE.replace(
        "main: {strategy: overlap}", "main: {strategy: overlap}\n      extra: {strategy: overlap}"))
    data = [json.loads(x) for x in (gate.path / "golden_datasets/qa.jsonl").read_text().splitlines()]
    data[0]["question"] = "How can I change my password?"
    gate.rows(data)
    result = gate.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-baseline",
                                     str(base), *ARTIFACTS)
    comment = (gate.path / "out" / "comment.md").read_text("utf-8")
    assert "**New** (1): suites/support.yaml::answer\\[extra-qa\\]" in comment
    assert "not like for like: dataset changed" in comment
    assert "compared on the 3 of 4 row\\(s\\) unchanged in both runs" in comment
    main_item = load_results(gate.path / ".llmgate" / "results.json").item(
        "suites/support.yaml::answer[main-qa]")
    assert main_item is not None
    note = next(c for c in main_item.checks if c.metric == "dataset")
    assert note.verdict == "warn"
    assert result.ret == 0, result.stdout.str()  # a note, not a failure


def test_incomplete_baseline_is_refused(gate: Any) -> None:
    base = _baseline(gate)
    data = json.loads(base.read_text())
    data["incomplete"] = True
    base.write_text(json.dumps(data))
    assert llmgate(["baseline", str(base), "-o", str(gate.path / "b2.json")]) == 2
    assert llmgate(["diff", str(base), str(base)]) == 2
