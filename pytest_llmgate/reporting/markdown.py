"""The pull request comment: verdict, metric diff vs baseline, failing items, cost, artifacts.

Two promises: the text stays under GitHub's 65,536-character comment limit however large the run
(sections are added in order of importance and tables are cut with a note), and nothing from the
data can break out of its table cell or act: model output and dataset text go through
`md_escape`, which defuses tables, links, images, HTML, math, @mentions and #references.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pytest_llmgate.compare import BETTER, WORSE, ItemDiff, MetricDiff, RunDiff, diff_runs, run_cost
from pytest_llmgate.reporting._common import fmt, fmt_delta, output_text, truncate, worst_rows
from pytest_llmgate.reporting.text import with_interval
from pytest_llmgate.reporting.transcript import went_wrong
from pytest_llmgate.results import ERROR, FAILED, PASSED, SKIPPED, Check, ItemResult, RunResult

__all__ = ["COMMENT_LIMIT", "MARKER", "md_escape", "render_markdown"]

COMMENT_LIMIT = 65_536  # GitHub's limit for a comment body, in characters
DEFAULT_BUDGET = 60_000  # room for what a workflow may wrap around it
MARKER = "<!-- pytest-llmgate:report -->"  # the sticky comment is found by this line
MAX_TABLE_ROWS = 200
MAX_FAILING_ITEMS = 20

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_BACKSLASHED = set("\\`*_[]()!|~{}")
# entities where GitHub acts on the *rendered* text (mentions, refs) or parses before escapes
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "$": "&#36;",
             "@": "@&#8203;", "#": "#&#8203;"}


def md_escape(value: object, limit: int = 120) -> str:
    """Make arbitrary text inert inside a Markdown table cell, on one line, at most ~`limit`
    visible characters. Zero-width spaces after `@`/`#`/`://`/`www.` stop mentions, issue
    references and autolinks; everything else is backslash-escaped or an entity."""
    text = _CONTROL.sub(" ", str(value)).strip()
    text = truncate(" ".join(text.split()), limit)
    out: list[str] = []
    for char in text:
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _BACKSLASHED:
            out.append("\\" + char)
        else:
            out.append(char)
    escaped = "".join(out)
    escaped = escaped.replace("://", ":&#8203;//")
    return re.sub(r"(?i)\bwww\.", lambda m: m.group(0)[:-1] + "&#8203;.", escaped)


class _Budget:
    """Lines that fit a character budget; the first line that does not fit ends the writing."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.size = 0
        self.full = False

    def room(self) -> int:
        return self.limit - self.size

    def add(self, line: str) -> bool:
        if self.full or self.size + len(line) + 1 > self.limit:
            self.full = True
            return False
        self.lines.append(line)
        self.size += len(line) + 1
        return True

    def fits(self, lines: Sequence[str], reserve: int = 0) -> bool:
        return self.size + sum(len(x) + 1 for x in lines) + reserve <= self.limit

    def add_all(self, lines: Iterable[str]) -> bool:
        return all(self.add(line) for line in lines)


def _table(budget: _Budget, header: Sequence[str], aligns: Sequence[str],
           rows: Sequence[Sequence[str]], more_note: str) -> None:
    """Add a table, cutting it with a note when rows run past the cap or the budget."""
    head = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    note_reserve = 200
    if not budget.fits(head, note_reserve):
        budget.full = True
        return
    budget.add_all(head)
    shown = 0
    for row in rows[:MAX_TABLE_ROWS]:
        line = "| " + " | ".join(row) + " |"
        if not budget.fits([line], note_reserve):
            break
        budget.add(line)
        shown += 1
    if shown < len(rows):
        budget.add("")
        budget.add(f"_\u2026 {len(rows) - shown} more row(s) not shown: {more_note}_")


def _item_name(item: ItemResult) -> str:
    return md_escape(item.nodeid, 90)


def _verdict_cell(verdict: str) -> str:
    if verdict in ("fail", "error", "inconclusive"):
        return f"**{verdict.upper()}**"
    return {"warn": "warn", "pass": "pass"}.get(verdict, verdict)


def _delta_cell(diff: MetricDiff) -> str:
    text = fmt_delta(diff)
    if not text:
        return "new" if diff.baseline is None and diff.current is not None else ""
    mark = {BETTER: " \U0001f7e2", WORSE: " \U0001f534"}.get(diff.change, "")
    return md_escape(text, 40) + mark


def _cost(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"&#36;{value:.4f}" if value < 1 else f"&#36;{value:.2f}"


def _headline(run: RunResult, diff: RunDiff | None) -> str:
    counts: dict[str, int] = {}
    for item in run.items:
        counts[item.verdict] = counts.get(item.verdict, 0) + 1
    bad = counts.get(FAILED, 0) + counts.get(ERROR, 0)
    total = len(run.items)
    if run.incomplete:
        head = f"\u274c **LLM gate: incomplete run** \u2014 {total} item(s) recorded"
    elif run.verdict == PASSED:
        head = f"\u2705 **LLM gate passed** \u2014 {total} item(s)"
    else:
        head = f"\u274c **LLM gate failed** \u2014 {bad} of {total} item(s) failed"
    parts = [head]
    if counts.get(SKIPPED):
        parts.append(f"{counts[SKIPPED]} skipped")
    if diff is not None:
        regressed = len(diff.regressed)
        parts.append(f"{regressed} regression(s)" if regressed else "no regression")
        parts.append(f"vs baseline {md_escape(diff.baseline_label, 40)}")
    return " \u00b7 ".join(parts)


def _summary_line(run: RunResult, diff: RunDiff | None) -> str:
    rows = sum(len(i.rows) for i in run.items)
    errored = sum(i.error_count for i in run.items)
    parts = [f"**Rows** {rows}" + (f", {errored} errored" if errored else "")]
    cost = run_cost(run)
    if diff is not None and (cost is not None or diff.cost_baseline is not None):
        text = f"**Cost** {_cost(cost)}"
        delta = diff.cost_delta
        if delta is not None:
            sign = "\u25b2 +" if delta > 0 else "\u25bc \u2212" if delta < 0 else "= "
            mark = " \U0001f534" if delta > 0 else " \U0001f7e2" if delta < 0 else ""
            text += f" ({sign}{_cost(abs(delta))} vs baseline{mark})"
        parts.append(text)
    elif cost is not None:
        parts.append(f"**Cost** {_cost(cost)}")
    return " \u00b7 ".join(parts)


def _rank(item: ItemDiff, metric: MetricDiff) -> tuple[int, str]:
    order = {"fail": 0, "error": 0, "warn": 1}.get(metric.verdict, 3)
    if order == 3 and metric.change == WORSE:
        order = 2
    return (order, item.nodeid)


def _diff_rows(run: RunResult, diff: RunDiff) -> list[list[str]]:
    thresholds: dict[tuple[str, str], Check] = {}
    for item in run.items:
        for check in item.checks:
            if check.kind == "threshold":
                thresholds.setdefault((item.nodeid, check.metric), check)
    entries = [(d, m) for d in diff.items if d.current is not None for m in d.metrics if m.gated]
    entries.sort(key=lambda e: _rank(*e))
    rows = []
    for entry, metric in entries:
        threshold = thresholds.get((entry.nodeid, metric.metric))
        verdict = metric.verdict
        bound = metric.bound
        if threshold is not None and (not verdict or threshold.verdict in ("fail", "error")):
            verdict = threshold.verdict
            bound = threshold.bound
        breach = verdict in ("fail", "error")
        current = fmt(metric.current)
        rows.append([
            _item_name(entry.item),
            md_escape(f"{metric.metric} ({metric.aggregate})", 60),
            fmt(metric.baseline),
            f"**{current}**" if breach else current,
            _delta_cell(metric),
            md_escape(bound, 40) if bound and bound != "-" else "",
            _verdict_cell(verdict),
        ])
    return rows


def _check_rows(run: RunResult) -> list[list[str]]:
    entries = [(i, c) for i in run.items for c in i.checks if c.kind in ("threshold", "errors")]
    entries.sort(key=lambda e: ({"fail": 0, "error": 0, "warn": 1}.get(e[1].verdict, 2),
                                e[0].nodeid))
    rows = []
    for item, check in entries:
        breach = check.verdict in ("fail", "error", "inconclusive")
        value = md_escape(with_interval(check), 40)
        rows.append([_item_name(item), md_escape(f"{check.metric} ({check.aggregate})", 60),
                     f"**{value}**" if breach else value, md_escape(check.bound, 40),
                     _verdict_cell(check.verdict)])
    return rows


def _failing_item(item: ItemResult) -> list[str]:
    lines = [f"#### {_item_name(item)} \u2014 {item.verdict}", ""]
    if item.message:
        lines.append(f"- {md_escape(item.message, 300)}")
    for check in item.checks:
        if check.verdict in ("fail", "error") and check.message:
            where = f" ({md_escape(check.source, 60)})" if check.source else ""
            lines.append(f"- **{md_escape(check.message, 300)}**{where}")
    worst = worst_rows(item, 3)
    if worst:
        lines += ["", "| row | score | output / error |", "|---|---:|---|"]
        for row, metric, value in worst:
            problem = "; ".join(row.errors) or went_wrong(row, metric) or output_text(row.output)
            score = f"{md_escape(metric, 30)} = {fmt(value)}" if metric else "error"
            lines.append(f"| {md_escape(row.id, 40)} | {score} | {md_escape(problem, 160)} |")
    lines.append("")
    return lines


def _notes(diff: RunDiff) -> list[str]:
    lines: list[str] = []
    if diff.new:
        names = ", ".join(_item_name(d.item) for d in diff.new[:30])
        more = f" and {len(diff.new) - 30} more" if len(diff.new) > 30 else ""
        lines.append(f"- **New** ({len(diff.new)}): {names}{more}")
    if diff.removed:
        names = ", ".join(_item_name(d.item) for d in diff.removed[:30])
        more = f" and {len(diff.removed) - 30} more" if len(diff.removed) > 30 else ""
        lines.append(f"- **Removed** ({len(diff.removed)}): {names}{more}")
    for item in diff.not_like_for_like[:20]:
        for note in item.notes:
            lines.append(f"- \u26a0\ufe0f {_item_name(item.item)}: {md_escape(note, 300)}")
    for item, metric in diff.improvements[:20]:
        lines.append(f"- \u2139\ufe0f {_item_name(item.item)}: {md_escape(metric.metric, 60)} "
                     f"improved past tolerance ({md_escape(fmt_delta(metric), 40)}): refresh the "
                     "baseline")
    return lines


def render_markdown(
    run: RunResult,
    baseline: RunResult | None = None,
    artifacts: Sequence[str] = (),
    *,
    run_url: str = "",
    limit: int = DEFAULT_BUDGET,
    diff: RunDiff | None = None,
) -> str:
    """The PR comment. `artifacts` are file names to list; `run_url` (https only) links the run.

    Always shorter than `limit` (capped at GitHub's comment limit).
    """
    limit = min(limit, COMMENT_LIMIT - 1)
    if diff is None and baseline is not None:
        diff = diff_runs(run, baseline)
    budget = _Budget(limit - 400)  # the closing lines and the truncation note always fit
    budget.add_all([MARKER, f"### {_headline(run, diff)}", "", _summary_line(run, diff), ""])
    for warning in run.warnings[:10]:
        budget.add(f"> \u26a0\ufe0f {md_escape(warning, 300)}")
    if run.warnings:
        budget.add("")
    if diff is not None:
        rows = _diff_rows(run, diff)
        budget.add(f"#### Metrics vs baseline ({md_escape(diff.baseline_label, 40)})")
        budget.add("")
        if rows:
            _table(budget, ["item", "metric", "baseline", "current", "\u0394", "bound", "verdict"],
                   ["---", "---", "---:", "---:", "---", "---", "---"], rows,
                   "see the HTML report")
            budget.add("")
            budget.add("<sub>\u25b2/\u25bc: the value went up/down; \U0001f7e2 better, "
                       "\U0001f534 worse (quality up is better; cost, latency and harm down "
                       "is better). Breaches in bold.</sub>")
        else:
            budget.add("_No gated metric to compare._")
        budget.add("")
        notes = _notes(diff)
        if notes:
            budget.add_all(["#### Baseline notes", "", *notes, ""])
    else:
        rows = _check_rows(run)
        if rows:
            budget.add_all(["#### Metrics", ""])
            _table(budget, ["item", "metric", "value", "bound", "verdict"],
                   ["---", "---", "---:", "---", "---"], rows, "see the HTML report")
            budget.add("")
    failing = [i for i in run.items if i.verdict in (FAILED, ERROR)]
    if failing and not budget.full:
        budget.add_all(["#### Failing items", ""])
        for shown, item in enumerate(failing):
            block = _failing_item(item)
            if shown >= MAX_FAILING_ITEMS or not budget.fits(block, 300):
                budget.add(f"_\u2026 {len(failing) - shown} more failing item(s) not shown: "
                           "see the HTML report_")
                break
            budget.add_all(block)
    tail: list[str] = []
    if budget.full:
        tail += ["", "_\u2702\ufe0f Truncated to stay under GitHub's comment limit; the HTML "
                 "report and results JSON have everything._"]
    if artifacts or run_url:
        names = ", ".join(md_escape(a, 80) for a in artifacts)
        link = f" ([workflow run]({run_url}))" if run_url.startswith("https://") and \
            _SAFE_URL.match(run_url) else ""
        tail += ["", f"<sub>Artifacts: {names or 'attached to the run'}{link}</sub>"]
    text = "\n".join(budget.lines + tail) + "\n"
    if len(text) >= COMMENT_LIMIT:  # belt and braces: never exceed the hard limit
        text = text[: COMMENT_LIMIT - 200].rsplit("\n", 1)[0] + "\n\n_\u2702\ufe0f Truncated._\n"
    return text


_SAFE_URL = re.compile(r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~/-]*)?$")
