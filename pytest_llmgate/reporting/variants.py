"""A/B between variants: for each pair of variants run on the same golden rows, the paired
difference of each gated metric with its 95% interval and two-sided p-value, and a "best variant"
named only where it is significantly better than every other one.

Paired over rows (repeats averaged within a row), like the baseline regression test: the rows are
the same questions, so per-row differences cancel the questions' own difficulty. A sign-flip
permutation test up to `EXACT_ROWS` rows, a paired t-test beyond (the rows' mean difference is
normal enough there, and a permutation test on 5,000 rows would cost seconds per pair). This is a
description of the run for reviewers, not a verdict: it never changes the gate's outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from pytest_llmgate.config.thresholds import HIGHER_IS_BETTER, direction_of
from pytest_llmgate.results.model import ItemResult, RowResult, RunResult
from pytest_llmgate.results.storedrows import columns_of
from pytest_llmgate.stats import mcnemar_p, mean_interval, sign_flip_p

__all__ = [
    "ALPHA",
    "Comparison",
    "VariantGroup",
    "compare_pair",
    "compare_variants",
    "comparison_text",
]

ALPHA = 0.05
EXACT_ROWS = 200
MAX_METRICS = 8  # per group: the gated metrics first
MAX_VARIANTS = 8  # pairs grow quadratically: a sweep of 600 variants compares its first 8


@dataclass(frozen=True)
class Comparison:
    """Variant `b` minus variant `a` on one metric over their shared rows."""

    metric: str
    a: str
    b: str
    n: int
    mean_a: float
    mean_b: float
    delta: float
    ci_low: float | None
    ci_high: float | None
    p_value: float
    higher_is_better: bool

    @property
    def significant(self) -> bool:
        """The test rejects "no difference" and the interval agrees (excludes 0): a rank test
        and a t interval can disagree when one row is an outlier; then nothing is claimed."""
        if self.n < 2 or self.p_value >= ALPHA or self.delta == 0:
            return False
        if self.ci_low is not None and self.ci_high is not None:
            return self.ci_low > 0 or self.ci_high < 0
        return True

    @property
    def winner(self) -> str:
        """The better variant when the difference is significant, else ""."""
        if not self.significant:
            return ""
        return self.b if (self.delta > 0) == self.higher_is_better else self.a


@dataclass(frozen=True)
class VariantGroup:
    """One (suite, subject, dataset) run under two or more variants."""

    suite: str
    subject: str
    dataset: str
    variants: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    best: dict[str, str]  # metric -> the variant significantly better than every other one

    @property
    def label(self) -> str:
        return f"{self.suite}: {self.subject} on {self.dataset}"


def _row_means(rows: Sequence[RowResult], metric: str) -> dict[str, float]:
    """Per golden row id, the mean of `metric` over its repeats that have it and no error.
    Streamed rows come from their columns (built once per item), not from the rows file: one
    read of a million rows per item, not one per pair of variants and metric."""
    sums: dict[str, list[float]] = {}
    columns = columns_of(rows)
    if columns is not None:
        ids, errors = columns.unit_ids, columns.errors
        for index, (unit, value) in enumerate(zip(columns.unit, columns.values(metric),
                                                  strict=True)):
            if value is not None and math.isfinite(value) and index not in errors:
                sums.setdefault(ids[unit], []).append(value)
    else:
        for row in rows:
            value = row.metrics.get(metric)
            if value is not None and math.isfinite(value) and not row.errors:
                sums.setdefault(row.id, []).append(value)
    return {k: math.fsum(v) / len(v) for k, v in sums.items()}


def _two_sided(
    deltas: Sequence[float], binary_pairs: Sequence[tuple[float, float]] | None
) -> float:
    if binary_pairs is not None:
        up = sum(1 for a, b in binary_pairs if b > a)
        down = sum(1 for a, b in binary_pairs if b < a)
        return min(1.0, 2 * min(mcnemar_p(up, down), mcnemar_p(down, up)))
    if all(d == 0 for d in deltas):
        return 1.0
    n = len(deltas)
    if n <= EXACT_ROWS:
        low = sign_flip_p(deltas, worse_is_negative=True, seed=n)
        high = sign_flip_p(deltas, worse_is_negative=False, seed=n)
        return min(1.0, 2 * min(low, high))
    mean = math.fsum(deltas) / n
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in deltas) / (n - 1))
    if sd == 0:
        return 0.0
    z = abs(mean) / (sd / math.sqrt(n))
    return math.erfc(z / math.sqrt(2))


def compare_pair(a: ItemResult, b: ItemResult, metric: str) -> Comparison | None:
    """`b - a` on `metric` over the rows both answered; None with fewer than two shared rows."""
    left, right = _row_means(a.rows, metric), _row_means(b.rows, metric)
    shared = [k for k in left if k in right]
    if len(shared) < 2:
        return None
    pairs = [(left[k], right[k]) for k in shared]
    deltas = [y - x for x, y in pairs]
    binary = all(v in (0.0, 1.0) for pair in pairs for v in pair)
    ci = mean_interval(deltas)
    n = len(pairs)
    return Comparison(
        metric=metric, a=a.variant, b=b.variant, n=n,
        mean_a=math.fsum(x for x, _ in pairs) / n, mean_b=math.fsum(y for _, y in pairs) / n,
        delta=math.fsum(deltas) / n,
        ci_low=ci[0] if ci else None, ci_high=ci[1] if ci else None,
        p_value=_two_sided(deltas, pairs if binary else None),
        higher_is_better=direction_of(metric) == HIGHER_IS_BETTER,
    )


def _metrics(items: Sequence[ItemResult]) -> list[str]:
    gated: dict[str, None] = {}
    for item in items:
        for check in item.checks:
            if check.kind == "threshold" and check.metric not in ("error_rate", "aggregation"):
                gated.setdefault(check.metric)
    names = [m for m in gated if all(m in i.aggregates for i in items)]
    return names[:MAX_METRICS]


def _best(variants: Sequence[str], comparisons: Sequence[Comparison], metric: str) -> str:
    for candidate in variants:
        others = [c for c in comparisons if c.metric == metric and candidate in (c.a, c.b)]
        if len(others) == len(variants) - 1 and all(c.winner == candidate for c in others):
            return candidate
    return ""


def compare_variants(run: RunResult) -> list[VariantGroup]:
    """Every (suite, subject, dataset) with two or more variants, compared pairwise."""
    groups: dict[tuple[str, str, str], list[ItemResult]] = {}
    for item in run.items:
        if item.rows:
            groups.setdefault((item.suite, item.subject, item.dataset), []).append(item)
    out: list[VariantGroup] = []
    for (suite, subject, dataset), items in groups.items():
        if len(items) < 2:
            continue
        items = items[:MAX_VARIANTS]
        metrics = _metrics(items)
        comparisons = [c for metric in metrics for a, b in combinations(items, 2)
                       if (c := compare_pair(a, b, metric)) is not None]
        variants = tuple(i.variant for i in items)
        best = {m: w for m in metrics if (w := _best(variants, comparisons, m))}
        out.append(VariantGroup(suite, subject, dataset, variants, tuple(comparisons), best))
    return out


def comparison_text(c: Comparison) -> str:
    """`thorough - concise: +0.10 [0.06, 0.14], p=0.001 (thorough better)` style line."""
    def num(v: float | None) -> str:
        return "n/a" if v is None else f"{v:+.3g}"

    interval = f" [{num(c.ci_low)}, {num(c.ci_high)}]" if c.ci_low is not None else ""
    verdict = f"{c.winner} better" if c.winner else "no significant difference"
    return (f"{c.metric}: {c.b} \u2212 {c.a} = {num(c.delta)}{interval}, p={c.p_value:.2g}, "
            f"n={c.n} ({verdict})")
