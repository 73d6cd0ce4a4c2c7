"""Noise floor: the run-to-run spread per metric of the same suites run K times.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_llmgate.results.model import RowResult, RunResult

__all__ = ["NoiseRow", "noise_floor"]


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
    from pytest_llmgate.stats import paired_mde

    found = []
    for before, after in itertools.pairwise(per_run):
        pairs = [(before[k], after[k]) for k in after if k in before]
        binary = all(v in (0.0, 1.0) for pair in pairs for v in pair)
        mde = paired_mde([a - b for b, a in pairs], binary=binary)
        if mde is not None:
            found.append(mde)
    return math.fsum(found) / len(found) if found else None
