"""promptflow-evals evaluators by import path, offline: its import needs NLTK data it would
download, and its BLEU / GLEU tokenize with data it would download on every call; the gate
supplies both from code. Checked through a suite against the gate's own built-ins (the same
algorithms), on ASCII and non-ASCII rows, with no host contacted. Without the package, a suite
naming one gets one line saying what to install."""

from __future__ import annotations

import importlib.metadata

import pytest

from tests.promptflow.conftest import jsonl, results, write
from tests.promptflow.test_connections import EGRESS_SPY


def _installed() -> bool:
    try:
        importlib.metadata.version("promptflow-evals")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


ROWS = [
    {"id": "a", "answer": "The sky is blue today.", "ground_truth": "The sky is blue."},
    {"id": "b", "answer": "Grass is mostly green.", "ground_truth": "Grass is green."},
    {"id": "c", "answer": "Le ciel est bleu — très bleu.", "ground_truth": "Le ciel est bleu."},
]
SUITE = """
    suite: pfevals
    datasets:
      qa: ../data/qa.jsonl
    subjects:
      recorded: {type: recorded, column: answer}
    evaluators:
      - {name: pf_f1, use: promptflow.evals.evaluators.F1ScoreEvaluator, prefix: "pf."}
      - {name: pf_bleu, use: "promptflow.evals.evaluators:BleuScoreEvaluator", prefix: "pf."}
      - {name: pf_gleu, use: promptflow.evals.evaluators.GleuScoreEvaluator, prefix: "pf."}
      - f1_score
      - bleu
      - gleu
    thresholds:
      metrics:
        pf.f1_score: {min: 0.5}
        pf.bleu_score: {min: 0.1}
        pf.gleu_score: {min: 0.1}
"""


@pytest.mark.skipif(not _installed(), reason="promptflow-evals is not installed")
def test_promptflow_evals_by_import_path_offline(pf_project: pytest.Pytester) -> None:
    write(pf_project.path, {"conftest.py": EGRESS_SPY, "data/qa.jsonl": jsonl(ROWS),
                            "suites/pfevals.yaml": SUITE})
    result = pf_project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "suites")
    result.assert_outcomes(passed=1)
    (item,) = results(pf_project.path)["items"]
    for row in item["rows"]:
        metrics = row["metrics"]
        assert not row.get("errors"), row
        # promptflow-evals' numbers are the gate's built-ins' (same algorithms and tokens)
        assert metrics["pf.f1_score"] == pytest.approx(metrics["f1_score"])
        assert metrics["pf.bleu_score"] == pytest.approx(metrics["bleu_score"])
        assert metrics["pf.gleu_score"] == pytest.approx(metrics["gleu_score"])
        assert 0 < metrics["pf.bleu_score"] < 1
    assert {c["metric"]: c["verdict"] for c in item["checks"]} == {
        "pf.f1_score": "pass", "pf.bleu_score": "pass", "pf.gleu_score": "pass"}
    assert "not checked before the run" not in result.stdout.str()  # their names are declared
    # no NLTK download, no telemetry: nothing but loopback was resolved
    assert not (pf_project.path / "egress.log").exists()


@pytest.mark.skipif(_installed(), reason="promptflow-evals is installed")
def test_promptflow_evals_missing_is_one_line(pf_project: pytest.Pytester) -> None:
    write(pf_project.path, {"data/qa.jsonl": jsonl(ROWS), "suites/pfevals.yaml": SUITE})
    result = pf_project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "suites")
    assert result.ret != 0
    result.stdout.fnmatch_lines([
        "*promptflow.evals.evaluators.F1ScoreEvaluator: promptflow-evals is not installed "
        "(pip install promptflow-evals;*"])
    assert "Traceback" not in result.stdout.str()
