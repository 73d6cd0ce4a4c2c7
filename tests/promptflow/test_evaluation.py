"""Evaluation flows as evaluators (Prompt Flow's mapping rules, failed lines, the aggregation node),
experiment.yaml with a `pr` overlay, and the one-line error without the promptflow extra."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY
from tests.promptflow.conftest import jsonl, results, write
from tests.promptflow.test_flows import DAG, DAG_SUITE, ROWS

EVAL_FLOW = {
    "flows/eval/flow.dag.yaml": """
        inputs:
          groundtruth: {type: string}
          prediction: {type: string}
          threshold: {type: double, default: 0.5}
        outputs:
          score: {type: double, reference: "${grade.output}"}
          verdict: {type: string, reference: "${label.output}"}
          threshold_used: {type: double, reference: "${inputs.threshold}"}
        nodes:
        - name: grade
          type: python
          source: {type: code, path: grade.py}
          inputs: {groundtruth: "${inputs.groundtruth}", prediction: "${inputs.prediction}",
                   threshold: "${inputs.threshold}"}
        - name: label
          type: python
          source: {type: code, path: label.py}
          inputs: {score: "${grade.output}"}
        - name: accuracy
          type: python
          source: {type: code, path: accuracy.py}
          inputs: {scores: "${grade.output}"}
          aggregation: true
    """,
    "flows/eval/grade.py": """
        from promptflow.core import tool


        @tool
        def grade(groundtruth: str, prediction: str, threshold: float) -> float:
            if groundtruth == "BOOM":
                raise ValueError("cannot grade this line")
            same = groundtruth.strip().lower() == prediction.strip().lower()
            return 1.0 if same and threshold < 1 else 0.0
    """,
    "flows/eval/label.py": """
        from promptflow.core import tool


        @tool
        def label(score: float) -> str:
            return "Correct" if score >= 1 else "Incorrect"
    """,
    "flows/eval/accuracy.py": """
        from typing import List

        from promptflow.core import log_metric, tool


        @tool
        def accuracy(scores: List[float]) -> float:
            value = round(sum(scores) / len(scores), 4)
            log_metric("accuracy", value)
            log_metric("graded_lines", len(scores))
            return value
    """,
}
EVALUATOR = """
evaluators:
  - name: pf_eval
    use: pytest_llmgate.promptflow:EvaluationFlow
    args:
      path: flows/eval
      mapping:
        groundtruth: "${data.ground_truth}"
        prediction: "${run.outputs.answer}"
        not_an_input: "${data.no_such_column}"
    inputs: {row: "${data}", outputs: "${output}"}
"""


def test_evaluation_flow_as_evaluator(pf_project: pytest.Pytester) -> None:
    rows = [dict(r, threshold=99) for r in ROWS]  # a same-named column must not fill a default
    rows[2]["ground_truth"] = "BOOM"  # this line fails in the evaluation flow
    suite = textwrap.dedent(DAG_SUITE).split("evaluators:")[0] + EVALUATOR.lstrip("\n") + """
thresholds:
  metrics:
    score: {min: 1}
"""
    write(pf_project.path, {
        **DAG, **EVAL_FLOW, "data/qa.jsonl": jsonl(rows), "suites/pf.yaml": suite,
        "thresholds.yaml": "version: 1\ndefaults: {max_error_rate: 0.5}\n",
    })
    result = pf_project.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "suites", "-k", "concise"
    )
    result.assert_outcomes(passed=1, deselected=1)
    assert "execution.flow     INFO" not in result.stdout.str()
    data = results(pf_project.path)
    item = next(i for i in data["items"] if i["variant"] == "answer.concise")
    by_id = {r["id"]: r for r in item["rows"]}
    assert by_id["q1"]["metrics"]["score"] == 1.0
    assert by_id["q1"]["metrics"]["threshold_used"] == 0.5  # the default, not the column's 99
    assert by_id["q1"]["details"]["verdict"] == "Correct"
    # the failed line is reported on its row, not dropped
    assert "score" not in by_id["q3"]["metrics"]
    assert any("cannot grade this line" in e for e in by_id["q3"]["errors"]), by_id["q3"]
    checks = {(c["metric"], c["aggregate"]): c for c in item["checks"]}
    assert checks[("score", "mean")]["value"] == 1.0
    # the aggregation node over the completed lines: log_metric values as item metrics
    script = (
        "import json, sys\n"
        "from pathlib import Path\nfrom pytest_llmgate import load_results\n"
        "from pytest_llmgate.promptflow import EvaluationFlow\n"
        "run = load_results(Path('.llmgate/results.json'))\n"
        "item = next(i for i in run.items if i.variant == 'answer.concise')\n"
        "print(json.dumps(EvaluationFlow('flows/eval').aggregate(item.rows)))\n"
    )
    out = pf_project.run(sys.executable, "-c", script)
    assert out.ret == 0, out.stderr.str()
    assert json.loads(out.stdout.lines[-1]) == {"accuracy": 1.0, "graded_lines": 2.0}


EXPERIMENT = {
    "experiment.yaml": """
        name: qa
        flow: qa

        connections:
        - name: aoai
          connection_type: AzureOpenAIConnection
          api_base: ${AOAI_API_BASE}
          api_version: 2024-10-21
          api_key: ${AOAI_API_KEY}
          api_type: azure

        datasets:
        - name: qa_train
          source: qa.jsonl
          description: "prompt experiments"
          mappings:
            question: "${data.question}"
            context: "${data.context}"
            mode: "${data.mode}"

        evaluators:
        - name: qa_eval
          flow: eval
          datasets:
          - name: qa_train_eval
            reference: qa_train
            source: qa_eval.jsonl
            description: "evaluation data, joined with qa_train by line"
            mappings:
              groundtruth: "${data.answer}"
              prediction: "${run.outputs.answer}"
    """,
    "experiment.pr.yaml": """
        name: qa

        datasets:
        - name: qa_pr
          source: data/qa_pr.jsonl
          description: "pr validation only"
          mappings:
            question: "${data.q}"
            context: "${data.context}"
            mode: "${data.mode}"

        evaluators:
    """,
    "data/qa.jsonl": jsonl([{k: v for k, v in r.items() if k != "ground_truth"} for r in ROWS]),
    "data/qa_eval.jsonl": jsonl([{"answer": r["ground_truth"]} for r in ROWS]),
    "data/qa_pr.jsonl": jsonl([{"id": "pr1", "q": ROWS[0]["question"],
                                "context": ROWS[0]["context"], "mode": "llm"}]),
    "thresholds.yaml": """
        version: 1
        metrics:
          score: {min: 1}
    """,
}


def test_experiment_yaml_with_pr_overlay(
    pf_project: pytest.Pytester, llm: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AOAI_API_BASE", llm.azure_endpoint)
    monkeypatch.setenv("AOAI_API_KEY", FAKE_KEY)
    write(pf_project.path, {**DAG, **EVAL_FLOW, **EXPERIMENT})
    result = pf_project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "experiment.yaml")
    # the chatty variant drops the final period on one row: the gate catches it
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*experiment.yaml::qa[[]answer.chatty-qa_train[]] FAILED*",
                                 "score*mean*>= 1*FAIL*"])
    items = {i["nodeid"]: i for i in results(pf_project.path)["items"]}
    assert sorted(items) == [
        "experiment.yaml::qa[answer.chatty-qa_train]",
        "experiment.yaml::qa[answer.concise-qa_train]",
    ]
    concise = items["experiment.yaml::qa[answer.concise-qa_train]"]
    rows = {r["id"]: r for r in concise["rows"]}
    assert rows["q1"]["output"] == {"answer": "The sky is blue.", "words": 4}
    # evaluation data joined by line: q3's expected answer comes from qa_eval.jsonl line 3
    assert [rows[k]["metrics"]["score"] for k in ("q1", "q2", "q3")] == [1.0, 1.0, 1.0]
    assert rows["q1"]["metrics"]["prompt_tokens"] > 0  # the connection reached the gate client
    assert {(c["metric"], c["verdict"]) for c in concise["checks"]} >= {("score", "pass")}
    chatty = items["experiment.yaml::qa[answer.chatty-qa_train]"]
    assert chatty["verdict"] == "failed"
    assert chatty["aggregates"]["score"]["mean"] == pytest.approx(2 / 3)
    assert FAKE_KEY not in (pf_project.path / ".llmgate/results.json").read_text("utf-8")

    # the pr overlay runs no evaluation: the project's rule on `score` cannot apply to any item,
    # which the gate refuses before any row runs (a rule that gates nothing is an error)
    refused = pf_project.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "experiment.yaml", "--llm-gate-env", "pr"
    )
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*metrics.score: no evaluator*produces metric 'score'*"])
    (pf_project.path / "thresholds.pr.yaml").write_text("version: 1\nmetrics: {}\n", "utf-8")
    result = pf_project.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "experiment.yaml", "--llm-gate-env", "pr",
        "--llm-gate-thresholds", "thresholds.pr.yaml",
    )
    result.assert_outcomes(passed=2)
    items = {i["nodeid"]: i for i in results(pf_project.path)["items"]}
    assert sorted(items) == [
        "experiment.yaml::qa[answer.chatty-qa_pr]",
        "experiment.yaml::qa[answer.concise-qa_pr]",
    ]
    (row,) = items["experiment.yaml::qa[answer.concise-qa_pr]"]["rows"]
    assert row["output"]["answer"] == "The sky is blue."
    assert "score" not in row["metrics"]  # empty evaluators: in the overlay = no evaluation
    assert items["experiment.yaml::qa[answer.concise-qa_pr]"]["evaluators"] == []
    # the overlay itself is never collected as an experiment
    result = pf_project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "--co", "-q", ".")
    assert "experiment.pr.yaml" not in result.stdout.str()


def test_without_promptflow_one_clear_line(pf_project: pytest.Pytester) -> None:
    write(pf_project.path, {
        **DAG,
        "suites/pf.yaml": DAG_SUITE,
        "conftest.py": "import sys\nsys.modules['promptflow'] = None  # not installed\n",
        "suites/plain.yaml": """
            suite: plain
            datasets: {qa: ../data/qa.jsonl}
            subjects:
              rec: {type: recorded, column: ground_truth}
            evaluators: [f1_score]
        """,
    })
    result = pf_project.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "suites", "--continue-on-collection-errors"
    )
    assert result.ret != 0
    lines = [ln for ln in result.stdout.lines if "promptflow" in ln and "pip install" in ln]
    assert lines, result.stdout.str()
    assert 'suites/pf.yaml:5: subjects.qa: Prompt Flow flows need the promptflow package, which ' \
        'is not installed: pip install "pytest-llmgate[promptflow]"' in lines[0]
    assert "Traceback" not in result.stdout.str()
    assert "1 passed" in result.stdout.str()  # everything else still works


def test_example_suite_gates_the_aggregation_node_metric(
    pf_project: pytest.Pytester, llm: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped example: `promptflow_flow` evaluator (default inputs, path relative to the
    suite) and a threshold on `accuracy`, which only the aggregation node's log_metric produces."""
    repo = Path(__file__).resolve().parents[2]
    shutil.copytree(repo / "examples/promptflow", pf_project.path / "examples/promptflow")
    monkeypatch.setenv("AOAI_API_BASE", llm.azure_endpoint)
    monkeypatch.setenv("AOAI_API_KEY", FAKE_KEY)
    result = pf_project.runpytest_subprocess(
        "examples/promptflow/suites/support_flow.yaml", "--llm-gate", "-p", "no:xdist",
        "--llm-gate-thresholds", "examples/promptflow/thresholds.yaml",
    )
    result.assert_outcomes(passed=2)  # answer.variant_0 and answer.variant_1
    items = results(pf_project.path)["items"]
    for item in items:
        (check,) = [c for c in item["checks"] if c["metric"] == "accuracy"]
        assert check["aggregate"] == "value"
        # the deterministic server answers every gold question correctly
        assert check["value"] == pytest.approx(1.0)
        assert check["verdict"] == "pass"
        assert item["aggregates"]["accuracy"] == {"value": pytest.approx(1.0)}
