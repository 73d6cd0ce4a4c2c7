"""Aggregates over per-row scores: mean, median, min, max, sum, std, count, percentiles, pass rate.

Percentiles use linear interpolation between closest ranks (NumPy's default "linear" method), so
`p50 == median` and results agree with `numpy.percentile`. Pure Python: no NumPy import needed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

__all__ = ["AGGREGATE_PATTERN", "aggregate", "is_aggregate", "pass_rate", "percentile", "summarize"]

AGGREGATE_PATTERN = re.compile(r"^(mean|median|min|max|sum|std|count|pass_rate|p(\d{1,3}))$")
SUMMARY = ("mean", "median", "min", "max", "std", "p10", "p90", "p95", "sum", "count")


def is_aggregate(name: str) -> bool:
    match = AGGREGATE_PATTERN.match(name)
    return bool(match) and (match.group(2) is None or int(match.group(2)) <= 100)


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
    for name in SUMMARY:
        value = aggregate(values, name)
        if value is not None:
            out[name] = value
    return out
