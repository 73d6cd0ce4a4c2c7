"""Helpers the file renderers share: number formatting, delta arrows, failing/worst rows.

Kept here so the Markdown, HTML, JUnit and CSV outputs agree on what "failing row" and "worse"
mean. Pure functions of results objects.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from pytest_llmgate.results.model import Check, ItemResult, RowResult, RunResult
from pytest_llmgate.results.storedrows import StoredRows, worst_stored
from pytest_llmgate.verdict.compare import BETTER, SAME, WORSE, MetricDiff, RunDiff

__all__ = [
    "Finding",
    "RowBound",
    "arrow",
    "decimals_for",
    "expected_text",
    "findings",
    "fmt",
    "fmt_delta",
    "input_text",
    "metric_decimals",
    "printable",
    "row_bounds",
    "row_failures",
    "short_name",
    "worst_of",
    "worst_rows",
]

_PASS_RATE = re.compile(r"^pass_rate\((?P<bound>.*)\)$")
_PART = re.compile(r"(>=|<=)\s*(-?[0-9.eE+-]+|inf|-inf|nan)")
# C0/C1 controls, DEL, and the bidi overrides that reorder what a reviewer reads
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
EXPECTED_KEYS = ("ground_truth", "expected", "expected_output", "expected_answer", "reference",
                  "answer", "target", "label", "truth")
INPUT_KEYS = ("question", "query", "input", "prompt", "user_input", "text", "message")


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
    """The row-level rules the item's policy really has: the row bound of a `pass_rate` rule, a
    `min` aggregate's lower bound and a `max` aggregate's upper bound (those hold for the item
    exactly when they hold for every row). A `mean`/`median`/`pN` bound says nothing about one
    row, so it labels none: a row under the mean bar is not a failing row."""
    bounds: list[RowBound] = []
    for check in item.checks:
        if check.kind != "threshold":
            continue
        parsed = _pass_rate_bound(check)
        if parsed is not None:
            bounds.append(RowBound(check.metric, *parsed))
        elif check.aggregate == "min" and check.min is not None:
            bounds.append(RowBound(check.metric, check.min, None))
        elif check.aggregate == "max" and check.max is not None:
            bounds.append(RowBound(check.metric, None, check.max))
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
    failing = [c for c in item.checks if c.verdict in ("fail", "error", "warn")
               and c.kind in ("threshold", "regression") and c.metric not in ("dataset",)]
    check = failing[0] if failing else None
    metric = check.metric if check is not None else None
    low_is_bad = check is not None and (check.min is not None or check.max is None)
    errored, scored = worst_of(item.rows, limit, metric, low_is_bad)
    out: list[tuple[RowResult, str, float | None]] = [(r, "", None) for r in errored]
    if metric is not None:
        out.extend((r, metric, r.metrics[metric]) for r in scored[: limit - len(out)])
    return out[:limit]


def worst_of(
    rows: Sequence[RowResult], limit: int, metric: str | None, low_is_bad: bool
) -> tuple[list[RowResult], list[RowResult]]:
    """In one pass and holding `2 * limit` rows at most: the first `limit` errored rows, and the
    `limit` scored rows (no errors, `metric` present) worst on `metric`, worst first, ties in
    row order (what a stable sort of every row would put first). Rows may be a million
    streamed from the companion file."""
    if isinstance(rows, StoredRows) and rows.has_columns:  # read only the rows chosen
        return worst_stored(rows, limit, metric, low_is_bad)
    errored: list[RowResult] = []

    def scored() -> Iterator[RowResult]:
        for row in rows:
            if row.errors:
                if len(errored) < limit:
                    errored.append(row)
            elif metric is not None and metric in row.metrics:
                yield row

    if metric is None:
        for _ in scored():
            pass
        return errored, []
    pick = heapq.nsmallest if low_is_bad else heapq.nlargest
    key: str = metric
    return errored, pick(limit, scored(), key=lambda r: r.metrics[key])


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"


def output_text(value: object) -> str:
    """A row output as one readable string: a dict's `response`/`answer`/`output` when it has
    one, else `key: value` pairs (a class subject's dict, not a Python repr)."""
    if isinstance(value, dict):
        for key in ("response", "answer", "output", "text", "content"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return _plain(value)


def _plain(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    import json

    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def expected_text(row: RowResult) -> str:
    """The row's expected answer (the usual golden-dataset column names), or ""."""
    for key in EXPECTED_KEYS:
        value = row.data.get(key)
        if value not in (None, ""):
            return _plain(value)
    return ""


def input_text(row: RowResult) -> str:
    """The row's main input (question/query/input/prompt ...), or ""."""
    for source in (row.data, row.inputs):
        for key in INPUT_KEYS:
            value = source.get(key)
            if value not in (None, ""):
                return _plain(value)
    return ""


def printable(text: str, keep: str = "") -> str:
    """`text` with control characters shown as escapes (`\\x1b`), so data cannot move the cursor,
    clear a terminal or reorder a line; newlines and tabs too unless named in `keep`."""
    if not _UNPRINTABLE.search(text):
        return text
    return _UNPRINTABLE.sub(
        lambda m: m.group(0) if m.group(0) in keep else _escape_char(m.group(0)), text)


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def short_name(item: ItemResult) -> str:
    """`subject[variant-dataset]`: the node id without the suite path every row repeats."""
    return item.nodeid.split("::", 1)[-1] or item.nodeid


def decimals_for(values: Sequence[float | None]) -> int:
    """Decimals that show a metric at ~3 significant digits of its typical magnitude (a score in
    0..1 gets 3, latency in the hundreds 0): bounds like 0.425555 print as 0.426."""
    present = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not present:
        return 3
    magnitude = math.floor(math.log10(max(present)))
    return max(0, min(6, 2 - magnitude))


def metric_decimals(run: RunResult) -> dict[str, int]:
    """Display decimals per metric, from the magnitude of its means and maxima in this run."""
    values: dict[str, list[float | None]] = {}
    for item in run.items:
        for metric, aggs in item.aggregates.items():
            values.setdefault(metric, []).extend(aggs.get(k) for k in ("mean", "max", "value"))
    return {m: decimals_for(v) for m, v in values.items()}


def rounded(value: float | None, decimals: int) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if value != 0:  # a small value of a large-valued metric keeps three significant digits
        decimals = max(decimals, min(6, 2 - math.floor(math.log10(abs(value)))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


SEVERITY_ORDER = {"error": 0, "fail": 0, "inconclusive": 1, "warn": 2}


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer must see: a check that did not pass, or an item that errored with no
    failing check to show for it. Renderers list these first, in this order."""

    item: ItemResult
    check: Check | None

    @property
    def verdict(self) -> str:
        if self.check is not None:
            return self.check.verdict
        return "error" if self.item.verdict == "error" else "fail"

    @property
    def blocking(self) -> bool:
        return self.verdict in ("fail", "error", "inconclusive")

    @property
    def kind(self) -> str:
        return self.check.kind if self.check is not None else "item"

    def excess(self) -> float:
        """How far past its bound, relative to the bound (0 when unknown)."""
        check = self.check
        if check is None or check.value is None or not math.isfinite(check.value):
            return math.inf if check is None or check.verdict == "error" else 0.0
        for bound, sign in ((check.min, -1.0), (check.max, 1.0)):
            if bound is not None and (check.value - bound) * sign > 0:
                return abs(check.value - bound) / max(abs(bound), 1e-9)
        return 0.0

    def bound_text(self, decimals: int) -> str:
        check = self.check
        if check is None:
            return ""
        parts = []
        if check.min is not None:
            parts.append(f">= {rounded(check.min, decimals)}")
        if check.max is not None:
            parts.append(f"<= {rounded(check.max, decimals)}")
        return " and ".join(parts)

    def message(self) -> str:
        if self.check is not None:
            return self.check.message
        return self.item.message or f"item {self.item.verdict}"


def findings(run: RunResult, diff: RunDiff | None = None, *,
             warnings: bool = True) -> list[Finding]:
    """Every breach and regression the run decided, most severe first: failing and erroring
    checks, inconclusive ones, items that failed or errored without a failing check, then
    (with `warnings`) `warn` checks. Rendering only: the verdicts come from the results, and
    from `diff` when `llmgate diff` applied its rules after the run."""
    out: list[Finding] = []
    recorded = {(i.nodeid, c.metric) for i in run.items for c in i.checks
                if c.kind == "regression"}
    for entry in diff.items if diff is not None else ():
        if entry.current is None:
            continue
        for m in entry.metrics:
            keep = m.verdict in ("fail", "error") or (warnings and m.verdict == "warn")
            if keep and (entry.nodeid, m.metric) not in recorded:
                out.append(Finding(entry.current, Check(
                    kind="regression", metric=m.metric, aggregate=m.aggregate, value=m.current,
                    verdict=m.verdict, baseline=m.baseline, message=m.message)))
    for item in run.items:
        shown = False
        for check in item.checks:
            if check.verdict in ("fail", "error", "inconclusive") or (
                    warnings and check.verdict == "warn"):
                out.append(Finding(item, check))
                shown = shown or check.verdict != "warn"
        if item.verdict in ("failed", "error") and not shown:
            out.append(Finding(item, None))
    # most severe first; within a severity an item's findings stay together (regressions first)
    worst: dict[str, float] = {}
    for f in out:
        worst[f.item.nodeid] = max(worst.get(f.item.nodeid, 0.0), min(f.excess(), 1e12))
    out.sort(key=lambda f: (SEVERITY_ORDER.get(f.verdict, 3), -worst[f.item.nodeid],
                            f.item.nodeid, f.kind != "regression", -min(f.excess(), 1e12)))
    return out


def first(items: Sequence[str], default: str = "") -> str:
    return items[0] if items else default
