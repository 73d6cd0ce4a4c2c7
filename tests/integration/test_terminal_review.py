"""The terminal as a reviewer sees it: live progress under a real pseudo-terminal, nothing when
off, the A/B verdict on request, and a hint for suite files passed without --llm-gate."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SLOW_APP = """
import time


def answer(question, context, strategy="overlap"):
    time.sleep(0.05)
    return context.split(".")[0] + "."
"""


def _run_in_pty(args: list[str], cwd: Path, timeout: float = 120) -> str:
    """Run a command with its stdout/stderr on a pty (isatty() is true) and return the output."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), *sys.path])
    env["COLUMNS"] = "120"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # EIO: the child closed the pty
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", *args]


def test_progress_shows_rows_rate_errors_and_cache_hits_on_a_tty(project: Any) -> None:
    project.write("demo_app.py", SLOW_APP)
    out = _run_in_pty(_pytest("--llm-gate", "suites/support.yaml"), project.path)
    assert "answer[overlap-qa]: rows 4/4, 0 errors, 0 cache hits, " in out, out
    assert " rows/s in " in out
    assert "answer[first-qa]: rows 4/4" in out
    assert "\r" in out  # redrawn in place while it runs
    quiet = _run_in_pty(_pytest("--llm-gate", "--llm-gate-progress", "off", "suites/"),
                        project.path)
    assert "rows 4/4" not in quiet
    assert "llm-gate: PASSED" in quiet or "llm-gate: FAILED" in quiet


def test_progress_on_writes_lines_to_a_pipe(project: Any) -> None:
    result = project.pytester.runpytest_subprocess("--llm-gate", "-p", "no:xdist",
                                                   "--llm-gate-progress", "on")
    lines = [x for x in result.outlines if "rows 4/4" in x]
    assert len(lines) == 2, result.stdout.str()
    auto = project.pytester.runpytest_subprocess("--llm-gate", "-p", "no:xdist")
    assert not [x for x in auto.outlines if "rows 4/4" in x]  # not a tty: off by default


def test_compare_variants_prints_the_ab_verdict(project: Any) -> None:
    project.write("thresholds.yaml", "metrics:\n  word_overlap: {min: 0.1}\n")
    result = project.pytester.runpytest("--llm-gate", "-p", "no:xdist",
                                        "--llm-gate-compare-variants")
    text = result.stdout.str()
    assert "llm-gate variants demo" not in text
    line = next(x for x in result.outlines if x.startswith("llm-gate variants support: answer"))
    assert "(first vs overlap)" in line or "(overlap vs first)" in line
    header = next(x for x in result.outlines if x.startswith("metric "))
    assert "95% interval" in header
    assert any(x.startswith("word_overlap ") and ("first - overlap" in x or "overlap - first" in x)
               for x in result.outlines)
    assert all(len(x) <= 120 for x in result.outlines if "variants" in x)
    plain = project.pytester.runpytest("--llm-gate", "-p", "no:xdist")
    assert "llm-gate variants" not in plain.stdout.str()


@pytest.mark.parametrize("target", ["suites/", "suites/support.yaml"])
def test_suite_files_without_the_switch_get_a_hint(project: Any, target: str) -> None:
    result = project.pytester.runpytest(target)
    text = result.stdout.str()
    hints = [x for x in result.outlines if "--llm-gate" in x and "suite" in x]
    assert len(hints) == 1, text
    assert "pytest " in hints[0]
    assert result.ret != 0 or "collected 0 items" in text


HOSTILE_APP = '''
def answer(question, context, strategy="overlap"):
    return "\\x1b[2J\\x1b[H\\x1b]0;owned\\x07 cleared"
'''


def test_control_characters_from_model_output_never_reach_the_terminal(project: Any) -> None:
    project.write("demo_app.py", HOSTILE_APP)
    result = project.pytester.runpytest_subprocess("--llm-gate", "-p", "no:xdist",
                                                   "--llm-gate-csv", "rows.csv")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str() + result.stderr.str()
    assert "output:   \\x1b[2J\\x1b[H\\x1b]0;owned\\x07 cleared" in out  # shown, escaped
    assert "\x1b" not in out
    assert "\x07" not in out
    csv_text = (project.path / "rows.csv").read_text("utf-8")
    assert "\x1b" not in csv_text
