"""The load suite through Locust's distributed mode: one master and two workers on loopback
(separate processes, installed from PyPI), bounded, against the test server with injected 429s.
The gate ingests Locust's CSV statistics and the workers' records into the same verdict, and
refuses a run whose records and Locust's counts disagree."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from pytest_llmgate.errors import GateError
from pytest_llmgate.testing import LLMServer
from tests.integration import test_load_gate as gate
from tests.integration.test_load_gate import _item, _run, suite

pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                                reason="locust not installed: pip install locust")

project = gate.project  # the same project fixture: a load suite on the test server

LOCUST = ("  rate: 20\n  ramp_s: 0.5\n  duration_s: 2\n  max_requests: 30\n  timeout_s: 10\n"
          "  engine: locust\n  workers: 2\n  users: 4\n")


def test_locust_run_lands_in_the_same_verdict(project: pytest.Pytester, llm: LLMServer) -> None:
    suite(project, load=LOCUST, metrics=(
        "    latency_ms: {aggregate: p95, max: 20000}\n    ttft_ms: {aggregate: p50, max: 20000}\n"
        "    rate_limited_rate: {max: 0.9}\n    requests_per_s: {min: 0.01}\n"))
    llm.configure(latency_ms=10, error_rate_429=0.3, retry_after=0)
    _run(project, "--llm-gate-md", "comment.md").assert_outcomes(passed=1)
    item = _item(project)
    rows = item["rows"]
    assert 0 < len(rows) == llm.requests <= 30  # bounded by max_requests across both workers
    limited = [r for r in rows if r["metrics"]["rate_limited"] == 1]
    assert len(limited) == llm.faults["429"]
    aggregates = item["aggregates"]
    assert aggregates["rate_limited_rate"]["value"] == pytest.approx(len(limited) / len(rows))
    assert aggregates["requests"]["value"] == len(rows)
    assert "locust_latency_ms_p50" in aggregates  # Locust's own percentiles, recorded
    assert all("ttft_ms" in r["metrics"] for r in rows if r not in limited)
    assert {r["id"].split("#")[0] for r in rows} <= {"refunds", "renewal", "export"}
    assert "rate\\_limited\\_rate" in (project.path / "comment.md").read_text("utf-8")


def _stats(path: Path, sent: int, failed: int, limited: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["Type", "Name", "Request Count", "Failure Count", "Requests/s",
                      "Failures/s", "50%", "95%", "99%"])
        out.writerow(["LLM", "latency", sent, failed, 2.0, 0.0, 100, 200, 300])
        out.writerow(["LLM", "rate_limited", limited, 0, 1.0, 0.0, 5, 5, 5])


def test_lost_records_fail_instead_of_passing(tmp_path: Path) -> None:
    from pytest_llmgate.config.datasets import Row
    from pytest_llmgate.load.locust import read_locust_stats, rows_from_locust

    records = tmp_path / "records"
    records.mkdir()
    line = {"row": 0, "start": 1.0, "end": 1.1, "kind": "ok", "status": 200,
            "latency_ms": 100.0, "ttft_ms": 40.0, "prompt_tokens": 5, "completion_tokens": 9}
    (records / "worker-1.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    rows = [Row(id="a", line=1, data={})]
    _stats(tmp_path / "s.csv", sent=1, failed=0, limited=0)
    got = rows_from_locust(records, read_locust_stats(tmp_path / "s.csv"), rows)
    assert len(got) == 1 and got.item_metrics["requests_per_s"] == 2.0
    assert got.item_metrics["locust_latency_ms_p95"] == 200
    _stats(tmp_path / "s.csv", sent=2, failed=0, limited=0)  # Locust saw one more request
    with pytest.raises(GateError, match="records were lost, so the run cannot be gated"):
        rows_from_locust(records, read_locust_stats(tmp_path / "s.csv"), rows)
    with pytest.raises(GateError, match="locust wrote no statistics"):
        read_locust_stats(tmp_path / "missing.csv")
