"""Gate runs of LLM suites (prompt subjects, prompty, judges) against the project's test server.

Each test writes a small project into pytester's directory, points the environment at the server
(`llm_env`), runs `pytest --llm-gate` in process and asserts exit codes, outcomes and the parsed
results JSON: variants, usage and cost, judge outputs, error rows, retries, timeouts, cache modes,
skips, and that the planted API key appears in no artifact and no output.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.config.models import PRICES
from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"
ROWS = [
    {"id": "r1", "question": "How much is the Plus plan per month?",
     "context": "The Personal plan costs $6 per month. The Plus plan costs $12 per month and "
                "includes 2 TB of storage.",
     "ground_truth": "The Plus plan is $12 per month."},
    {"id": "r2", "question": "How long do refunds take?",
     "context": "Plans renew monthly. Refunds take five business days to arrive.",
     "ground_truth": "Refunds take five business days."},
    {"id": "r3", "question": "Can I export my data?",
     "context": "Support is open daily. You can export your data as CSV from the settings page.",
     "ground_truth": "Yes, as CSV from the settings page."},
]
PROMPTY = """
---
name: answer
model:
  api: chat
  parameters: {temperature: 0, max_tokens: 120}
inputs:
  question: {type: string}
  context: {type: string}
  tone: {type: string, default: concise}
---
system:
Answer in a {{ tone }} way, only from the context.

user:
Context:
{{ context }}

Question: {{ question }}
"""
CHATTY = """
system:
You are a cheerful assistant. Add tips.
user:
Context: {{ context }}
Question: {{ question }}
"""
SUITE = """
suite: rag
datasets:
  qa: ../data/qa.jsonl
subjects:
  answer:
    type: prompty
    path: ../prompts/answer.prompty
    variants:
      strict: {}
      chatty: {template: ../prompts/chatty.jinja2, temperature: 0.7, seed: 3}
      msgs:
        model: judge
        messages:
          - {role: system, content: "Be brief."}
          - {role: user, content: "Context: {{ context }}\\nQuestion: {{ question }}"}
evaluators:
  - groundedness
  - relevance
  - similarity
thresholds:
  metrics:
    groundedness: {min: 3}
    cost_usd: {aggregate: sum, max: 0.01}
    latency_ms: {aggregate: p95, max: 600000}  # gated, never tight: wall time is no test assert
"""


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def project(pytester: pytest.Pytester, llm_env: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in llm_env.items():
        monkeypatch.setenv(name, value)
    root = pytester.path
    _write(root, "pytest.ini", INI)
    _write(root, "data/qa.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))
    _write(root, "prompts/answer.prompty", PROMPTY)
    _write(root, "prompts/chatty.jinja2", CHATTY)
    _write(root, "suites/rag.yaml", SUITE)
    return pytester


def _results(pytester: pytest.Pytester, name: str = ".llmgate/results.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / name).read_text("utf-8"))
    return data


def _items(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["variant"]: item for item in results["items"]}


def _scores(results: dict[str, Any]) -> dict[str, Any]:
    """Everything a run decided, minus wall-clock measurements."""
    out = {}
    for item in results["items"]:
        rows = [
            (r["id"], r["output"], {k: v for k, v in r["metrics"].items() if k != "latency_ms"},
             r.get("errors"))
            for r in item["rows"]
        ]
        out[item["nodeid"]] = (item["verdict"], rows)
    return out


def test_prompt_variants_usage_and_judges(project: pytest.Pytester, llm: LLMServer,
                                          xdist_args: list[str]) -> None:
    result = project.runpytest("--llm-gate", "-rs", *xdist_args)
    result.assert_outcomes(passed=3)
    items = _items(_results(project))
    assert set(items) == {"strict", "chatty", "msgs"}
    strict, chatty, msgs = items["strict"], items["chatty"], items["msgs"]
    assert strict["subject_spec"]["params"] == {"temperature": 0, "max_tokens": 120}
    assert chatty["subject_spec"]["params"] == {"temperature": 0.7, "seed": 3}
    assert chatty["subject_spec"]["template"] == "prompts/chatty.jinja2"
    assert msgs["subject_spec"]["model"] == "judge"
    assert strict["subject_spec"]["template_sha256"] != chatty["subject_spec"]["template_sha256"]
    for item in items.values():
        for row in item["rows"]:
            assert not row.get("errors")
            assert isinstance(row["output"], str) and row["output"]
            metrics = row["metrics"]
            for name in ("groundedness", "relevance", "similarity"):
                assert 1 <= metrics[name] <= 5
                assert row["details"][f"{name}_reason"].startswith("Let's think step by step")
            assert metrics["prompt_tokens"] > 0 and metrics["judge_prompt_tokens"] > 0
            assert row["details"]["system_fingerprint"].startswith("fp_")
    assert "Plus plan costs $12" in strict["rows"][0]["output"]
    assert strict["usage"]["judge"]["cost_usd"] > 0


def test_cost_arithmetic(project: pytest.Pytester, llm: LLMServer) -> None:
    project.runpytest("--llm-gate", "-k", "strict").assert_outcomes(passed=1, deselected=2)
    item = _items(_results(project))["strict"]
    subject, judge = PRICES["gpt-4o-mini"], PRICES["gpt-4o"]  # OPENAI_MODEL / LLMGATE_JUDGE_MODEL
    for row in item["rows"]:
        m = row["metrics"]
        expected = (m["prompt_tokens"] * subject.input_per_1m
                    + m["completion_tokens"] * subject.output_per_1m) / 1e6
        assert m["cost_usd"] == pytest.approx(expected, rel=1e-12)
        expected = (m["judge_prompt_tokens"] * judge.input_per_1m
                    + m["judge_completion_tokens"] * judge.output_per_1m) / 1e6
        assert m["judge_cost_usd"] == pytest.approx(expected, rel=1e-12)
    total = sum(r["metrics"]["cost_usd"] for r in item["rows"])
    check = next(c for c in item["checks"] if c["metric"] == "cost_usd")
    assert check["aggregate"] == "sum" and check["value"] == pytest.approx(total)
    assert item["usage"]["subject"]["cost_usd"] == pytest.approx(total)


def test_cost_gate_fails(project: pytest.Pytester, llm: LLMServer) -> None:
    suite = project.path / "suites/rag.yaml"
    suite.write_text(suite.read_text().replace("max: 0.01", "max: 0.000001"))
    result = project.runpytest("--llm-gate", "-k", "strict")
    result.assert_outcomes(failed=1, deselected=2)
    result.stdout.fnmatch_lines(["*cost_usd*sum*FAIL*"])


def test_every_judge_output_mapping(project: pytest.Pytester, llm: LLMServer) -> None:
    suite = project.path / "suites/rag.yaml"
    text = suite.read_text().replace(
        "  - similarity\n",
        "  - similarity\n  - coherence\n  - fluency\n  - retrieval\n  - response_completeness\n",
    )
    suite.write_text(text)
    project.runpytest("--llm-gate", "-k", "strict").assert_outcomes(passed=1, deselected=2)
    item = _items(_results(project))["strict"]
    names = ("groundedness", "relevance", "similarity", "coherence", "fluency", "retrieval",
             "response_completeness")
    for row in item["rows"]:
        for name in names:
            assert 1 <= row["metrics"][name] <= 5
            assert row["details"][f"{name}_status"] == "completed"
            for suffix in ("_score", "_threshold", "_passed"):
                assert f"{name}{suffix}" not in row["metrics"]
    assert [e["use"] for e in item["evaluators"]] == list(names)


def test_unparseable_judge_answers_are_error_rows(project: pytest.Pytester, llm: LLMServer) -> None:
    # the subject answers with a marker that makes the server's judge reply with junk
    llm.scripted = {"Question: How long do refunds take?": "LLMGATE_JUDGE_REPLY:<S2>5</S2>"}
    result = project.runpytest("--llm-gate", "-k", "strict")
    result.assert_outcomes(failed=1, deselected=2)
    item = _items(_results(project))["strict"]
    bad = next(r for r in item["rows"] if r["id"] == "r2")
    assert "groundedness" not in bad["metrics"]
    assert any("groundedness" in e and "not JSON" in e for e in bad["errors"])
    assert item["verdict"] == "failed" and item["error_count"] == 1


def test_retries_keep_the_verdict(project: pytest.Pytester, llm: LLMServer) -> None:
    project.runpytest("--llm-gate", "--llm-gate-cache", "off").assert_outcomes(passed=3)
    clean = _scores(_results(project))
    llm.configure(error_rate_429=0.25, error_rate_500=0.2, retry_after=0.01, seed=7)
    project.runpytest("--llm-gate", "--llm-gate-cache", "off").assert_outcomes(passed=3)
    assert llm.faults["429"] and llm.faults["500"]
    assert _scores(_results(project)) == clean


def test_timeouts_are_error_rows(project: pytest.Pytester, llm: LLMServer) -> None:
    _write(project.path, "thresholds.yaml", f"""
        models:
          openai:
            base_url: {llm.base_url}
            model: gpt-4o-mini
            timeout_s: 0.3
            max_retries: 1
    """)
    llm.configure(timeout_rate=1.0, hang_s=2.0)
    result = project.runpytest("--llm-gate", "-k", "strict", "--llm-gate-cache", "off")
    result.assert_outcomes(failed=1, deselected=2)
    item = _items(_results(project))["strict"]
    for row in item["rows"]:
        assert row["errors"] and "timed out" in row["errors"][0]


def test_cache_modes(project: pytest.Pytester, llm: LLMServer) -> None:
    project.runpytest("--llm-gate").assert_outcomes(passed=3)
    first = _scores(_results(project))
    calls = llm.requests
    assert calls > 0
    llm.reset_counters()
    result = project.runpytest("--llm-gate", "--llm-gate-cache", "ro")
    result.assert_outcomes(passed=3)
    assert llm.requests == 0  # replayed from the cache, nothing sent
    assert _scores(_results(project)) == first
    result.stdout.fnmatch_lines(["*call cache (ro):*hits, 0 misses*saved*"])
    # ro with an empty cache: every row is an error naming the call, nothing is sent
    result = project.runpytest("--llm-gate", "--llm-gate-cache", "ro",
                               "--llm-gate-cache-dir", "empty-cache", "-k", "strict")
    result.assert_outcomes(failed=1, deselected=2)
    assert llm.requests == 0
    row = _items(_results(project))["strict"]["rows"][0]
    assert "no cached answer" in row["errors"][0]
    # refresh calls again; off calls and writes nothing
    project.runpytest("--llm-gate", "--llm-gate-cache", "refresh", "-k", "strict")
    assert llm.requests > 0
    llm.reset_counters()
    project.runpytest("--llm-gate", "--llm-gate-cache", "off", "-k", "strict",
                      "--llm-gate-cache-dir", "off-cache")
    assert llm.requests > 0 and not (project.path / "off-cache").exists()


def test_no_model_skips_or_fails(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
                                 ) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LLMGATE_JUDGE_BASE_URL",
                 "LLMGATE_JUDGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = project.runpytest("--llm-gate", "-rs")
    result.assert_outcomes(skipped=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*SKIPPED*no judge model configured: set AZURE_OPENAI_ENDPOINT*"])
    result = project.runpytest("--llm-gate", "--llm-gate-require-models")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*no judge model configured*--llm-gate-require-models*"])


def test_template_errors_name_template_and_variable(project: pytest.Pytester,
                                                     llm: LLMServer) -> None:
    _write(project.path, "prompts/chatty.jinja2", "user:\n{{ question }} {{ customer_name }}\n")
    result = project.runpytest("--llm-gate", "-k", "chatty")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*prompts/chatty.jinja2*customer_name*is undefined*"])
    assert "Traceback" not in result.stdout.str()


def test_secrets_absent_from_every_artifact(project: pytest.Pytester, llm: LLMServer) -> None:
    llm.scripted = {"Question: Can I export": "LLMGATE_STATUS:401"}  # an error row with a message
    result = project.runpytest(
        "--llm-gate", "-v", "--llm-gate-junit", "out/junit.xml", "--llm-gate-html",
        "out/report.html", "--llm-gate-md", "out/report.md", "--llm-gate-csv", "out/rows.csv",
    )
    assert result.ret != 0  # the 401 row errors
    captured = "\n".join(result.outlines + result.errlines)
    assert FAKE_KEY not in captured
    files = [p for p in project.path.rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite3" for p in files)
    assert any(p.name == "results.json" for p in files)
    for path in files:
        assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_dry_run_counts_calls_and_cost_without_calling(project: pytest.Pytester,
                                                       llm: LLMServer) -> None:
    result = project.runpytest("--llm-gate", "--llm-gate-dry-run", "-p", "no:xdist")
    result.assert_outcomes(skipped=3)
    assert llm.requests == 0
    # per variant: 3 subject calls and 3 judges x 3 rows = 9 judge calls; 3 variants
    result.stdout.fnmatch_lines([
        "*rag.yaml::answer[[]chatty-qa[]]*dry run: 3 subject calls, 9 judge calls, ~*tokens, ~$*",
        "dry run: 36 model calls, estimated $*; nothing was called",
    ])
    results = _results(project)
    assert results["run"]["dry_run"] is True


def test_progress_shows_rows_done(project: pytest.Pytester, llm: LLMServer) -> None:
    result = project.runpytest("--llm-gate", "--llm-gate-progress", "on", "-p", "no:xdist",
                               "-k", "strict")
    result.stdout.fnmatch_lines(["*answer[[]strict-qa[]]: rows 3/3, 0 errors, * cache hits*"])
