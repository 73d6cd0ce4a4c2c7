"""Helpers the file renderers share: number formatting, delta arrows, failing/worst rows.

Kept here so the Markdown, HTML, JUnit and CSV outputs agree on what "failing row" and "worse"
mean. Pure functions of results objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_llmgate.compare import BETTER, SAME, WORSE, MetricDiff
from pytest_llmgate.results import Check, ItemResult, RowResult

__all__ = [
    "RowBound",
    "arrow",
    "fmt",
    "fmt_delta",
    "row_bounds",
    "row_failures",
    "worst_rows",
]

_PASS_RATE = re.compile(r"^pass_rate\((?P<bound>.*)\)$")
_PART = re.compile(r"(>=|<=)\s*(-?[0-9.eE+-]+|inf|-inf|nan)")
# aggregates whose bound also reads sensibly per row ("a row below the mean bar")
_PER_ROW = {"mean", "median", "min", "max"} | {f"p{n}" for n in range(101)}


def fmt(value: float | None, digits: int = 4) -> str:
    """Compact number: integers as such, otherwise `digits` significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.{digits}g}"


def _signed(value: float, digits: int = 3) -> str:
    text = fmt(abs(value), digits)
    return ("+" if value > 0 else "\u2212" if value < 0 else "\u00b1") + text


def arrow(diff: MetricDiff) -> str:
    """▲ or ▼ for the numeric direction, "=" when unchanged, "" when not comparable."""
    delta = diff.delta
    if delta is None:
        return ""
    if diff.change == SAME:
        return "="
    return "\u25b2" if delta > 0 else "\u25bc"


def fmt_delta(diff: MetricDiff) -> str:
    """`▲ +0.05 (+6.2%)`; empty when there is no baseline value."""
    delta = diff.delta
    if delta is None:
        return ""
    if diff.change == SAME:
        return "= 0"
    text = f"{arrow(diff)} {_signed(delta)}"
    pct = diff.delta_pct
    if pct is not None and math.isfinite(pct):
        text += f" ({'+' if pct > 0 else chr(0x2212)}{abs(pct):.1f}%)"
    return text


def change_word(diff: MetricDiff) -> str:
    return {BETTER: "better", WORSE: "worse", SAME: "same"}.get(diff.change, "")


@dataclass(frozen=True)
class RowBound:
    metric: str
    min: float | None
    max: float | None

    def breached(self, value: float) -> bool:
        return (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max)


def _pass_rate_bound(check: Check) -> tuple[float | None, float | None] | None:
    match = _PASS_RATE.match(check.aggregate)
    if not match:
        return None
    low = high = None
    for op, number in _PART.findall(match.group("bound")):
        if op == ">=":
            low = float(number)
        else:
            high = float(number)
    return low, high


def row_bounds(item: ItemResult) -> list[RowBound]:
    """Per-row bars implied by the item's threshold checks (row bounds of pass_rate rules; the
    bound of mean/median/min/max/pN rules applied to each row)."""
    bounds: list[RowBound] = []
    for check in item.checks:
        if check.kind != "threshold":
            continue
        parsed = _pass_rate_bound(check)
        if parsed is not None:
            bounds.append(RowBound(check.metric, *parsed))
        elif check.aggregate in _PER_ROW and (check.min is not None or check.max is not None):
            bounds.append(RowBound(check.metric, check.min, check.max))
    return bounds


def row_failures(item: ItemResult) -> Callable[[RowResult], list[str]]:
    """A function naming the metrics a row fails (errors make a row erroring, not failing)."""
    bounds = row_bounds(item)

    def failures(row: RowResult) -> list[str]:
        out: list[str] = []
        for bound in bounds:
            value = row.metrics.get(bound.metric)
            if value is not None and bound.breached(value) and bound.metric not in out:
                out.append(bound.metric)
        return out

    return failures


def worst_rows(item: ItemResult, limit: int = 3) -> list[tuple[RowResult, str, float | None]]:
    """Errored rows first, then the rows furthest past the first failing check's bound:
    (row, metric, value)."""
    out: list[tuple[RowResult, str, float | None]] = [(r, "", None) for r in item.rows if r.errors]
    failing = [c for c in item.checks if c.verdict in ("fail", "error", "warn")
               and c.kind in ("threshold", "regression") and c.metric not in ("dataset",)]
    if failing and len(out) < limit:
        check = failing[0]
        metric = check.metric
        low_is_bad = check.min is not None or check.max is None
        scored = [r for r in item.rows if not r.errors and metric in r.metrics]
        scored.sort(key=lambda r: r.metrics[metric], reverse=not low_is_bad)
        out.extend((r, metric, r.metrics[metric]) for r in scored[: limit - len(out)])
    return out[:limit]


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"


def output_text(value: object) -> str:
    """A row output as one string (dict outputs prefer their `response`)."""
    if isinstance(value, dict) and "response" in value:
        value = value["response"]
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    import json

    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def first(items: Sequence[str], default: str = "") -> str:
    return items[0] if items else default
