"""Noise floor: run the same suites K times and measure run-to-run spread per metric.

`llmgate noise -k 5 suites/rag.yaml` re-runs the gate with the call cache off (so every run
samples the models afresh) and reports, per item and metric, the spread of the item mean across
runs. Set thresholds and regression limits above that spread, or the gate flips on unchanged code.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_llmgate.results import RunResult, load_results

__all__ = ["NoiseRow", "measure", "noise_floor", "render_noise"]


@dataclass(frozen=True)
class NoiseRow:
    nodeid: str
    metric: str
    runs: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def spread(self) -> float:
        return self.high - self.low


def noise_floor(runs: Sequence[RunResult]) -> list[NoiseRow]:
    """Per (item, metric): the spread of the item's mean over repeated runs of unchanged code."""
    values: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        for item in run.items:
            for metric, aggs in item.aggregates.items():
                if "mean" in aggs:
                    values.setdefault((item.nodeid, metric), []).append(aggs["mean"])
    rows = []
    for (nodeid, metric), series in values.items():
        mean = math.fsum(series) / len(series)
        std = (
            math.sqrt(math.fsum((v - mean) ** 2 for v in series) / (len(series) - 1))
            if len(series) > 1
            else 0.0
        )
        rows.append(NoiseRow(nodeid, metric, len(series), mean, std, min(series), max(series)))
    return rows


def render_noise(rows: Sequence[NoiseRow], *, skip: Sequence[str] = ("latency_ms",)) -> str:
    from pytest_llmgate.reporting.text import format_value, table

    body = [
        [r.nodeid, r.metric, r.runs, format_value(r.mean), f"{r.std:.3g}", f"{r.spread:.3g}"]
        for r in rows
        if r.metric not in skip
    ]
    return table(["item", "metric", "runs", "mean", "std across runs", "max - min"], body)


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
