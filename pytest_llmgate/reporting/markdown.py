"""The pull request comment, read in ten seconds: a one-line verdict, a short table of the
breaches and regressions only (most severe first), the A/B verdict between variants, links to the
run's artifacts; then one collapsed `<details>` per suite with the full metric diff and the worst
rows (question, expected, output).

Three promises: the text stays under GitHub's 65,536-character comment limit however large the
run (sections are added in order of importance and tables are cut with a note); 🔴/🟢 appear only
where a rule decided a regression or an improvement past its tolerance (never on noise); and
nothing from the data can break out of its table cell or act: model output and dataset text go
through `md_escape`, which defuses tables, links, images, HTML, math, @mentions and #references.
The comment only renders what the run (and its baseline diff) decided.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pytest_llmgate.reporting._common import (
    Finding,
    expected_text,
    findings,
    fmt,
    fmt_delta,
    input_text,
    metric_decimals,
    output_text,
    rounded,
    short_name,
    truncate,
    worst_rows,
)
from pytest_llmgate.reporting.text import with_interval
from pytest_llmgate.reporting.transcript import went_wrong
from pytest_llmgate.reporting.variants import VariantGroup, compare_variants
from pytest_llmgate.results.model import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    Check,
    ItemResult,
    RunResult,
)
from pytest_llmgate.verdict.compare import MetricDiff, RunDiff, diff_runs, run_cost

__all__ = ["COMMENT_LIMIT", "MARKER", "md_escape", "render_markdown"]

COMMENT_LIMIT = 65_536  # GitHub's limit for a comment body, in characters
DEFAULT_BUDGET = 60_000  # room for what a workflow may wrap around it
MARKER = "<!-- pytest-llmgate:report -->"  # the sticky comment is found by this line
MAX_TABLE_ROWS = 200
MAX_FAILING_ITEMS = 20
MAX_FINDINGS = 40  # the first table: one screen
RED, GREEN, CROSS, WARN, UNSURE = "\U0001f534", "\U0001f7e2", "\u274c", "\u26a0\ufe0f", "\u2754"

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
    """The change vs baseline; red only where a rule called it a regression, green only where a
    rule called it an improvement past its tolerance. Everything else is plain: noise."""
    text = fmt_delta(diff)
    if not text:
        return "new" if diff.baseline is None and diff.current is not None else ""
    mark = ""
    if diff.verdict in ("fail", "error"):
        mark = " " + RED
    elif diff.verdict == "warn":
        mark = " " + WARN
    elif diff.improved:
        mark = " " + GREEN
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
            # no colour: total cost has no rule of its own here, and a cent is noise
            sign = "\u25b2 +" if delta > 0 else "\u25bc \u2212" if delta < 0 else "= "
            text += f" ({sign}{_cost(abs(delta))} vs baseline)"
        parts.append(text)
    elif cost is not None:
        parts.append(f"**Cost** {_cost(cost)}")
    return " \u00b7 ".join(parts)


# ---- the first table: breaches and regressions only ------------------------------------------
def _finding_icon(finding: Finding) -> str:
    if finding.verdict == "warn":
        return WARN
    if finding.verdict == "inconclusive":
        return UNSURE
    # red marks a change a rule judged a regression; a plain breach of a bound is a cross (it
    # would fail an identical rerun too, so it is not a change)
    return RED if finding.kind == "regression" else CROSS


def _value_cell(check: Check, decimals: int) -> str:
    text = rounded(check.value, decimals)
    if check.ci_low is not None and check.ci_high is not None:
        text += f" [{rounded(check.ci_low, decimals)}, {rounded(check.ci_high, decimals)}]"
    return text


def finding_row(finding: Finding, decimals: dict[str, int]) -> list[str]:
    """icon, item, metric, value [interval], bound (or baseline -> current), p, rule."""
    item, check = finding.item, finding.check
    if check is None:
        return [_finding_icon(finding), md_escape(short_name(item), 60), "item", "", "", "",
                md_escape(finding.message(), 160)]
    digits = decimals.get(check.metric, 3)
    value = _value_cell(check, digits)
    bound = finding.bound_text(digits)
    if check.kind == "regression" and check.baseline is not None:
        bound = f"{rounded(check.baseline, digits)} \u2192 {rounded(check.value, digits)}" + (
            f" (allowed {bound})" if bound else "")
    metric = check.metric
    if check.aggregate not in ("", "item"):
        metric += f" {check.aggregate}"
    if check.kind == "regression":
        metric += " (regression)"
    why = check.source or check.message
    return [_finding_icon(finding), md_escape(short_name(item), 60), md_escape(metric, 60),
            f"**{md_escape(value, 60)}**" if finding.blocking else md_escape(value, 60),
            md_escape(bound, 70),
            f"{check.p_value:.2g}" if check.p_value is not None else "",
            md_escape(why, 100)]


def _findings_table(budget: _Budget, found: list[Finding], decimals: dict[str, int]) -> None:
    if not found:
        budget.add("No breaches and no regressions.")
        budget.add("")
        return
    rows = [finding_row(f, decimals) for f in found[:MAX_FINDINGS]]
    more = len(found) - len(rows)
    _table(budget, ["", "item", "metric", "value", "bound / baseline \u2192 current", "p", "rule"],
           ["---", "---", "---", "---:", "---", "---:", "---"], rows,
           "see the suites below and the HTML report")
    if more > 0:
        budget.add("")
        budget.add(f"_\u2026 and {more} more: see the suites below and the HTML report_")
    budget.add("")


def _variant_lines(groups: list[VariantGroup]) -> list[str]:
    """One line per group: the variant significantly best on each gated metric (if any)."""
    lines: list[str] = []
    for group in groups:
        winners: dict[str, list[str]] = {}
        for metric, variant in group.best.items():
            winners.setdefault(variant, []).append(metric)
        best = "; ".join(f"**{md_escape(v, 40)}** best on {md_escape(', '.join(m), 120)}"
                         for v, m in winners.items())
        lines.append(f"- **A/B** {md_escape(group.label, 80)} "
                     f"({md_escape(' vs '.join(group.variants), 80)}): "
                     + (best or "no variant is significantly better"))
    return lines


def _variant_details(groups: list[VariantGroup]) -> list[str]:
    lines = ["<details>", "<summary>A/B between variants (paired over the same golden rows, "
             "95% interval, two-sided p)</summary>", ""]
    for group in groups:
        lines += [f"**{md_escape(group.label, 80)}**", "",
                  "| metric | b \u2212 a | difference | interval | p | n | verdict |",
                  "|---|---|---:|---|---:|---:|---|"]
        for c in group.comparisons:
            interval = "" if c.ci_low is None else f"[{c.ci_low:+.3g}, {c.ci_high:+.3g}]"
            lines.append(f"| {md_escape(c.metric, 40)} | {md_escape(c.b, 30)} \u2212 "
                         f"{md_escape(c.a, 30)} | {c.delta:+.3g} | {interval} | "
                         f"{c.p_value:.2g} | {c.n} | "
                         + (f"{md_escape(c.winner, 30)} better" if c.winner else "no difference")
                         + " |")
        lines.append("")
    return [*lines, "</details>", ""]


# ---- the details: one collapsed section per suite -------------------------------------------
def _bound(check: Check, decimals: int) -> str:
    return Finding(_NO_ITEM, check).bound_text(decimals)


def _diff_rows(items: list[ItemResult], diff: RunDiff,
               decimals: dict[str, int]) -> list[list[str]]:
    rows = []
    for item in items:
        entry = diff.item(item.nodeid)
        if entry is None or not entry.metrics:
            continue
        thresholds = {(c.metric, c.aggregate): c for c in item.checks if c.kind == "threshold"}
        recorded = {c.metric: c for c in item.checks if c.kind == "regression"}
        metrics = sorted(entry.metrics, key=lambda m: (
            m.verdict not in ("fail", "error"), m.verdict != "warn", not m.gated, not m.verdict,
            m.metric))
        for index, metric in enumerate(metrics):
            digits = decimals.get(metric.metric, 3)
            threshold = thresholds.get((metric.metric, metric.aggregate))
            verdict = metric.verdict
            rule = recorded.get(metric.metric)
            bound = _bound(rule, digits) if rule is not None else metric.bound
            if threshold is not None and (not verdict or threshold.verdict in ("fail", "error")):
                verdict, bound = threshold.verdict, _bound(threshold, digits)
            current = fmt(metric.current)
            rows.append([
                _item_name(item) if index == 0 else "",
                md_escape(f"{metric.metric} ({metric.aggregate})", 60),
                fmt(metric.baseline),
                f"**{current}**" if verdict in ("fail", "error") else current,
                _delta_cell(metric),
                md_escape(bound, 40) if bound and bound != "-" else "",
                _verdict_cell(verdict),
            ])
    return rows


def _check_rows(items: list[ItemResult]) -> list[list[str]]:
    rows = []
    for item in items:
        for index, check in enumerate(item.checks):
            breach = check.verdict in ("fail", "error", "inconclusive")
            value = md_escape(with_interval(check), 40)
            rows.append([_item_name(item) if index == 0 else "",
                         md_escape(f"{check.metric} ({check.aggregate})", 60),
                         f"**{value}**" if breach else value, md_escape(check.bound, 40),
                         _verdict_cell(check.verdict)])
        if not item.checks:
            rows.append([_item_name(item), "", "", "", _verdict_cell(item.verdict)])
    return rows


def _worst_block(item: ItemResult) -> list[str]:
    lines = [f"**{md_escape(short_name(item), 90)}** \u2014 {item.verdict}", ""]
    if item.message:
        lines.append(f"- {md_escape(item.message, 300)}")
    for check in item.checks:
        if check.verdict in ("fail", "error") and check.message:
            where = f" ({md_escape(check.source, 60)})" if check.source else ""
            lines.append(f"- {md_escape(check.message, 300)}{where}")
    worst = worst_rows(item, 3)
    if worst:
        lines += ["", "| row | score | question | expected | output / error |",
                  "|---|---:|---|---|---|"]
        for row, metric, value in worst:
            problem = "; ".join(row.errors) or went_wrong(row, metric) or output_text(row.output)
            score = f"{md_escape(metric, 30)} = {fmt(value)}" if metric else "error"
            lines.append(f"| {md_escape(row.id, 40)} | {score} | "
                         f"{md_escape(input_text(row), 100)} | "
                         f"{md_escape(expected_text(row), 140)} | {md_escape(problem, 160)} |")
    lines.append("")
    return lines


def _suite_section(budget: _Budget, name: str, items: list[ItemResult],
                   diff: RunDiff | None, decimals: dict[str, int]) -> bool:
    failing = [i for i in items if i.verdict in (FAILED, ERROR)]
    summary = f"Suite {md_escape(name, 60)}: {len(items)} item(s)"
    summary += f", {len(failing)} failed" if failing else ", all passed"
    head = ["<details>", f"<summary>{summary}</summary>", ""]
    if not budget.fits(head, 400):
        return False
    budget.add_all(head)
    rows = _diff_rows(items, diff, decimals) if diff is not None else []
    if rows:
        _table(budget, ["item", "metric", "baseline", "current", "\u0394", "bound", "verdict"],
               ["---", "---", "---:", "---:", "---", "---", "---"], rows, "see the HTML report")
    else:
        _table(budget, ["item", "metric", "value", "bound", "verdict"],
               ["---", "---", "---:", "---", "---"], _check_rows(items), "see the HTML report")
    budget.add("")
    if failing:
        budget.add("#### Failing items")
        budget.add("")
    for shown, item in enumerate(failing):
        block = _worst_block(item)
        if shown >= MAX_FAILING_ITEMS or not budget.fits(block, 300):
            budget.add(f"_\u2026 {len(failing) - shown} more failing item(s) not shown: "
                       "see the HTML report_")
            break
        budget.add_all(block)
    budget.full = False  # _table may stop early; the closing tag must still be written
    budget.add_all(["</details>", ""])
    return True


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
        lines.append(f"- {GREEN} {_item_name(item.item)}: {md_escape(metric.metric, 60)} "
                     f"improved past tolerance ({md_escape(fmt_delta(metric), 40)}): refresh the "
                     "baseline")
    return lines


def _artifact_line(artifacts: Sequence[str], run_url: str) -> str:
    names = ", ".join(md_escape(a, 80) for a in artifacts)
    safe = run_url.startswith("https://") and _SAFE_URL.match(run_url)
    link = f" ([download from the workflow run]({run_url}#artifacts))" if safe else ""
    return f"<sub>Artifacts: {names or 'attached to the run'}{link}</sub>"


def render_markdown(
    run: RunResult,
    baseline: RunResult | None = None,
    artifacts: Sequence[str] = (),
    *,
    run_url: str = "",
    limit: int = DEFAULT_BUDGET,
    diff: RunDiff | None = None,
) -> str:
    """The PR comment. `artifacts` are file names to list; `run_url` (https only) links the run's
    artifacts (`GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`).

    Always shorter than `limit` (capped at GitHub's comment limit).
    """
    limit = min(limit, COMMENT_LIMIT - 1)
    if diff is None and baseline is not None:
        diff = diff_runs(run, baseline)
    budget = _Budget(limit - 600)  # the closing lines and the truncation note always fit
    budget.add_all([MARKER, f"### {_headline(run, diff)}", "", _summary_line(run, diff), ""])
    for warning in run.warnings[:5]:
        budget.add(f"> \u26a0\ufe0f {md_escape(warning, 300)}")
    if len(run.warnings) > 5:
        budget.add(f"> \u2026 and {len(run.warnings) - 5} more warning(s)")
    if run.warnings:
        budget.add("")
    decimals = metric_decimals(run)
    _findings_table(budget, findings(run, diff), decimals)
    groups = compare_variants(run)
    variant_lines = _variant_lines(groups)
    if variant_lines and budget.fits(variant_lines, 2000):
        budget.add_all([*variant_lines, ""])
    if artifacts or run_url:
        budget.add_all([_artifact_line(artifacts, run_url), ""])
    if diff is not None:
        notes = _notes(diff)
        if notes and budget.fits(notes, 400):
            budget.add_all(["<details>", "<summary>Baseline notes</summary>", "", *notes, "",
                            "</details>", ""])
    if groups:
        block = _variant_details(groups)
        if budget.fits(block, 4000):
            budget.add_all(block)
    suites: dict[str, list[ItemResult]] = {}
    for item in run.items:
        suites.setdefault(item.suite or "suite", []).append(item)
    cut = False
    for index, (name, items) in enumerate(suites.items()):
        if not _suite_section(budget, name, items, diff, decimals):
            budget.add(f"_\u2026 {len(suites) - index} more suite(s) not shown: see the HTML "
                       "report_")
            cut = True
            break
    tail: list[str] = []
    if cut or budget.full:
        tail += ["", "_\u2702\ufe0f Truncated to stay under GitHub's comment limit; the HTML "
                 "report and results JSON have everything._"]
    if budget.lines and budget.lines[-1] == "":
        budget.lines.pop()
    text = "\n".join(budget.lines + tail) + "\n"
    if len(text) >= COMMENT_LIMIT:  # belt and braces: never exceed the hard limit
        text = text[: COMMENT_LIMIT - 200].rsplit("\n", 1)[0] + "\n\n_\u2702\ufe0f Truncated._\n"
    return text


_NO_ITEM = ItemResult(nodeid="", suite="", subject="", variant="", dataset="", verdict="")
_SAFE_URL = re.compile(r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~/-]*)?$")
