"""pytest-xdist: `-n 2` gives the serial run's results; a dead worker fails the gate; no xdist works.

Why subprocesses for the crash: `os._exit` in a worker must not take pytester's own process down,
and xdist's controller only notices a lost worker through its gateway.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Project

pytest.importorskip("xdist")

SUITE_MANY = """
suite: support
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer:
    target: demo_app:answer
    variants:
      overlap: {strategy: overlap}
      first: {strategy: first}
  bot:
    target: demo_app:Bot
    variants:
      plain: {}
      loud: {shout: true}
evaluators:
  - "evaluators.custom:word_overlap"
  - f1_score
  - length
"""


def decided(results: dict[str, Any]) -> dict[str, Any]:
    """A results file's items minus wall-clock measurements, keyed by node id."""
    out: dict[str, Any] = {}
    for item in results["items"]:
        item = dict(item)
        item.pop("duration_s", None)
        item["aggregates"] = {k: v for k, v in item["aggregates"].items() if k != "latency_ms"}
        item["checks"] = [c for c in item["checks"] if c["metric"] != "latency_ms"]
        rows = []
        for row in item["rows"]:
            row = dict(row)
            row.pop("latency_ms", None)
            row["metrics"] = {k: v for k, v in row["metrics"].items() if k != "latency_ms"}
            rows.append(row)
        item["rows"] = rows
        out[item["nodeid"]] = item
    return out


def test_two_workers_equal_a_serial_run(project: Project) -> None:
    project.write("suites/support.yaml", SUITE_MANY)
    serial = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist",
                                        "--llm-gate-md", "serial.md")
    serial.assert_outcomes(passed=3, failed=1)
    expected = project.results()
    parallel = project.pytester.runpytest_subprocess("--llm-gate", "suites", "-n", "2",
                                                     "--llm-gate-md", "parallel.md")
    parallel.assert_outcomes(passed=3, failed=1)
    got = project.results()
    assert [i["nodeid"] for i in got["items"]] == [i["nodeid"] for i in expected["items"]]
    assert decided(got) == decided(expected)
    assert got["verdict"] == expected["verdict"] == "failed"
    assert got["incomplete"] is expected["incomplete"] is False
    assert got["counts"] == expected["counts"]
    # the terminal summary and reports are written once, by the controller
    assert parallel.stdout.str().count("llm-gate: FAILED") == 1
    serial_md = (project.path / "serial.md").read_text("utf-8")
    parallel_md = (project.path / "parallel.md").read_text("utf-8")
    assert _strip_times(serial_md) == _strip_times(parallel_md)


def _strip_times(text: str) -> str:
    return "\n".join(
        line for line in text.splitlines()
        if "latency" not in line and not any(u in line for u in (" s)", "s |", "duration"))
    )


def test_worker_that_dies_fails_the_gate_as_incomplete(project: Project) -> None:
    project.write("demo_app.py", """
        import os


        def answer(question, context, strategy="overlap"):
            if strategy == "first" and os.environ.get("PYTEST_XDIST_WORKER"):
                os._exit(3)
            return context.split(".")[0] + "."
    """)
    project.write("thresholds.yaml", "metrics:\n  length_words: {min: 1}\n")
    result = project.pytester.runpytest_subprocess(
        "--llm-gate", "suites", "-n", "2", "--max-worker-restart", "0"
    )
    assert result.ret != 0
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    data = project.results()
    assert data["incomplete"] is True
    assert data["verdict"] == "failed"
    result.stdout.fnmatch_lines([
        "llm-gate: INCOMPLETE: xdist worker gw? crashed while running "
        "suites/support.yaml::answer[[]first-qa[]] (*); not usable as a baseline"
    ])
    assert any("crashed while running" in w for w in data["warnings"])


def test_without_xdist_installed(project: Project) -> None:
    """`-p no:xdist` stands in for an environment without pytest-xdist: no xdist hooks."""
    result = project.pytester.runpytest_subprocess("--llm-gate", "suites", "-p", "no:xdist")
    result.assert_outcomes(passed=1, failed=1)
    data = project.results()
    assert data["incomplete"] is False and len(data["items"]) == 2
    assert data["verdict"] == "failed"
    verdicts = {i["nodeid"].split("::")[-1]: i["verdict"] for i in data["items"]}
    assert verdicts == {"answer[overlap-qa]": "passed", "answer[first-qa]": "failed"}
