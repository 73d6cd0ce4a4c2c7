"""`llmgate noise`: run the same suites K times (call cache off) and print the spread per metric.

The statistics are `verdict.noise`; this module runs the pytest processes and prints the table.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pytest_llmgate.reporting.text import format_value, table
from pytest_llmgate.results.io import load_results
from pytest_llmgate.results.model import RunResult
from pytest_llmgate.verdict.noise import NoiseRow

__all__ = ["measure", "render_noise"]


def render_noise(rows: Sequence[NoiseRow], *, skip: Sequence[str] = ("latency_ms",)) -> str:
    body = [
        [
            r.nodeid,
            r.metric,
            r.runs,
            format_value(r.mean),
            f"{r.std:.3g}",
            f"{r.spread:.3g}",
            "-" if r.mde is None else f"{r.mde:.3g}",
        ]
        for r in rows
        if r.metric not in skip
    ]
    headers = ["item", "metric", "runs", "mean", "std across runs", "max - min"]
    return table([*headers, "MDE (drop caught 80% at p<0.05)"], body)


def measure(pytest_args: Sequence[str], runs: int, workdir: Path | None = None) -> list[RunResult]:
    """Run `pytest <args> --llm-gate` `runs` times with the cache off; return each run's results."""
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="llmgate-noise-") as tmp:
        for index in range(runs):
            out = Path(tmp) / f"run{index}.json"
            command = [
                sys.executable,
                "-m",
                "pytest",
                *pytest_args,
                "--llm-gate",
                "--llm-gate-cache",
                "off",
                "--llm-gate-json",
                str(out),
                "-q",
                "-p",
                "no:cacheprovider",
            ]
            subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
            if not out.is_file():
                raise RuntimeError(f"run {index + 1} wrote no results: {' '.join(command)}")
            results.append(load_results(out))
    return results
