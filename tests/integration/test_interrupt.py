"""Ctrl-C or SIGTERM mid-run: the results gathered so far are written, marked incomplete (refused
as a baseline), the call cache stays readable, and a re-run replays the calls already made."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_llmgate.cli.main import main
from pytest_llmgate.engine.cache import ResponseCache
from pytest_llmgate.testing import LLMServer
from tests.integration.test_faults import SUITE, write_project

FOUR_VARIANTS = SUITE.replace("      b: {seed: 3}\n", "      b: {seed: 3}\n      c: {seed: 4}\n"
                              "      d: {seed: 5}\n")
ROWS = 12


def _run(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--llm-gate", "--llm-gate-concurrency", "1", *args],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def gate_env(llm_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_OPENAI", "LLMGATE_", "PYTEST_XDIST"))}
    env.update(llm_env)
    return env


def interrupt_midway(
    root: Path, env: dict[str, str], llm: LLMServer, rows: int, signum: int, *args: str
) -> tuple[int, str]:
    """Run the gate one row at a time (40 ms a call), send `signum` once the first item is done
    and the second half way: (exit status, output)."""
    llm.configure(latency_ms=40)
    proc = _run(root, env, *args)
    deadline = time.monotonic() + 60
    while llm.requests < rows + rows // 2:
        assert proc.poll() is None, proc.communicate()[0].decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signum)
    out = proc.communicate(timeout=60)[0].decode()
    return proc.returncode, out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_run_is_incomplete_and_rerun_reuses_the_cache(
    pytester: pytest.Pytester, llm: LLMServer, llm_env: dict[str, str], signum: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = pytester.path
    write_project(root, llm.base_url, ROWS, FOUR_VARIANTS)
    env = gate_env(llm_env)
    returncode, out = interrupt_midway(root, env, llm, ROWS, signum)
    assert returncode == pytest.ExitCode.INTERRUPTED, out
    # the signal may land inside any task on the gate loop (a row's, or one the HTTP client
    # started): none may be left with an exception nobody retrieved
    assert "Traceback" not in out and "Task was destroyed" not in out, out
    assert "never retrieved" not in out, out
    assert "llm-gate: INCOMPLETE: interrupted before every item ran" in out
    results = root / ".llmgate/results.json"
    data = json.loads(results.read_text("utf-8"))
    assert data["incomplete"] is True and data["verdict"] == "failed"
    assert 1 <= len(data["items"]) < 4
    made = llm.requests
    # never usable as a baseline by accident
    assert main(["baseline", str(results), "-o", str(root / "base.json")]) != 0
    assert "incomplete" in capsys.readouterr().err
    # the cache file is intact (committed batches only), and a re-run replays its entries
    cache = ResponseCache(root / ".llmgate/cache", "ro")
    entries = range(cache.entries())
    cache.close()
    assert len(entries) >= ROWS
    with contextlib.closing(sqlite3.connect(root / ".llmgate/cache/cache.sqlite3")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for (value,) in conn.execute("SELECT value FROM entries"):
            json.loads(value)
    llm.configure(latency_ms=0)
    llm.reset_counters()
    rerun = _run(root, env)
    out = rerun.communicate(timeout=120)[0].decode()
    assert rerun.returncode == 0, out
    assert llm.requests <= 4 * ROWS - len(entries)
    assert json.loads(results.read_text("utf-8"))["incomplete"] is False
    assert made >= len(entries)
