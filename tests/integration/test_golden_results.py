"""The example project's results JSON, minus what varies run to run (timings, paths, versions),
equals a committed golden file.

It pins behaviour across refactors: moving code must not change a score, a check, a verdict or a
field. A deliberate change of the results regenerates the file:

    LLMGATE_UPDATE_GOLDEN=1 python -m pytest tests/integration/test_golden_results.py

and the diff of `tests/golden/example_results.json` shows the reviewer what changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "example_results.json"
PROJECT = ("suites", "golden_datasets", "app", "evaluators", "prompts", "thresholds.yaml")
RUN_KEYS_THAT_VARY = {"started_at", "finished_at", "rootdir", "git", "versions", "args"}

pytestmark = pytest.mark.slow


def _timing(key: str) -> bool:
    return "latency" in key or "duration" in key or key.endswith(("_ms", "_s"))


def stable(value: Any) -> Any:
    """`value` without timings (any `*latency*`, `*duration*`, `*_ms`, `*_s` key, and checks and
    aggregates of `latency_ms`): the only fields that differ between two runs of the same code."""
    if isinstance(value, dict):
        return {
            k: stable(v) for k, v in value.items()
            if not _timing(k) and not (k == "metric" and v == "latency_ms")
        }
    if isinstance(value, list):
        kept = [v for v in value if not (isinstance(v, dict) and v.get("metric") == "latency_ms")]
        return [stable(v) for v in kept]
    return value


def example_results(workdir: Path) -> dict[str, Any]:
    """`pytest suites/ --llm-gate` on a copy of the example project, offline, cache off."""
    for name in PROJECT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, workdir / name)
    (workdir / "pytest.ini").write_text("[pytest]\npythonpath = .\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "AZURE_", "LLMGATE_")) and k != "CI"}
    env["LLMGATE_CACHE"] = "off"
    out = workdir / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "--llm-gate", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", "--llm-gate-json", str(out)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    data["run"] = {k: v for k, v in data["run"].items() if k not in RUN_KEYS_THAT_VARY}
    return stable(data)


def test_example_results_equal_the_golden_file(tmp_path: Path) -> None:
    got = example_results(tmp_path)
    if os.environ.get("LLMGATE_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert got == golden


def test_stable_drops_timings_only() -> None:
    run = {"items": [{"duration_s": 1.0, "verdict": "passed", "checks": [
        {"metric": "latency_ms", "value": 5.0}, {"metric": "f1_score", "value": 0.5}],
        "rows": [{"latency_ms": 3.0, "metrics": {"latency_ms": 3.0, "f1_score": 0.5},
                  "details": {"tool_calls": [{"name": "x", "latency_ms": 1.0}]}}]}]}
    assert stable(run) == {"items": [{"verdict": "passed", "checks": [
        {"metric": "f1_score", "value": 0.5}],
        "rows": [{"metrics": {"f1_score": 0.5}, "details": {"tool_calls": [{"name": "x"}]}}]}]}
