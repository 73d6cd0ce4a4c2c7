"""The HTML report's row budget (`--llm-gate-html-rows`, `llmgate report --html-rows`), end to end.

A 300-row item over a 60-row budget: the page embeds every errored row, every failing row, the
worst rows of each metric and a sample, says "showing 60 of 300 rows" and where the rest is, and
its counts, means and histograms are those of all 300 rows in the results JSON. The run's page
(rows from the columns the run kept) and `llmgate report`'s (rows read back from the file) are
the same document. Under the budget the page carries every row and no note.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.cli.main import main
from pytest_llmgate.reporting.pack import read_embedded
from pytest_llmgate.results.io import load_results
from tests.conftest import Project

ROWS = 300
HOSTILE = "</script><script>alert(1)</script>"
APP = """
def answer(question, context):
    if "explode" in question:
        raise RuntimeError("subject exploded on " + question)
    return context
"""
SUITE = """
suite: big
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer:
    target: big_app:answer
evaluators:
  - "evaluators.custom:word_overlap"
  - length
"""
THRESHOLDS = """
defaults:
  max_error_rate: 0.5
metrics:
  word_overlap:
    - {aggregate: pass_rate, row: {min: 0.99}, min: 0.5}
"""


def _rows() -> list[dict[str, Any]]:
    """Rows whose answer (the context) matches the expected text, but for every 30th (failing:
    another expected text) and every 50th (errored: the subject raises); lengths vary."""
    out = []
    for i in range(ROWS):
        context = "Plans renew monthly " + "and again " * (i % 17) + f"on day {i}."
        question = f"When do plans renew ({i})?" + (" explode" if i % 50 == 7 else "")
        if i == 3:
            question += HOSTILE
        truth = "Refunds take five days." if i % 30 == 3 else context
        out.append({"id": f"q{i:03d}", "question": question, "context": context,
                    "ground_truth": truth})
    return out


@pytest.fixture
def big(project: Project) -> Project:
    project.write("big_app.py", APP)
    project.write("suites/support.yaml", SUITE)
    project.write("thresholds.yaml", THRESHOLDS)
    project.rows(_rows())
    return project


def _run(project: Project, *args: str) -> pytest.RunResult:
    return project.pytester.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "--llm-gate-html", "report.html", *args)


def _all_rows(results: Path) -> list[Any]:
    [item] = load_results(results).items
    return list(item.rows)


@pytest.mark.parametrize("stream", ["1", "off"], ids=["streamed", "in-memory"])
def test_an_item_over_its_budget_shows_problems_worst_rows_and_a_sample(
    big: Project, stream: str,
) -> None:
    root = big.path
    result = _run(big, "--llm-gate-stream-rows", stream, "--llm-gate-html-rows", "60")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    page_text = (root / "report.html").read_text("utf-8")
    page = read_embedded(page_text)
    rows = _all_rows(root / ".llmgate/results.json")
    assert len(rows) == ROWS
    errored = {r.id for r in rows if r.errors}
    failing = {r.id for r in rows if not r.errors and r.metrics["word_overlap"] < 0.99}
    assert len(errored) == 6 and len(failing) == 10

    assert page["rowCount"] == ROWS and page["rowsShown"] == 60 and len(page["rows"]) == 60
    shown = {r[1]: r for r in page["rows"]}
    assert {i for i, r in shown.items() if r[2] == 2} == errored
    assert {i for i, r in shown.items() if r[2] == 1} == failing
    # the worst rows of each of 4 metrics, a quarter of the share (15): the 3 longest answers too
    lengths = sorted((r.metrics["length_chars"] for r in rows if not r.errors), reverse=True)
    longest = [i for i, r in shown.items() if r[3].get("length_chars", 0) >= lengths[2]]
    assert len(longest) >= 3
    [item] = page["items"]
    note = item["rowsNote"]
    where = "results.rows.jsonl.gz" if stream == "1" else "the results JSON"
    assert note.startswith("showing 60 of 300 rows (the page's row budget is 60 rows)"), note
    assert "all 6 errored rows" in note and "all 10 failing rows" in note, note
    # (how many per metric depends on how many of them coincide: latency is timing)
    assert re.search(r"; the worst [\d to]+ rows by each of word_overlap, [a-z_, ]*length_chars"
                     r"[a-z_, ]* \(15 rows\); 44 of 284 other rows \(a sample by row id\); ", note)
    assert note.endswith(f"in {where}."), note
    assert item["shown"] == 60 and item["rows"] == ROWS

    # every number on the page is the results JSON's, from all 300 rows
    raw = json.loads((root / ".llmgate/results.json").read_text("utf-8"))
    [entry] = raw["items"]
    assert page["errored"] == item["errored"] == entry["error_count"] == 6
    for metric, aggs in entry["aggregates"].items():
        assert item["means"][metric] == round(aggs["mean"], 6), metric
        if metric in item["hist"]:
            assert sum(item["hist"][metric]["bins"]) == aggs["count"], metric
    assert entry["aggregates"]["word_overlap"]["count"] == ROWS - 6
    assert "word_overlap" in item["hist"]
    checks = {(c["metric"], c["aggregate"]): c["value"] for c in entry["checks"]}
    assert {(c["metric"], c["aggregate"]): c["value"] for c in item["checks"]} == {
        k: None if v is None else round(v, 6) for k, v in checks.items()}

    # model output and data stay inert text
    assert HOSTILE not in page_text and "<script>alert" not in page_text
    assert any(HOSTILE in page["data"][r[5]]["question"] for r in page["rows"] if r[1] == "q003")

    # `llmgate report` reads the rows back and embeds exactly the same rows
    assert main(["report", str(root / ".llmgate/results.json"), "--html", str(root / "again.html"),
                 "--html-rows", "60"]) == 0
    again = read_embedded((root / "again.html").read_text("utf-8"))
    assert _durationless(again) == _durationless(page)


def _durationless(page: dict[str, Any]) -> dict[str, Any]:
    """The results JSON keeps an item's duration to 4 decimals and a row's latency to 3, the
    run's own page all of them."""
    return {**page, "items": [{**i, "duration": None} for i in page["items"]],
            "rows": [r[:12] + r[13:] for r in page["rows"]]}


def test_under_the_budget_every_row_is_embedded_and_nothing_is_said(big: Project) -> None:
    root = big.path
    _run(big, "--llm-gate-stream-rows", "1")  # default budget: 20,000 rows
    page = read_embedded((root / "report.html").read_text("utf-8"))
    assert page["rowCount"] == len(page["rows"]) == ROWS
    assert "rowsShown" not in page and "rowBudget" not in page
    assert "shown" not in page["items"][0] and "rowsNote" not in page["items"][0]
    assert main(["report", str(root / ".llmgate/results.json"), "--html", str(root / "all.html"),
                 "--html-rows", "all"]) == 0
    assert _durationless(read_embedded((root / "all.html").read_text("utf-8"))) == _durationless(
        page)
    big.write("pytest.ini", "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"
              "pythonpath = .\nllm_gate_html_rows = 100\n")
    _run(big, "--llm-gate-stream-rows", "1")
    assert read_embedded((root / "report.html").read_text("utf-8"))["rowsShown"] == 100
    _run(big, "--llm-gate-stream-rows", "1", "--llm-gate-html-rows", "all")  # the option wins
    assert len(read_embedded((root / "report.html").read_text("utf-8"))["rows"]) == ROWS


@pytest.mark.parametrize("value", ["0", "-3", "lots", "1.5"])
def test_bad_budgets_are_one_line_usage_errors(
    big: Project, value: str, capsys: pytest.CaptureFixture[str],
) -> None:
    result = big.pytester.runpytest("--llm-gate", "--llm-gate-html-rows", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    expected = f"expected a positive row count or all, got {value!r}"
    [line] = [x for x in result.errlines if expected in x]
    assert "--llm-gate-html-rows" in line
    big.write("pytest.ini", "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"
              f"pythonpath = .\nllm_gate_html_rows = {value}\n")
    result = big.pytester.runpytest("--llm-gate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [x for x in result.errlines if x.strip()]
    assert errors == [f"ERROR: ini llm_gate_html_rows: {expected}"], errors
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "results.json", "--html", "x.html", "--html-rows", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"llmgate report: error: argument --html-rows: {expected}", err
