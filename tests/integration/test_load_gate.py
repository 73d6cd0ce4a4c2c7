"""The load gate end to end: a suite with a `load:` block against the test server with injected
latency, 429s, 500s and hangs, checked against the server's own counters.

What the server saw is the reference: the number of requests (no retries: one HTTP request per
row), the 429s and 500s it sent (each one a row, none hidden), and its own per-request timings (a
client latency can never be shorter than the server's time for the same request, so every order
statistic of the client's latencies is at least the server's). Reported percentiles are checked
against numpy's on the recorded rows. A planted slowdown fails the gate; the reports render.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"
PROMPTS = [
    {"id": "refunds", "question": "How long do refunds take?",
     "context": "Refunds take five business days to arrive."},
    {"id": "renewal", "question": "When do plans renew?",
     "context": "Plans renew monthly on the signup date."},
    {"id": "export", "question": "Can I export my data?",
     "context": "You can export your data as CSV from the settings page."},
]
SUITE = """
suite: deploy-load
datasets:
  prompts: ../data/prompts.jsonl
subjects:
  chat:
    type: prompt
    model: deploy
    messages:
      - {{role: user, content: "Context: {{{{ context }}}}\\nQuestion: {{{{ question }}}}"}}
    parameters: {{max_tokens: 60}}
load:
{load}
thresholds:
  defaults: {{max_error_rate: {max_error_rate}}}
  metrics:
{metrics}
"""
RATE = """\
  rate: 12
  ramp_s: 0.5
  duration_s: 1.5
  max_requests: 40
  timeout_s: 10
"""
METRICS = """\
    latency_ms: [{aggregate: p50, max: 20000}, {aggregate: p95, max: 20000}, {aggregate: p99, max: 20000}]
    ttft_ms: {aggregate: p95, max: 20000}
    output_tokens_per_s: {aggregate: p50, min: 0.001}
    rate_limited_rate: {max: 0.6}
    requests_per_s: {min: 0.001}
"""


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def project(pytester: pytest.Pytester, llm: LLMServer,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("LLMGATE_DEPLOY_KEY", FAKE_KEY)
    root = pytester.path
    _write(root, "pytest.ini", INI)
    _write(root, "data/prompts.jsonl", "".join(json.dumps(r) + "\n" for r in PROMPTS))
    _write(root, "thresholds.yaml", textwrap.dedent(f"""\
        models:
          deploy:
            base_url: {llm.base_url}
            model: gpt-4o-mini
            api_key: ${{LLMGATE_DEPLOY_KEY}}
        """))
    suite(pytester)
    return pytester


def suite(pytester: pytest.Pytester, load: str = RATE, metrics: str = METRICS,
          max_error_rate: float = 0) -> None:
    _write(pytester.path, "suites/load.yaml",
           SUITE.format(load=load, metrics=metrics, max_error_rate=max_error_rate))


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--llm-gate", "--llm-gate-cache", "off", "-p", "no:xdist", *args)


def _item(pytester: pytest.Pytester) -> dict[str, Any]:
    data = json.loads((pytester.path / ".llmgate/results.json").read_text("utf-8"))
    [item] = data["items"]
    return dict(item)


def _checks(item: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["metric"], c["aggregate"]): c for c in item["checks"]}


def _order_statistics_at_least(client: list[float], server: list[float]) -> None:
    assert len(client) == len(server)
    for mine, theirs in zip(sorted(client), sorted(server), strict=True):
        assert mine >= theirs - 1.0  # 1 ms: the two clocks round differently


def test_rows_match_the_servers_counters(project: pytest.Pytester, llm: LLMServer) -> None:
    llm.configure(latency_ms=25, token_interval_ms=1, error_rate_429=0.25, retry_after=0)
    _run(project, "--llm-gate-junit", "junit.xml", "--llm-gate-md", "comment.md",
         "--llm-gate-html", "report.html").assert_outcomes(passed=1)
    item = _item(project)
    rows = item["rows"]
    # one HTTP request per row: nothing retried, nothing dropped
    assert len(rows) == llm.requests == llm.routes["chat"] > 10
    limited = [r for r in rows if r["metrics"]["rate_limited"] == 1]
    assert len(limited) == llm.faults["429"] == llm.statuses[429] > 0
    assert all(r["details"]["status"] == 429 and not r.get("errors") for r in limited)
    aggregates = item["aggregates"]
    assert aggregates["rate_limited_rate"]["value"] == llm.faults["429"] / llm.requests
    assert aggregates["requests"]["value"] == llm.requests
    assert aggregates["error_rate"]["value"] == 0
    ok = [r for r in rows if r["metrics"]["rate_limited"] == 0]
    served = [t for t in llm.timings if t["status"] == 200]
    assert len(ok) == len(served) == llm.statuses[200]
    assert all(t["stream"] for t in served)
    # causality: no client latency (or first token) comes before the server's
    _order_statistics_at_least([r["metrics"]["latency_ms"] for r in ok], [t["ms"] for t in served])
    _order_statistics_at_least([r["metrics"]["ttft_ms"] for r in ok],
                               [t["ttft_ms"] for t in served])
    assert min(r["metrics"]["ttft_ms"] for r in ok) >= 25  # the injected latency
    # the reported percentiles are those of the recorded rows
    checks = _checks(item)
    latencies = [r["metrics"]["latency_ms"] for r in ok]
    for q in (50, 95, 99):
        assert checks[("latency_ms", f"p{q}")]["value"] == pytest.approx(
            np.percentile(latencies, q))
    assert checks[("ttft_ms", "p95")]["value"] == pytest.approx(
        np.percentile([r["metrics"]["ttft_ms"] for r in ok], 95))
    # throughput: answers over the run's wall time, from the rows' own clocks
    window = max(r["details"]["t_end_s"] for r in rows) - min(r["details"]["t_start_s"]
                                                              for r in rows)
    assert aggregates["requests_per_s"]["value"] == pytest.approx(len(ok) / window)
    for r in ok:  # tokens from the stream's usage chunk, speed over the generation time
        m = r["metrics"]
        assert m["completion_tokens"] >= 1
        gen_s = (m["latency_ms"] - m["ttft_ms"]) / 1000
        assert m["output_tokens_per_s"] == pytest.approx(m["completion_tokens"] / gen_s)
    # the ordinary reports render the run
    junit = ET.parse(project.path / "junit.xml").getroot()
    assert junit.find(".//testcase") is not None
    comment = (project.path / "comment.md").read_text("utf-8")
    assert "requests\\_per\\_s" in comment and "latency\\_ms" in comment
    assert "ttft_ms" in (project.path / "report.html").read_text("utf-8")
    assert FAKE_KEY not in (project.path / ".llmgate/results.json").read_text("utf-8")


def test_a_planted_slowdown_fails_the_gate(project: pytest.Pytester, llm: LLMServer) -> None:
    metrics = "    latency_ms: {aggregate: p95, max: 1500}\n    ttft_ms: {aggregate: p50, max: 1500}\n"
    load = "  rate: 8\n  duration_s: 1\n  max_requests: 20\n  timeout_s: 20\n"
    suite(project, load=load, metrics=metrics)
    llm.configure(latency_ms=5)
    _run(project).assert_outcomes(passed=1)
    fast = _checks(_item(project))
    llm.reset_counters()
    llm.configure(latency_ms=2500)  # the deployment got slow
    result = _run(project)
    result.assert_outcomes(failed=1)
    slow = _checks(_item(project))
    assert slow[("latency_ms", "p95")]["verdict"] == "fail"
    assert slow[("ttft_ms", "p50")]["verdict"] == "fail"
    assert slow[("latency_ms", "p95")]["value"] >= 2500 > fast[("latency_ms", "p95")]["value"]
    result.stdout.fnmatch_lines(["*latency_ms*p95*<= 1500*FAIL*"])


def test_concurrency_schedule_is_bounded_by_count(project: pytest.Pytester,
                                                   llm: LLMServer) -> None:
    load = ("  concurrency: 3\n  ramp_s: 0.2\n  duration_s: 60\n  max_requests: 12\n"
            "  stream: false\n")
    suite(project, load=load, metrics="    latency_ms: {aggregate: p50, max: 20000}\n")
    llm.configure(latency_ms=10)
    _run(project).assert_outcomes(passed=1)
    rows = _item(project)["rows"]
    assert len(rows) == llm.requests == 12
    assert [r["id"] for r in rows] == [f"{PROMPTS[n % 3]['id']}#{n}" for n in range(12)]
    assert all("ttft_ms" not in r["metrics"] for r in rows)  # not streamed
    assert not any(t["stream"] for t in llm.timings)


def test_server_errors_are_error_rows_and_gated(project: pytest.Pytester,
                                                 llm: LLMServer) -> None:
    llm.configure(error_rate_500=0.3, retry_after=0)
    result = _run(project)
    result.assert_outcomes(failed=1)
    item = _item(project)
    errored = [r for r in item["rows"] if r.get("errors")]
    assert len(errored) == llm.faults["500"] > 0
    assert all("HTTP 500" in r["errors"][0] for r in errored)
    assert item["aggregates"]["error_rate"]["value"] == llm.faults["500"] / llm.requests
    assert _checks(item)[("error_rate", "rate")]["verdict"] == "fail"
    # a budget for them passes the same run's numbers
    suite(project, max_error_rate=0.9)
    llm.reset_counters()
    _run(project).assert_outcomes(passed=1)


def test_a_hanging_deployment_is_bounded_by_timeout(project: pytest.Pytester,
                                                     llm: LLMServer) -> None:
    load = "  rate: 6\n  duration_s: 1\n  max_requests: 6\n  timeout_s: 0.5\n"
    suite(project, load=load, metrics="    latency_ms: {aggregate: p50, max: 20000}\n",
          max_error_rate=1)
    llm.configure(timeout_rate=1.0, hang_s=30)
    _run(project).assert_outcomes(failed=1)  # no latency to gate: fails closed
    item = _item(project)
    assert len(item["rows"]) == llm.requests == 6
    assert all("no answer within timeout_s 0.5" in r["errors"][0] for r in item["rows"])
    assert _checks(item)[("latency_ms", "p50")]["verdict"] == "error"
    assert item["duration_s"] < 25  # well under the server's 30 s hang: the bound held


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("  duration_s: 1\n", "load needs exactly one of rate: (requests/s) or concurrency:"),
        ("  rate: 5\n  concurrency: 2\n  duration_s: 1\n", "load needs exactly one of rate"),
        ("  rate: 5\n", "load needs duration_s:"),
        ("  rate: -1\n  duration_s: 1\n", "load.rate: rate must be > 0, not -1"),
        ("  concurrency: 1.5\n  duration_s: 1\n",
         "load.concurrency: concurrency must be an integer, not 1.5"),
        ("  rate: 5\n  duration_s: 1\n  retries: 3\n", "load.retries: unknown load setting"),
        ("  rate: 5\n  duration_s: 1\n  stream: maybe\n", "load.stream: stream must be true or"),
    ],
)
def test_bad_load_settings_are_one_line(project: pytest.Pytester, load: str,
                                        message: str) -> None:
    suite(project, load=load)
    result = _run(project)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*suites/load.yaml:*{message}*"])
    assert "Traceback" not in result.stdout.str()


def test_evaluators_in_a_load_suite_are_refused(project: pytest.Pytester) -> None:
    text = (project.path / "suites/load.yaml").read_text("utf-8")
    _write(project.path, "suites/load.yaml", text + "evaluators:\n  - length\n")
    result = _run(project)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*suites/load.yaml:*a load suite runs no evaluators*"])


def test_a_missing_key_skips_with_the_reason(project: pytest.Pytester, llm: LLMServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMGATE_DEPLOY_KEY")
    result = _run(project, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*LLMGATE_DEPLOY_KEY*"])
    assert llm.requests == 0
