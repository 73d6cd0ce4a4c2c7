"""Noise floor: run the same suites K times and measure run-to-run spread per metric.

`llmgate noise -k 5 suites/rag.yaml` re-runs the gate with the call cache off (so every run
samples the models afresh) and reports, per item and metric, the spread of the item mean across
runs, and the minimum detectable effect (MDE) of the paired regression test between two runs: the
smallest drop of the mean it flags in 80% of runs at the 0.05 level, at this golden set's size and
the observed row-to-row noise. Set thresholds and regression limits above that spread, or the gate
flips on unchanged code; a regression you need to catch that is below the MDE needs more rows.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_llmgate.results.model import RowResult, RunResult, load_results

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
    mde: float | None = None  # paired test between two runs: alpha 0.05, power 0.8

    @property
    def spread(self) -> float:
        return self.high - self.low


def noise_floor(runs: Sequence[RunResult]) -> list[NoiseRow]:
    """Per (item, metric): the spread of the item's mean over repeated runs of unchanged code, and
    the minimum detectable effect of a paired regression test between two such runs (the mean
    over consecutive pairs of runs)."""
    values: dict[tuple[str, str], list[float]] = {}
    row_means: dict[tuple[str, str], list[dict[str, float]]] = {}
    for run in runs:
        for item in run.items:
            for metric, aggs in item.aggregates.items():
                if "mean" in aggs:
                    values.setdefault((item.nodeid, metric), []).append(aggs["mean"])
                    row_means.setdefault((item.nodeid, metric), []).append(
                        _per_row(item.rows, metric)
                    )
    rows = []
    for (nodeid, metric), series in values.items():
        mean = math.fsum(series) / len(series)
        std = (
            math.sqrt(math.fsum((v - mean) ** 2 for v in series) / (len(series) - 1))
            if len(series) > 1
            else 0.0
        )
        rows.append(
            NoiseRow(
                nodeid,
                metric,
                len(series),
                mean,
                std,
                min(series),
                max(series),
                _mde(row_means[(nodeid, metric)]),
            )
        )
    return rows


def _per_row(rows: Sequence[RowResult], metric: str) -> dict[str, float]:
    """A run's value of `metric` per golden row (repeats averaged)."""
    found: dict[str, list[float]] = {}
    for row in rows:
        if metric in row.metrics:
            found.setdefault(row.id, []).append(row.metrics[metric])
    return {k: math.fsum(v) / len(v) for k, v in found.items()}


def _mde(per_run: Sequence[Mapping[str, float]]) -> float | None:
    """Mean paired MDE over consecutive pairs of runs (None without two runs sharing rows)."""
    from pytest_llmgate.verdict.stats import paired_mde

    found = []
    for before, after in itertools.pairwise(per_run):
        pairs = [(before[k], after[k]) for k in after if k in before]
        binary = all(v in (0.0, 1.0) for pair in pairs for v in pair)
        mde = paired_mde([a - b for b, a in pairs], binary=binary)
        if mde is not None:
            found.append(mde)
    return math.fsum(found) / len(found) if found else None


def render_noise(rows: Sequence[NoiseRow], *, skip: Sequence[str] = ("latency_ms",)) -> str:
    from pytest_llmgate.reporting.text import format_value, table

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
