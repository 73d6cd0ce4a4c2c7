"""Fault tolerance against the test server: injected 429/500s, timeouts and malformed bodies are
retried into the fault-free results; exhausted retries are error rows that name the call and the
cause; an endpoint that is down fails the run fast with one clear line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.testing import LLMServer
from tests.integration.test_xdist import decided

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"
SUITE = """
suite: faults
datasets:
  qa: ../data/qa.jsonl
subjects:
  answer:
    type: prompt
    messages:
      - {role: system, content: "Answer from the context only."}
      - {role: user, content: "Context: {{ context }}\\nQuestion: {{ question }}"}
    parameters: {temperature: 0, max_tokens: 60}
    variants:
      a: {}
      b: {seed: 3}
evaluators:
  - f1_score
  - length
thresholds:
  metrics:
    length_words: {min: 1}
"""
FACTS = ["Refunds take five business days", "Plans renew monthly on the signup date",
         "Export your data as CSV from the settings page", "Support is open daily from 9 to 5"]


def _rows(n: int) -> str:
    out = []
    for i in range(n):
        fact = FACTS[i % len(FACTS)]
        out.append({"id": f"q{i:02d}", "question": f"Question {i}: what about {fact.split()[0]}?",
                    "context": f"{fact}. Item {i} is in stock.", "ground_truth": fact})
    return "".join(json.dumps(r) + "\n" for r in out)


@pytest.fixture
def llm_project(pytester: pytest.Pytester, llm: LLMServer, llm_env: dict[str, str],
                monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in llm_env.items():
        monkeypatch.setenv(name, value)
    write_project(pytester.path, llm.base_url, 24)
    return pytester


def write_project(root: Path, base_url: str, rows: int, suite: str = SUITE) -> None:
    """A prompt-subject suite on the test server (shared with the interruption tests)."""
    (root / "pytest.ini").write_text(INI, "utf-8")
    (root / "data").mkdir(exist_ok=True)
    (root / "data/qa.jsonl").write_text(_rows(rows), "utf-8")
    (root / "suites").mkdir(exist_ok=True)
    (root / "suites/faults.yaml").write_text(suite, "utf-8")
    (root / "thresholds.yaml").write_text(
        f"models:\n  openai:\n    base_url: {base_url}\n    model: gpt-4o-mini\n"
        f"    api_key: ${{OPENAI_API_KEY}}\n    timeout_s: 0.4\n    max_retries: 8\n", "utf-8")


def _results(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / ".llmgate/results.json").read_text("utf-8"))
    return data


@pytest.mark.slow
def test_injected_faults_retry_into_the_fault_free_results(
    llm_project: pytest.Pytester, llm: LLMServer
) -> None:
    llm_project.runpytest("--llm-gate", "--llm-gate-cache", "off").assert_outcomes(passed=2)
    clean = decided(_results(llm_project))
    llm.configure(error_rate_429=0.1, error_rate_500=0.1, timeout_rate=0.05, malformed_rate=0.02,
                  retry_after=0.01, hang_s=1.0, seed=11)
    result = llm_project.runpytest("--llm-gate", "--llm-gate-cache", "off")
    result.assert_outcomes(passed=2)
    assert llm.faults["429"] and llm.faults["500"] and llm.faults["timeout"]
    assert decided(_results(llm_project)) == clean
    result.stdout.fnmatch_lines(["model calls: 48 (* HTTP requests, * retries, * failed attempts)"])


def test_exhausted_retries_are_counted_error_rows(
    llm_project: pytest.Pytester, llm: LLMServer
) -> None:
    (llm_project.path / "thresholds.yaml").write_text(
        f"models:\n  openai:\n    base_url: {llm.base_url}\n    model: gpt-4o-mini\n"
        f"    max_retries: 2\n", "utf-8")
    llm.configure(error_rate_500=1.0, retry_after=0.0)
    result = llm_project.runpytest("--llm-gate", "--llm-gate-cache", "off", "-k", "a-qa")
    result.assert_outcomes(failed=1, deselected=1)
    item = _results(llm_project)["items"][0]
    assert item["error_count"] == 24 and item["verdict"] == "failed"
    error = item["rows"][0]["errors"][0]
    assert error.startswith("subject: ")
    assert "model 'openai'" in error and "500" in error and "after 3 attempts" in error
    assert llm.requests == 24 * 3
    assert any(c["metric"] == "error_rate" and c["verdict"] == "fail" for c in item["checks"])


def test_endpoint_down_fails_fast_with_one_line(
    llm_project: pytest.Pytester, llm: LLMServer
) -> None:
    llm.down = True
    started = time.perf_counter()
    result = llm_project.runpytest("--llm-gate", "--llm-gate-cache", "off")
    elapsed = time.perf_counter() - started
    assert result.ret != 0
    assert elapsed < 10, elapsed
    out = result.stdout.str()
    assert "Traceback" not in out
    lines = [line for line in result.outlines if line.startswith("llm-gate: model endpoint")]
    assert lines == [
        f"llm-gate: model endpoint {llm.base_url} is down (connections refused): later calls "
        f"failed fast; start the server or fix its base URL"
    ]
    item = _results(llm_project)["items"][0]
    assert item["error_count"] == 24
    assert all("refused" in r["errors"][0] or "unreachable" in r["errors"][0]
               for r in item["rows"])
