"""`llmgate noise` reports the minimum detectable effect of a paired test between two runs."""

from __future__ import annotations

import random

import pytest

from pytest_llmgate.cli.noise import render_noise
from pytest_llmgate.results.model import ItemResult, RowResult, RunResult
from pytest_llmgate.stats import paired_mde
from pytest_llmgate.verdict.noise import noise_floor


def _run(scores: list[float]) -> RunResult:
    rows = tuple(
        RowResult(id=f"r{i}", line=i + 1, data={}, inputs={}, output="o",
                  metrics={"groundedness": s})
        for i, s in enumerate(scores)
    )
    mean = sum(scores) / len(scores)
    item = ItemResult(nodeid="s.yaml::a[v-d]", suite="s", subject="a", variant="v", dataset="d",
                      verdict="passed", rows=rows, aggregates={"groundedness": {"mean": mean}})
    return RunResult(items=(item,))


def test_noise_floor_reports_the_mde_between_runs() -> None:
    rng = random.Random(2)
    truth = [float(rng.choice([3, 4, 5])) for _ in range(40)]
    runs = [[min(5.0, max(1.0, round(t + rng.gauss(0, 0.8)))) for t in truth] for _ in range(3)]
    (row,) = noise_floor([_run(r) for r in runs])
    first = paired_mde([b - a for a, b in zip(runs[0], runs[1], strict=True)])
    second = paired_mde([b - a for a, b in zip(runs[1], runs[2], strict=True)])
    assert row.mde == pytest.approx((first + second) / 2)  # type: ignore[operator]
    assert 0.3 < row.mde < 0.7  # type: ignore[operator]
    shown = render_noise([row])
    assert "MDE (drop caught 80% at p<0.05)" in shown
    assert f"{row.mde:.3g}" in shown


def test_one_run_or_rowless_runs_have_no_mde() -> None:
    (row,) = noise_floor([_run([4.0, 3.0, 5.0, 4.0, 4.0, 3.0])])
    assert row.mde is None
    assert render_noise([row]).splitlines()[-1].rstrip().endswith("-")
