"""Streamed rows (`--llm-gate-stream-rows`): the rows go to `<results>.rows.jsonl.gz` instead of
memory, and nothing a user sees changes: the example suites give the same results JSON (timings
aside), Markdown and terminal summary as the in-memory path; baselines, diff and merge read the
companion file; a run whose companion is missing, cut short or unsealed is incomplete and never a
baseline."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.cli.main import main
from pytest_llmgate.results.io import load_results
from pytest_llmgate.results.storedrows import StoredRows
from pytest_llmgate.testing import LLMServer
from tests.conftest import Project
from tests.integration.test_faults import SUITE, write_project
from tests.integration.test_interrupt import gate_env, interrupt_midway

REPO = Path(__file__).resolve().parents[2]
# timings, where rows are stored, and the commit (a test run may see it move)
TIMING_KEYS = {"duration_s", "started_at", "finished_at", "args", "rows_file", "rows_stored", "git"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_OPENAI", "OPENAI_", "LLMGATE_", "PYTEST_XDIST"))
           and k not in ("CI", "GITHUB_STEP_SUMMARY")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _timeless(value: Any) -> Any:
    """A results document without what differs between two identical runs: timings (keys, and
    checks/aggregates of latency metrics), where rows are stored."""
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            if key in TIMING_KEYS or "latency" in key:
                continue
            if isinstance(inner, dict) and "latency" in str(inner.get("metric", "")):
                continue
            out[key] = _timeless(inner)
        return out
    if isinstance(value, list):
        return [_timeless(v) for v in value if not (
            isinstance(v, dict) and "latency" in str(v.get("metric", "")))]
    return value


def _document(path: Path) -> dict[str, Any]:
    """The results as one document with every item's rows inline, however they were stored."""
    run = load_results(path)
    assert not run.incomplete, run.warnings
    data = run.to_dict()
    data.pop("rows_file", None)
    for item, raw in zip(run.items, data["items"], strict=True):
        raw.pop("rows_stored", None)
        raw["rows"] = [r.to_dict() for r in item.rows]
    return data


# The problems table exists or not by whether a latency rule was near its bound in that run: its
# header and the no-problems line are timing; every problem row is compared (latency rows aside).
_PROBLEMS_FRAME = ("No breaches and no regressions.", "|  | item | metric | value |", "|---|---|---|",
                   "breaches and regressions:")


def _timeless_text(text: str) -> list[str]:
    kept = []
    for line in text.splitlines():
        if line.startswith(_PROBLEMS_FRAME) or not line.strip():
            continue
        if "**A/B**" in line:  # which variant was faster is timing; the rest of the line is not
            line = re.sub(r"(; )?\*\*[^*]+\*\* best on latency\\_ms(?=;|$)", "", line)
            line = re.sub(r"latency\\_ms, |(, )?latency\\_ms", "", line).replace(": ; ", ": ")
        if "latency" not in line and not re.search(r"\bin [\d.]+s\b", line):
            # table columns are as wide as their widest cell, a timing's too: widths are timing
            # (the rule under a table's header included)
            kept.append(re.sub(r"-{2,}", "--", re.sub(r" {2,}", "  ", line)))
    return kept


@pytest.mark.slow
def test_example_suites_streamed_equal_in_memory(tmp_path: Path) -> None:
    """`pytest suites/ --llm-gate` with every item streamed (in one process, and by two xdist
    workers whose rows files the controller folds into one) and with none: the same aggregates,
    intervals, checks, verdicts, rows, Markdown and terminal summary."""
    outs = {}
    for mode, stream, workers in (
        ("memory", "off", "0"), ("streamed", "1", "0"), ("xdist", "1", "2")
    ):
        out = tmp_path / mode
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "suites/", "--llm-gate", "-p", "no:cacheprovider",
             "-p", "no:randomly", "-n", workers, "--llm-gate-stream-rows", stream,
             "--llm-gate-cache-dir", str(tmp_path / "cache" / mode),
             "--llm-gate-json", str(out / "results.json"), "--llm-gate-md", str(out / "r.md")],
            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        outs[mode] = (out, proc.stdout)
    memory = outs["memory"][0]
    in_memory = json.loads((memory / "results.json").read_text("utf-8"))
    assert "rows_file" not in in_memory and not (memory / "results.rows.jsonl.gz").exists()
    assert all(i["rows"] for i in in_memory["items"] if i["verdict"] != "skipped")
    summary = {mode: stdout[stdout.index("= llm-gate ="):] for mode, (_, stdout) in outs.items()}
    for mode in ("streamed", "xdist"):
        streamed = outs[mode][0]
        raw = json.loads((streamed / "results.json").read_text("utf-8"))
        ran = [i for i in raw["items"] if i["verdict"] != "skipped"]
        assert ran, "the example suites ran nothing"
        assert all(i["rows"] == [] and i["rows_stored"]["rows"] > 0 for i in ran)
        assert raw["rows_file"]["name"] == "results.rows.jsonl.gz"
        # one rows file: the workers' own files were folded into it and removed
        assert sorted(p.name for p in streamed.iterdir()) == [
            "r.md", "results.json", "results.rows.jsonl.gz"]

        assert _timeless(_document(streamed / "results.json")) == _timeless(
            _document(memory / "results.json")), mode
        assert _timeless_text((streamed / "r.md").read_text("utf-8")) == _timeless_text(
            (memory / "r.md").read_text("utf-8")), mode
        assert _timeless_text(summary[mode].replace(str(streamed), "")) == _timeless_text(
            summary["memory"].replace(str(memory), "")), mode


def _stream(project: Project, *args: str) -> pytest.RunResult:
    return project.pytester.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "--llm-gate-stream-rows", "1", *args)


def test_paired_baseline_diff_and_report_read_the_companion(
    project: Project, capsys: pytest.CaptureFixture[str],
) -> None:
    """A streamed run against a streamed baseline decides the same regression checks (paired by
    row id) as the in-memory path; `llmgate baseline`, `diff` and `report` read the rows."""
    root = project.path
    project.write("thresholds.yaml", "metrics:\n  word_overlap: {min: 0.2}\nregression:\n"
                  "  word_overlap: {max_drop: 0.05}\n  length_chars: {max_rise_pct: 5}\n")
    _stream(project, "--llm-gate-json", "base.json").assert_outcomes(passed=2)
    assert main(["baseline", str(root / "base.json"), "-o", str(root / "saved.json")]) == 0
    saved = load_results(root / "saved.json")  # the baseline carries its own copy of the rows
    assert (root / "saved.rows.jsonl.gz").is_file()
    assert all(isinstance(i.rows, StoredRows) and i.rows.path.name == "saved.rows.jsonl.gz"
               for i in saved.items)
    # the head changes one row's answer: the paired test sees that row move
    data = (root / "golden_datasets/qa.jsonl").read_text("utf-8")
    project.write("demo_app.py", (root / "demo_app.py").read_text("utf-8").replace(
        '    if strategy == "first":', '    if "refund" in question.lower():\n'
        '        return "Ask support."\n    if strategy == "first":'))
    assert (root / "golden_datasets/qa.jsonl").read_text("utf-8") == data
    checks = {}
    for mode, stream in (("streamed", "1"), ("memory", "off")):
        project.pytester.runpytest_subprocess(
            "--llm-gate", "-p", "no:xdist", "--llm-gate-stream-rows", stream,
            "--llm-gate-baseline", "saved.json", "--llm-gate-json", f"{mode}.json")
        run = load_results(root / f"{mode}.json")
        checks[mode] = [(i.nodeid, i.verdict, [c for c in i.checks if "latency" not in c.metric])
                        for i in run.items]
        assert any(c.kind == "regression" for _, _, cs in checks[mode] for c in cs)
    assert checks["streamed"] == checks["memory"]
    assert isinstance(load_results(root / "streamed.json").items[0].rows, StoredRows)
    capsys.readouterr()
    assert main(["diff", str(root / "saved.json"), str(root / "streamed.json"), "--all"]) == 0
    streamed_diff = capsys.readouterr().out
    assert main(["diff", str(root / "saved.json"), str(root / "memory.json"), "--all"]) == 0
    memory_diff = capsys.readouterr().out
    assert _timeless_text(streamed_diff) == _timeless_text(memory_diff)
    assert "word_overlap" in streamed_diff
    assert main(["report", str(root / "streamed.json"), "--md", str(root / "s.md"),
                 "--html", str(root / "s.html")]) == 0
    assert "Ask support." in (root / "s.html").read_text("utf-8")  # the drill-down's rows


def test_streamed_results_and_rows_file_match_the_schema(project: Project) -> None:
    import jsonschema

    schema = json.loads((REPO / "pytest_llmgate/config/schema/results.schema.json").read_text("utf-8"))
    root = project.path
    _stream(project, "--llm-gate-json", "r.json", "--llm-gate-repeat", "2")
    data = json.loads((root / "r.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["rows_file"] == {"name": "r.rows.jsonl.gz", "format": "pytest-llmgate/rows",
                                 "rows": 16}
    line_schema = {"$defs": schema["$defs"], "$ref": "#/$defs/rows_file_line"}
    lines = gzip.decompress((root / "r.rows.jsonl.gz").read_bytes()).splitlines()
    for line in lines:
        jsonschema.Draft202012Validator(line_schema).validate(json.loads(line))
    assert json.loads(lines[-1]) == {"end": True, "rows": 16}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"end": True}, line_schema)
    with pytest.raises(jsonschema.ValidationError):  # a row must say which item it belongs to
        jsonschema.validate(json.loads(lines[1]) | {"item": ""}, line_schema)
    # the next run keeps its rows inline: the old rows file does not stay behind to mislead
    project.pytester.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "--llm-gate-stream-rows",
                                          "off", "--llm-gate-json", "r.json")
    assert not (root / "r.rows.jsonl.gz").exists()
    assert all(isinstance(i.rows, tuple) and i.rows for i in load_results(root / "r.json").items)


@pytest.mark.parametrize("damage", ["missing", "cut", "unsealed", "a row lost"])
def test_a_damaged_companion_is_incomplete_and_never_a_baseline(
    project: Project, damage: str, capsys: pytest.CaptureFixture[str],
) -> None:
    root = project.path
    _stream(project, "--llm-gate-json", "r.json").assert_outcomes(passed=1, failed=1)
    companion = root / "r.rows.jsonl.gz"
    lines = gzip.decompress(companion.read_bytes()).splitlines(keepends=True)
    if damage == "missing":
        companion.unlink()
        why = "its rows file r.rows.jsonl.gz is missing"
    elif damage == "cut":
        companion.write_bytes(companion.read_bytes()[:-40])
        why = "its rows file r.rows.jsonl.gz is cut short"
    elif damage == "unsealed":
        companion.write_bytes(gzip.compress(b"".join(lines[:-1])))
        why = "has no end-of-rows trailer (the run did not finish)"
    else:
        companion.write_bytes(gzip.compress(b"".join(lines[:3] + lines[4:])))
        why = "holds 7 rows, its trailer says 8"
    run = load_results(root / "r.json")
    assert run.incomplete
    assert any(why in w for w in run.warnings), run.warnings
    assert main(["baseline", str(root / "r.json"), "-o", str(root / "b.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "not usable as a baseline: it comes from an incomplete run" in err and why in err
    assert not (root / "b.json").exists()
    result = project.pytester.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "--llm-gate-baseline", "r.json",
        "--llm-gate-json", "next.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, result.errlines
    assert "--llm-gate-baseline" in errors[0] and why in errors[0], errors


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_streamed_run_is_incomplete(
    pytester: pytest.Pytester, llm: LLMServer, llm_env: dict[str, str], signum: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Stopped in its second item: the finished item's rows are readable from the companion,
    the run is incomplete, and neither `llmgate baseline` nor `--llm-gate-baseline` takes it."""
    root = pytester.path
    rows = 12
    write_project(root, llm.base_url, rows, SUITE)
    env = gate_env(llm_env)
    returncode, out = interrupt_midway(root, env, llm, rows, signum, "--llm-gate-stream-rows", "1")
    assert returncode == pytest.ExitCode.INTERRUPTED, out
    assert "Traceback" not in out, out
    assert "llm-gate: INCOMPLETE" in out, out
    results = root / ".llmgate/results.json"
    run = load_results(results)
    assert run.incomplete
    done = [i for i in run.items if i.rows]
    assert done, "the finished item's rows are kept"
    assert all(isinstance(i.rows, StoredRows) for i in done)
    assert all(len(list(i.rows)) == len(i.rows) == rows for i in done)
    assert main(["baseline", str(results), "-o", str(root / "b.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not usable as a baseline" in err, err
    proc2 = subprocess.run(
        [sys.executable, "-m", "pytest", "--llm-gate", "--llm-gate-baseline", str(results)],
        cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc2.returncode == pytest.ExitCode.USAGE_ERROR, proc2.stdout + proc2.stderr
    assert "not usable as a baseline" in proc2.stderr


def test_streamed_shards_merge_into_the_unsharded_run(
    project: Project, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shards that streamed their rows (slices of the big items, whole small items) merge into
    the unsharded in-memory run; the merged file carries its own rows file for every item."""
    from tests.integration.test_sharding import SUITE as SHARD_SUITE
    from tests.integration.test_sharding import THRESHOLDS as SHARD_THRESHOLDS
    from tests.integration.test_sharding import big_rows
    from tests.integration.test_xdist import decided

    monkeypatch.setenv("LLMGATE_SHARD_SPLIT_ROWS", "10")
    project.write("suites/support.yaml", SHARD_SUITE)
    project.write("thresholds.yaml", SHARD_THRESHOLDS)
    project.rows(big_rows(37), "golden_datasets/big.jsonl")
    root = project.path
    project.pytester.runpytest("--llm-gate", "suites", "--llm-gate-stream-rows", "off",
                               "--llm-gate-json", "full.json")
    parts = []
    for index in (1, 2, 3):
        project.pytester.runpytest("--llm-gate", "suites", "--llm-gate-shard", f"{index}/3",
                                   "--llm-gate-stream-rows", "1", "--llm-gate-json", f"s{index}.json")
        data = json.loads((root / f"s{index}.json").read_text("utf-8"))
        assert all(i["rows"] == [] for i in data["items"])  # every shard streamed
        parts.append(str(root / f"s{index}.json"))
    assert main(["merge", *parts, "-o", str(root / "merged.json")]) == 0
    merged = _document(root / "merged.json")
    full = json.loads((root / "full.json").read_text("utf-8"))
    assert decided(merged) == decided(full)
    assert (root / "merged.rows.jsonl.gz").is_file()
    # split items too: their slices' rows are copied into the merged rows file, never loaded
    written = json.loads((root / "merged.json").read_text("utf-8"))
    assert all(i["rows"] == [] and i["rows_stored"]["rows"] > 0 for i in written["items"])


DAMAGE_WORKER_FILE = """
import pytest


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    # in an xdist worker, after the gate sealed its rows file and named it to the controller
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    if worker is not None:
        for path in session.config.rootpath.glob(f"*.{worker}.rows.jsonl.gz"):
            path.write_bytes(path.read_bytes()[:-30])
"""


def test_xdist_workers_stream_and_a_damaged_worker_file_is_incomplete(project: Project) -> None:
    """Under xdist each worker streams to its own rows file, which the controller folds into the
    run's companion; a worker file that is cut short makes the run incomplete (never a pass and
    never a baseline), naming the file."""
    pytest.importorskip("xdist")
    root = project.path
    result = project.pytester.runpytest_subprocess(
        "--llm-gate", "-n", "2", "--llm-gate-stream-rows", "1", "--llm-gate-json", "r.json")
    result.assert_outcomes(passed=1, failed=1)
    assert sorted(p.name for p in root.glob("r*.jsonl.gz")) == ["r.rows.jsonl.gz"]
    run = load_results(root / "r.json")
    assert not run.incomplete
    assert all(isinstance(item.rows, StoredRows) and len(item.rows) == 4 for item in run.items)
    serial = project.pytester.runpytest_subprocess(
        "--llm-gate", "-p", "no:xdist", "--llm-gate-stream-rows", "off", "--llm-gate-json", "s.json")
    serial.assert_outcomes(passed=1, failed=1)
    expected = load_results(root / "s.json")
    assert [[r.to_dict() | {"latency_ms": 0, "metrics": {k: v for k, v in r.metrics.items()
                                                          if "latency" not in k}}
             for r in item.rows] for item in run.items] == [
        [r.to_dict() | {"latency_ms": 0, "metrics": {k: v for k, v in r.metrics.items()
                                                     if "latency" not in k}}
         for r in item.rows] for item in expected.items]

    project.write("conftest.py", DAMAGE_WORKER_FILE)
    damaged = project.pytester.runpytest_subprocess(
        "--llm-gate", "-n", "2", "--llm-gate-stream-rows", "1", "--llm-gate-json", "d.json")
    assert damaged.ret != 0
    text = damaged.stdout.str()
    assert "llm-gate: INCOMPLETE: xdist worker gw" in text, text[-2000:]
    assert ".rows.jsonl.gz is cut short" in text, text[-2000:]
    run = load_results(root / "d.json")
    assert run.incomplete and run.not_a_real_run() is not None
