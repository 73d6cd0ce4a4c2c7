"""The baseline diff as a plain-text table: `llmgate diff` prints it, and the plugin's end-of-run
summary can show it under the check table when `--llm-gate-baseline` is given."""

from __future__ import annotations

from pytest_llmgate.reporting._common import fmt, fmt_delta
from pytest_llmgate.reporting.text import table
from pytest_llmgate.verdict.compare import MATCHED, RunDiff

__all__ = ["diff_summary_line", "render_diff"]


def diff_summary_line(diff: RunDiff, prefix: str = "llm-gate diff") -> str:
    cost = f", cost {diff.cost_delta:+.4f} USD" if diff.cost_delta is not None else ""
    return (f"{prefix} vs {diff.baseline_label}: {len(diff.regressed)} regressed item(s), "
            f"{len(diff.new)} new, {len(diff.removed)} removed, "
            f"{len(diff.not_like_for_like)} not like for like{cost}")


def render_diff(diff: RunDiff, *, every_metric: bool = False,
                prefix: str = "llm-gate diff", problems_only: bool = False,
                max_width: int | None = None) -> str:
    """Item, metric, baseline, current, delta (▲/▼) and verdict; by default only the metrics a
    threshold or regression rule watches; with `problems_only` (the terminal summary, which
    lists every breach and regression above it) only what it does not: newly failing items,
    refresh notices, notes, new and removed items."""
    body: list[list[object]] = []
    for item in diff.items:
        if item.status != MATCHED:
            body.append([item.nodeid, "", "", "", "", item.status])
            continue
        shown = [m for m in item.metrics if every_metric or m.verdict or m.gated]
        if problems_only:
            shown = [m for m in shown if m.improved]
        first = True
        for metric in shown:
            if metric.verdict in ("fail", "warn", "error"):
                verdict = metric.verdict.upper()
            else:
                verdict = metric.verdict or metric.change
            if metric.improved:
                verdict += " (refresh the baseline)"
            body.append([item.nodeid if first else "", f"{metric.metric} {metric.aggregate}",
                         fmt(metric.baseline), fmt(metric.current), fmt_delta(metric), verdict])
            first = False
        if item.newly_failing:
            body.append([item.nodeid if first else "", "item verdict",
                         item.baseline.verdict if item.baseline else "",
                         item.current.verdict if item.current else "", "", "FAIL"])
            first = False
        for note in item.notes:
            body.append([item.nodeid if first else "", "note", "", "", "", note])
            first = False
    lines = [diff_summary_line(diff, prefix)]
    if body:
        lines.append(table(["item", "metric", "baseline", "current", "delta", "verdict"], body,
                           max_width=max_width))
    return "\n".join(lines)
