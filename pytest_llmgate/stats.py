"""Aggregates over per-row scores: mean, median, min, max, sum, std, count, percentiles, pass rate.

Percentiles use linear interpolation between closest ranks (NumPy's default "linear" method), so
`p50 == median` and results agree with `numpy.percentile`. Pure Python: no NumPy import needed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = [
    "AGGREGATE_PATTERN",
    "aggregate",
    "bootstrap_interval",
    "interval",
    "is_aggregate",
    "mcnemar_p",
    "mean_interval",
    "pass_rate",
    "percentile",
    "seed_for",
    "sign_flip_p",
    "summarize",
    "t_quantile",
    "wilson_interval",
]

AGGREGATE_PATTERN = re.compile(r"^(mean|median|min|max|sum|std|count|pass_rate|p(\d{1,3}))$")
SUMMARY = ("mean", "median", "min", "max", "std", "p10", "p90", "p95", "sum", "count")


def is_aggregate(name: str) -> bool:
    match = AGGREGATE_PATTERN.match(name)
    if match is None:
        return False
    return match.group(2) is None or int(match.group(2)) <= 100


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linear interpolation."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(sorted_values[low])
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def aggregate(values: Sequence[float], name: str) -> float | None:
    """Aggregate `values` by `name`; None when there is nothing to aggregate."""
    if name == "count":
        return float(len(values))
    if not values:
        return None
    if name == "mean":
        return _mean(values)
    if name == "sum":
        return math.fsum(values)
    if name == "min":
        return float(min(values))
    if name == "max":
        return float(max(values))
    if name == "std":
        if len(values) < 2:
            return 0.0
        mean = _mean(values)
        return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
    ordered = sorted(values)
    if name == "median":
        return percentile(ordered, 50)
    match = AGGREGATE_PATTERN.match(name)
    if match and match.group(2) is not None:
        return percentile(ordered, int(match.group(2)))
    raise ValueError(f"unknown aggregate {name!r}")


def pass_rate(
    values: Sequence[float | None], low: float | None, high: float | None
) -> float | None:
    """Share of rows whose value lies within [low, high]; a missing value (error) never passes."""
    if not values:
        return None
    passed = sum(
        1
        for v in values
        if v is not None and (low is None or v >= low) and (high is None or v <= high)
    )
    return passed / len(values)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """The standard aggregates recorded for every metric in the results."""
    out: dict[str, float] = {}
    ordered: list[float] | None = None
    for name in SUMMARY:
        if name in ("median", "p10", "p90", "p95") and values:
            # one sort for all four percentiles (aggregate() would sort each time): the same
            # numbers, n log n once instead of four times per metric
            ordered = ordered if ordered is not None else sorted(values)
            out[name] = percentile(ordered, 50 if name == "median" else int(name[1:]))
            continue
        value = aggregate(values, name)
        if value is not None:
            out[name] = value
    return out


# ---- uncertainty ---------------------------------------------------------------------------------
# Methods (documented in docs/verdicts.md):
# - mean: Student's t interval on per-row means (repeats are averaged within a row first, so a
#   row is the independent unit: a cluster-level interval);
# - pass_rate: Wilson score interval on rows;
# - every other aggregate: percentile bootstrap over rows (resampling rows with their repeats),
#   seeded from the item id so reports are reproducible;
# - paired regression tests: sign-flip permutation test on per-row deltas (exact below 16 rows),
#   and an exact McNemar test for 0/1 metrics.


def _normal_quantile(p: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def t_quantile(p: float, df: int) -> float:
    """Student-t quantile: Cornish-Fisher expansion (error < 1e-3 for df >= 3), exact for df 1/2."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        a = 4 * p * (1 - p)
        return (2 * p - 1) * math.sqrt(2 / a)
    z = _normal_quantile(p)
    v = float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


def mean_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """Two-sided t interval for the mean; None with fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean = _mean(values)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion."""
    if n <= 0:
        return None
    z = _normal_quantile(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def seed_for(text: str) -> int:
    """A stable seed from an item id (hash() is salted per process)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def bootstrap_interval(
    groups: Sequence[Sequence[float]],
    name: str,
    level: float = 0.95,
    *,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[float, float] | None:
    """Percentile bootstrap of aggregate `name` over per-row means, resampling rows whole."""
    import random

    groups = [g for g in groups if g]
    if len(groups) < 2:
        return None
    rng = random.Random(seed)
    n = len(groups)
    means = [math.fsum(g) / len(g) for g in groups]  # a row is the unit
    stats: list[float] = []
    for _ in range(resamples):
        value = aggregate([means[rng.randrange(n)] for _ in range(n)], name)
        if value is not None:
            stats.append(value)
    stats.sort()
    alpha = (1 - level) / 2
    return percentile(stats, alpha * 100), percentile(stats, (1 - alpha) * 100)


def interval(
    groups: Sequence[Sequence[float]], name: str, level: float = 0.95, *, seed: int = 0
) -> tuple[float, float] | None:
    """Confidence interval of aggregate `name` over rows given as groups of repeat values."""
    if name in ("count", "sum") or not groups:
        return None
    if name == "mean":
        return mean_interval([_mean(g) for g in groups if g], level)
    return bootstrap_interval(groups, name, level, seed=seed)


def sign_flip_p(
    deltas: Sequence[float], *, worse_is_negative: bool = True, seed: int = 0, resamples: int = 4000
) -> float:
    """One-sided p-value that the mean paired delta is this far in the worse direction by chance.

    Paired sign-flip permutation test: under no change, each row's delta is equally likely to have
    either sign. Exact enumeration up to 15 rows; seeded Monte Carlo beyond.
    """
    import itertools
    import random

    values = [d if worse_is_negative else -d for d in deltas if d == d]
    n = len(values)
    if n == 0:
        return 1.0
    observed = math.fsum(values)
    tol = 1e-12 * max(1.0, abs(observed))
    if n <= 15:
        count = 0
        total = 0
        for signs in itertools.product((1, -1), repeat=n):
            total += 1
            if math.fsum(s * v for s, v in zip(signs, values, strict=True)) <= observed + tol:
                count += 1
        return count / total
    rng = random.Random(seed)
    count = 1  # the observed assignment itself (keeps p > 0)
    for _ in range(resamples):
        flipped = math.fsum(v if rng.random() < 0.5 else -v for v in values)
        if flipped <= observed + tol:
            count += 1
    return count / (resamples + 1)


def mcnemar_p(worsened: int, improved: int) -> float:
    """Exact one-sided McNemar p: P(X >= worsened) for X ~ Binomial(worsened + improved, 1/2)."""
    n = worsened + improved
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(worsened, n + 1))
    return float(min(1.0, tail / 2**n))
