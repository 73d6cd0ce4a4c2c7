"""Absent is not passed: each case here went green (or left an item out of the artifacts) on the
previous release. A crashed item, a collect-only or dry run, a missing model in CI, and the Python
API with a judge must each end in a verdict that says exactly what happened."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.cli.main import main as llmgate
from tests.conftest import Project

CRASHING_AGGREGATE = """
class ItemLevel:
    '''An evaluator that also scores the whole item; its aggregation step exits the process.'''

    outputs = ("row_ok",)

    def __call__(self, *, response):
        return {"row_ok": 1.0}

    def aggregate(self, rows, prefix=""):
        raise SystemExit(3)
"""


def _artifacts(project: Project) -> dict[str, Any]:
    results = project.results()
    junit = ET.parse(project.path / "out" / "gate.xml").getroot()
    markdown = (project.path / "out" / "comment.md").read_text("utf-8")
    return {"results": results, "junit": junit, "markdown": markdown}


ARTIFACTS = ["--llm-gate-junit", "out/gate.xml", "--llm-gate-md", "out/comment.md"]


def _one_item_suite(project: Project, evaluator: str, rule: str) -> None:
    """One subject, one dataset, one evaluator, and the one threshold rule that gates it."""
    project.write(
        "suites/support.yaml",
        "suite: support\ndatasets:\n  qa: ../golden_datasets/qa.jsonl\n"
        "subjects:\n  answer:\n    target: demo_app:answer\n"
        f"evaluators:\n  - {evaluator}\n",
    )
    project.write("thresholds.yaml", f"metrics:\n  {rule}\n")


def test_an_item_whose_aggregation_exits_fails_in_every_artifact(
    project: Project, xdist_args: list[str]
) -> None:
    project.write("evaluators/item_level.py", CRASHING_AGGREGATE)
    _one_item_suite(project, '"evaluators.item_level:ItemLevel"', "row_ok: {min: 0.5}")
    result = project.pytester.runpytest("--llm-gate", *xdist_args, *ARTIFACTS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "llm-gate: FAILED" in out
    assert "llm-gate: PASSED" not in out
    seen = _artifacts(project)
    results = seen["results"]
    assert results["verdict"] == "failed"
    [item] = results["items"]
    assert item["nodeid"] == "suites/support.yaml::answer[default-qa]"
    assert item["verdict"] in ("failed", "error")
    assert any("SystemExit" in c["message"] for c in item["checks"]) or "SystemExit" in item[
        "message"]
    assert seen["junit"].get("errors") == "1" or seen["junit"].get("failures") == "1"
    assert "passed" not in seen["markdown"].splitlines()[1].lower()
    # and it is never a baseline... only a failed one, which is still a real run
    assert llmgate(["baseline", str(project.path / ".llmgate/results.json"),
                    "-o", str(project.path / "base.json")]) == 0


CRASHING_PLUGIN = """
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    if "default-qa" in item.nodeid:
        raise SystemExit(4)
"""


def test_an_item_that_started_and_left_no_result_is_an_error(
    project: Project, xdist_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A crash outside the gate's own code (here a plugin) leaves the item without a result: it is
    an errored item in every artifact, never an absence, and the file is no baseline."""
    project.write("conftest.py", CRASHING_PLUGIN)
    _one_item_suite(project, '"evaluators.custom:word_overlap"', "word_overlap: {min: 0.1}")
    result = project.pytester.runpytest("--llm-gate", *xdist_args, *ARTIFACTS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "llm-gate: FAILED" in result.stdout.str()
    seen = _artifacts(project)
    [item] = seen["results"]["items"]
    assert item["verdict"] == "error"
    assert "no result" in item["message"]
    assert seen["junit"].get("errors") == "1" or seen["junit"].get("failures") == "1"
    assert llmgate(["baseline", str(project.path / ".llmgate/results.json"),
                    "-o", str(project.path / "base.json")]) == 2
    assert "1 item(s) errored" in capsys.readouterr().err
    assert not (project.path / "base.json").exists()


def _real_run(project: Project) -> dict[str, Any]:
    result = project.pytester.runpytest("--llm-gate", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # one variant misses its threshold
    return project.results()


def test_collect_only_writes_nothing_over_the_last_run(project: Project) -> None:
    before = _real_run(project)
    result = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--co")
    assert result.ret == 0
    assert project.results() == before


def test_a_dry_run_goes_beside_the_last_real_run_and_is_no_baseline(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _real_run(project)
    result = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-dry-run")
    assert project.results() == before
    result.stdout.fnmatch_lines(["*results: it is a dry-run*results.dry-run.json*"])
    dry = project.path / ".llmgate" / "results.dry-run.json"
    assert json.loads(dry.read_text("utf-8"))["run"]["kind"] == "dry-run"
    assert llmgate(["baseline", str(dry), "-o", str(project.path / "b.json")]) == 2
    assert "not usable as a baseline: it is a dry-run" in capsys.readouterr().err
    # asked explicitly, it replaces the results
    project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-dry-run",
                               "--llm-gate-overwrite-results")
    assert project.results()["run"]["kind"] == "dry-run"


def test_a_baseline_from_a_dry_run_is_refused_by_the_gate(project: Project) -> None:
    project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-dry-run",
                               "--llm-gate-json", "dry.json")
    result = project.pytester.runpytest("--llm-gate", "-p", "no:xdist",
                                        "--llm-gate-baseline", "dry.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-gate-baseline: *dry.json: not usable as a baseline: it is a dry-run*"])


MODEL_SUITE = """
suite: judged
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer:
    target: demo_app:answer
evaluators:
  - groundedness
"""


@pytest.fixture
def needs_model(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY",
                 "OPENAI_BASE_URL", "LLMGATE_JUDGE", "LLMGATE_JUDGE_BASE_URL", "CI"):
        monkeypatch.delenv(name, raising=False)
    project.write("suites/support.yaml", MODEL_SUITE)
    project.write("thresholds.yaml", "metrics:\n  groundedness: {min: 3}\n")
    return project


def test_missing_model_skips_locally_but_fails_in_ci(
    needs_model: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = needs_model.pytester.runpytest("--llm-gate", "-p", "no:xdist")
    assert local.ret == 0
    local.assert_outcomes(skipped=1)

    monkeypatch.setenv("CI", "true")
    ci = needs_model.pytester.runpytest("--llm-gate", "-p", "no:xdist")
    assert ci.ret == pytest.ExitCode.TESTS_FAILED
    ci.stdout.fnmatch_lines(["*no judge model configured: set AZURE_OPENAI_ENDPOINT*CI is set*"])
    assert needs_model.results()["verdict"] == "failed"

    allowed = needs_model.pytester.runpytest("--llm-gate", "-p", "no:xdist",
                                             "--llm-gate-allow-skip")
    assert allowed.ret == 0
    allowed.assert_outcomes(skipped=1)


def test_a_suite_may_declare_itself_skippable_or_required(
    needs_model: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "1")
    needs_model.write("suites/support.yaml", MODEL_SUITE + "unconfigured: skip\n")
    assert needs_model.pytester.runpytest("--llm-gate", "-p", "no:xdist").ret == 0
    monkeypatch.delenv("CI")
    needs_model.write("suites/support.yaml", MODEL_SUITE + "unconfigured: fail\n")
    result = needs_model.pytester.runpytest("--llm-gate", "-p", "no:xdist")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*suites/support.yaml: unconfigured: fail*"])


def test_stopping_early_marks_the_run_incomplete(project: Project) -> None:
    project.write("suites/support.yaml", (project.path / "suites/support.yaml").read_text()
                  .replace("first: {strategy: first}", "first: {strategy: first}\n"
                           "      again: {strategy: first}"))
    result = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    results = project.results()
    assert results["incomplete"] is True
    assert any("did not run" in w for w in results["warnings"])


def test_python_api_runs_an_azure_judge_against_the_test_server(
    llm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pytest_llmgate.evaluate` owns its runtime: no gate session has to prepare the models."""
    import pytest_llmgate
    from pytest_llmgate.testing.fixtures import FAKE_KEY

    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMGATE_JUDGE_BASE_URL", llm.base_url)
    monkeypatch.setenv("LLMGATE_JUDGE_MODEL", "gpt-4o")
    monkeypatch.setenv("LLMGATE_JUDGE_API_KEY", FAKE_KEY)
    monkeypatch.setenv("LLMGATE_CACHE", "off")
    rows = [
        {"id": "a", "query": "When was the Eiffel Tower completed?",
         "context": "The Eiffel Tower was completed in 1889."},
        {"id": "b", "query": "How tall is it?", "context": "It is 330 metres tall."},
    ]
    evaluation = pytest_llmgate.evaluate(
        lambda query, context: context, rows, evaluators=["groundedness"],
        thresholds={"groundedness": {"min": 3}}, base_dir=tmp_path,
    )
    assert [r.errors for r in evaluation.rows] == [(), ()]
    assert all(1 <= r.metrics["groundedness"] <= 5 for r in evaluation.rows)
    assert evaluation.result.policy is not None
    assert llm.requests, "the judge really called the server"
    # the runtime it opened is closed again: a second call works the same way
    again = pytest_llmgate.evaluate(
        lambda query, context: context, rows, evaluators=["groundedness"], base_dir=tmp_path,
    )
    assert [r.metrics["groundedness"] for r in again.rows] == [
        r.metrics["groundedness"] for r in evaluation.rows
    ]


def test_load_results_takes_a_str_path(project: Project) -> None:
    import pytest_llmgate

    _real_run(project)
    run = pytest_llmgate.load_results(str(project.path / ".llmgate" / "results.json"))
    assert run.items
