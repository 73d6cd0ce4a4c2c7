"""azure-ai-evaluation classes by import path, as the README and the Prompt Flow guide show them
(`use: azure.ai.evaluation:QAEvaluator`, `args: {model_config: "${judge}"}`), through a suite:
every documented form scores its rows (the inputs come from the classes' overloads), and azure's
full output names stay readable in the row details."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from pytest_llmgate.testing import LLMServer
from tests.promptflow.conftest import jsonl, results, write
from tests.promptflow.test_connections import EGRESS_SPY

# found, not imported: importing it here would start promptflow's telemetry exporter in this
# process (the gate turns that off only in the runs it makes)
if importlib.util.find_spec("azure.ai.evaluation") is None:
    pytest.skip("azure-ai-evaluation is not installed", allow_module_level=True)

ROWS = [
    {"id": "a", "query": "What color is the sky?", "context": "The sky is blue.",
     "ground_truth": "The sky is blue.", "response": "The sky is blue."},
    {"id": "b", "query": "What color is grass?", "context": "Grass is green.",
     "ground_truth": "Grass is green.", "response": "Grass is blue."},
]
SUITE = """
    suite: az
    datasets:
      qa: ../data/qa.jsonl
    subjects:
      recorded:
        type: recorded
    evaluators:
      - use: azure.ai.evaluation:F1ScoreEvaluator
      - use: azure.ai.evaluation:FluencyEvaluator
        args: {model_config: "${judge}"}
      - use: azure.ai.evaluation:IntentResolutionEvaluator
        args: {model_config: "${judge}"}
      - use: azure.ai.evaluation:QAEvaluator
        args: {model_config: "${judge}"}
        prefix: "qa."
    thresholds:
      metrics:
        f1_score: {min: 0.5}
        fluency: {min: 1}
        intent_resolution: {min: 1}
        qa.groundedness: {min: 1}
"""


def test_azure_classes_by_import_path_through_a_suite(
    pf_project: pytest.Pytester, llm: LLMServer
) -> None:
    write(pf_project.path, {"data/qa.jsonl": jsonl(ROWS), "suites/az.yaml": SUITE,
                            "conftest.py": EGRESS_SPY})
    result = pf_project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "suites")
    result.assert_outcomes(passed=1)
    # importing azure-ai-evaluation (hence promptflow) left nothing in the user's home
    assert list(Path(os.environ["HOME"]).iterdir()) == []
    (item,) = results(pf_project.path)["items"]
    assert item["nodeid"] == "suites/az.yaml::recorded[default-qa]"
    rows = {r["id"]: r for r in item["rows"]}
    assert all(r.get("error") is None for r in rows.values())
    # F1 from the overloads' response + ground_truth: exact on a, 2/3 tokens on b
    assert rows["a"]["metrics"]["f1_score"] == 1.0
    assert rows["b"]["metrics"]["f1_score"] == pytest.approx(2 / 3, abs=1e-3)
    for name in ("fluency", "intent_resolution", "qa.groundedness", "qa.relevance",
                 "qa.coherence", "qa.similarity", "qa.f1_score"):
        assert name in rows["a"]["metrics"], name
    details = rows["a"]["details"]
    # azure's own names are kept next to the one metric the gate scores
    assert details["fluency_score"] == rows["a"]["metrics"]["fluency"]
    assert isinstance(details["fluency_reason"], str) and details["fluency_reason"]
    assert "fluency_threshold" in details and "fluency_passed" in details
    assert "qa.groundedness_threshold" in details
    checks = {c["metric"]: c["verdict"] for c in item["checks"]}
    assert checks["f1_score"] == "pass" and checks["qa.groundedness"] == "pass"
    # the judges reached the test server (one request per judge class and row at least)
    assert llm.routes["chat"] >= 2 * 6
    # importing azure-ai-evaluation (and promptflow's devkit under it) contacted no other host
    assert not (pf_project.path / "egress.log").exists()
