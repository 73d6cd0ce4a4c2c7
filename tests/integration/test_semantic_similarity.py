"""`semantic_similarity` in a gate run: a suite whose subject replays recorded answers, scored
against the ground truth with embeddings from the test server, gated by thresholds, with the cost
in the results and bad rows as error rows that fail the item."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.testing import LLMServer, answers
from pytest_llmgate.testing.fixtures import FAKE_KEY

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"
ROWS = [
    {"id": "r1", "response": "Refunds arrive in five business days.",
     "ground_truth": "Refunds take five business days to arrive."},
    {"id": "r2", "response": "You can export your data as CSV from settings.",
     "ground_truth": "Export your data as CSV from the settings page."},
    {"id": "r3", "response": "The Plus plan is $12 per month.",
     "ground_truth": "The Plus plan costs $12 per month."},
]
SUITE = """
suite: sim
datasets:
  qa: ../data/qa.jsonl
subjects:
  recorded: {type: recorded, column: response}
evaluators:
  - semantic_similarity
"""


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def project(pytester: pytest.Pytester, llm: LLMServer,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("LLMGATE_EMB_KEY", FAKE_KEY)
    root = pytester.path
    _write(root, "pytest.ini", INI)
    _write(root, "suites/sim.yaml", SUITE)
    _write(root, "thresholds.yaml", f"""
        models:
          embeddings:
            base_url: {llm.base_url}
            model: text-embedding-3-small
            api_key: ${{LLMGATE_EMB_KEY}}
        metrics:
          semantic_similarity: {{min: 0.3}}
    """)
    return pytester


def _rows(pytester: pytest.Pytester, rows: list[dict[str, Any]]) -> None:
    _write(pytester.path, "data/qa.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def _item(pytester: pytest.Pytester) -> dict[str, Any]:
    data = json.loads((pytester.path / ".llmgate/results.json").read_text("utf-8"))
    [item] = data["items"]
    return dict(item)


def test_scores_costs_and_gates(project: pytest.Pytester, llm: LLMServer) -> None:
    _rows(project, ROWS)
    project.runpytest("--llm-gate", "--llm-gate-cache", "off").assert_outcomes(passed=1)
    item = _item(project)
    assert llm.routes["embeddings"] == len(ROWS)  # one request per row
    for row, source in zip(item["rows"], ROWS, strict=True):
        tokens = answers.token_estimate(source["response"]) + answers.token_estimate(
            source["ground_truth"])
        assert row["metrics"]["judge_prompt_tokens"] == tokens
        assert row["metrics"]["judge_cost_usd"] == pytest.approx(tokens * 0.02 / 1e6)
        assert 0.3 < row["metrics"]["semantic_similarity"] <= 1
    assert FAKE_KEY not in (project.path / ".llmgate/results.json").read_text("utf-8")


def test_a_dissimilar_answer_fails_the_threshold(project: pytest.Pytester) -> None:
    rows = [*ROWS, {"id": "r4", "response": "Bananas are rich in potassium.",
                    "ground_truth": "Refunds take five business days."}]
    _write(project.path, "thresholds.yaml",
           (project.path / "thresholds.yaml").read_text("utf-8").replace(
               "{min: 0.3}", "{min: 0.9, row: {min: 0.3}, aggregate: pass_rate}"))
    _rows(project, rows)
    result = project.runpytest("--llm-gate", "--llm-gate-cache", "off")
    result.assert_outcomes(failed=1)
    item = _item(project)
    scores = {r["id"]: r["metrics"]["semantic_similarity"] for r in item["rows"]}
    assert scores["r4"] < 0.3 < min(v for k, v in scores.items() if k != "r4")


def test_empty_and_over_long_rows_are_error_rows(project: pytest.Pytester, llm: LLMServer) -> None:
    rows = [*ROWS, {"id": "blank", "response": "", "ground_truth": "Refunds take five days."},
            {"id": "huge", "response": "refunds " * 40000, "ground_truth": "Refunds."}]
    _rows(project, rows)
    result = project.runpytest("--llm-gate", "--llm-gate-cache", "off")
    result.assert_outcomes(failed=1)
    item = _item(project)
    errors = {r["id"]: r.get("errors") for r in item["rows"]}
    assert "response is empty" in errors["blank"][0]
    assert "over the embedding input limit of 8192" in errors["huge"][0]
    assert llm.routes["embeddings"] == len(ROWS)  # the bad rows sent nothing
    result.stdout.fnmatch_lines(["*error*"])


def test_a_missing_key_fails_closed_naming_the_model(
    project: pytest.Pytester, llm: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMGATE_EMB_KEY")
    _rows(project, ROWS)
    result = project.runpytest("--llm-gate", "--llm-gate-cache", "off")
    result.assert_outcomes(failed=1)
    errors = [r["errors"][0] for r in _item(project)["rows"]]
    assert len(errors) == len(ROWS)
    assert all("embeddings" in e and "LLMGATE_EMB_KEY" in e for e in errors), errors
    assert llm.requests == 0
