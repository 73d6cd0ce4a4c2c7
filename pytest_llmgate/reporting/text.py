"""Plain-text tables for the terminal: the per-item breach table and the end-of-run summary."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmgate.reporting.transcript import went_wrong
from pytest_llmgate.results import Check, ItemResult, RowResult, RunResult

__all__ = ["format_value", "render_item_failure", "render_summary", "table"]

MAX_CELL = 60


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}"


def _cell(text: object, width: int = MAX_CELL) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned text table."""
    cells = [[_cell(c, 200) for c in header]] + [[_cell(c, 200) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def with_interval(check: Check) -> str:
    """`4.12 ± 0.08` when the check carries a confidence interval; `▼ -0.21 (p=0.003)` style
    significance is part of regression messages."""
    text = format_value(check.value)
    if check.value is not None and check.ci_low is not None and check.ci_high is not None:
        half = max(check.value - check.ci_low, check.ci_high - check.value)
        text += f" ± {half:.2g}"
    if check.p_value is not None:
        text += f" (p={check.p_value:.2g})"
    return text


def _check_row(check: Check) -> list[object]:
    shown = check.verdict.upper() if check.verdict != "pass" else "pass"
    metric = f"{check.metric} (regression)" if check.kind == "regression" else check.metric
    return [metric, check.aggregate, with_interval(check), check.bound, shown]


def _worst_rows(item: ItemResult, limit: int = 5) -> list[RowResult]:
    errored = [r for r in item.rows if r.errors]
    failing = [
        c
        for c in item.checks
        if c.verdict in ("fail", "error", "inconclusive") and c.kind == "threshold"
    ]
    ranked: list[RowResult] = list(errored)
    if failing:
        metric = failing[0].metric
        lower_bad = failing[0].min is not None
        scored = [r for r in item.rows if metric in r.metrics and not r.errors]
        scored.sort(key=lambda r: r.metrics[metric], reverse=not lower_bad)
        ranked.extend(scored)
    return ranked[:limit]


def render_item_failure(item: ItemResult) -> str:
    """What a failing item shows instead of a traceback: the checks, then the worst rows."""
    lines = [f"llm-gate: {item.nodeid} {item.verdict.upper()}"]
    if item.message:
        lines.append(item.message)
    lines.append(f"{len(item.rows)} rows, {item.error_count} errored, dataset {item.dataset}")
    if item.checks:
        lines.append(
            table(
                ["metric", "aggregate", "value", "bound", "verdict"],
                [_check_row(c) for c in item.checks],
            )
        )
    for check in item.checks:
        if check.verdict in ("fail", "error", "inconclusive") and check.message:
            where = f" [{check.source}]" if check.source else ""
            lines.append(f"  {check.verdict.upper()}: {check.message}{where}")
    worst = _worst_rows(item)
    if worst:
        failing = [c.metric for c in item.checks if c.verdict in ("fail", "error")]
        metric = next((m for m in failing if m != "error_rate"), None)
        lines.append("worst rows:")
        body = []
        for row in worst:
            problem = "; ".join(row.errors) if row.errors else ""
            value = format_value(row.metrics.get(metric)) if metric else ""
            shown = problem or went_wrong(row, metric) or row.output
            body.append([row.id, value, _cell(shown, 160)])
        lines.append(table(["row", metric or "", "output / error"], body))
    return "\n".join(lines)


def render_summary(run: RunResult) -> str:
    """One table for all items: every check with its value, bound and verdict."""
    body: list[list[object]] = []
    for item in run.items:
        name = item.nodeid
        if item.verdict == "skipped":
            body.append([name, "", "", "", "", f"SKIPPED ({item.message})"])
            continue
        checks = item.checks or ()
        if not checks:
            body.append([name, "", "", "", "", item.verdict.upper()])
        for index, check in enumerate(checks):
            body.append([name if index == 0 else "", *_check_row(check)])
        if item.verdict == "error" and item.message:
            body.append([name, "", "", "", "", f"ERROR ({item.message})"])
    rows = sum(len(i.rows) for i in run.items)
    errors = sum(i.error_count for i in run.items)
    counts: dict[str, int] = {}
    for item in run.items:
        counts[item.verdict] = counts.get(item.verdict, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    head = (
        f"llm-gate: {run.verdict.upper()}: {len(run.items)} items ({tally}), "
        f"{rows} rows, {errors} errored"
    )
    if not body:
        return head
    return head + "\n" + table(["item", "metric", "aggregate", "value", "bound", "verdict"], body)
