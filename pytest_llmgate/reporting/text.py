"""Plain-text output for the terminal: breaches first, then a compact table within 120 columns,
and a failing item's worst rows with question, expected and output.

Everything from the data passes `printable`: a model answer holding `\\x1b[2J` must not clear the
reviewer's screen.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_llmgate.reporting._common import (
    Finding,
    expected_text,
    findings,
    input_text,
    metric_decimals,
    output_text,
    printable,
    rounded,
    short_name,
    worst_of,
)
from pytest_llmgate.reporting.transcript import went_wrong
from pytest_llmgate.results.model import Check, ItemResult, RowResult, RunResult

__all__ = ["WIDTH", "format_value", "render_findings", "render_item_failure", "render_summary",
           "render_variants", "table"]

MAX_CELL = 60
WIDTH = 120


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.4g}"


def _cell(text: object, width: int = MAX_CELL) -> str:
    flat = printable(" ".join(str(text).split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[object]],
          max_width: int | None = None) -> str:
    """Left-aligned text table; with `max_width`, the widest columns are cut (with …) until a
    line fits."""
    cells = [[_cell(c, 200) for c in header]] + [[_cell(c, 200) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    if max_width is not None:
        while sum(widths) + 2 * (len(widths) - 1) > max_width and max(widths) > 8:
            widest = widths.index(max(widths))
            widths[widest] -= 1
        cells = [[c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(r, widths, strict=True)]
                 for r in cells]
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


def _check_row(check: Check, decimals: int | None = None) -> list[object]:
    shown = check.verdict.upper() if check.verdict != "pass" else "pass"
    metric = f"{check.metric} (regression)" if check.kind == "regression" else check.metric
    bound = check.bound if decimals is None else (
        Finding(_NO_ITEM, check).bound_text(decimals) or "-")
    return [metric, check.aggregate, with_interval(check), bound, shown]


_NO_ITEM = ItemResult(nodeid="", suite="", subject="", variant="", dataset="", verdict="")


def _worst_rows(item: ItemResult, limit: int = 5) -> list[RowResult]:
    failing = [
        c
        for c in item.checks
        if c.verdict in ("fail", "error", "inconclusive") and c.kind in ("threshold", "regression")
        and c.metric not in ("dataset", "error_rate", "aggregation")
    ]
    metric = failing[0].metric if failing else None
    lower_bad = bool(failing) and (failing[0].min is not None or failing[0].max is None)
    errored, scored = worst_of(item.rows, limit, metric, lower_bad)
    ranked: list[RowResult] = [*errored, *scored]
    return ranked[:limit]


def _indented(indent: str, text: str, width: int = WIDTH) -> str:
    return indent + _cell(text, width - len(indent))


def _line(label: str, text: str, width: int = WIDTH) -> str:
    return _indented(f"      {label + ':':<10}", text, width)


def render_item_failure(item: ItemResult) -> str:
    """What a failing item shows instead of a traceback: the checks, then the worst rows with
    their question, expected answer and output (dict outputs as `key: value`)."""
    lines = [f"llm-gate: {printable(item.nodeid)} {item.verdict.upper()}"]
    if item.message:
        lines.append(printable(item.message))
    lines.append(f"{len(item.rows)} rows, {item.error_count} errored, dataset "
                 f"{printable(item.dataset)}")
    decimals = metric_decimals(RunResult(items=(item,)))
    if item.checks:
        lines.append(
            table(
                ["metric", "aggregate", "value", "bound", "verdict"],
                [_check_row(c, decimals.get(c.metric, 3)) for c in item.checks],
                max_width=WIDTH,
            )
        )
    for check in item.checks:
        if check.verdict in ("fail", "error", "inconclusive") and check.message:
            where = f" [{check.source}]" if check.source else ""
            lines.append(_cell(f"  {check.verdict.upper()}: {check.message}{where}", 400))
    worst = _worst_rows(item)
    if worst:
        failing = [c.metric for c in item.checks if c.verdict in ("fail", "error")
                   and c.metric not in ("dataset", "error_rate", "aggregation")]
        metric = failing[0] if failing else None
        lines.append("worst rows:")
        for row in worst:
            score = f"{metric} = {format_value(row.metrics.get(metric))}" if metric else ""
            if row.errors:  # whole: an error says what to fix
                lines.append(_cell(f"{row.id}  ERROR  {'; '.join(row.errors)}", 900))
            else:
                lines.append(_cell(f"{row.id}  {score}", WIDTH))
            question = input_text(row)
            if question:
                lines.append(_line("question", question))
            expected = expected_text(row)
            if expected:
                lines.append(_line("expected", expected))
            wrong = None if row.errors else went_wrong(row, metric)
            if wrong:  # a conversation: the turn where it went wrong
                lines.append(_line("went wrong", wrong))
            elif not row.errors:
                lines.append(_line("output", output_text(row.output)))
    return "\n".join(lines)


def render_findings(run: RunResult, diff: object = None, limit: int = 30) -> list[str]:
    """One line per breach or regression, most severe first (what a reviewer reads first)."""
    found = findings(run, diff)  # type: ignore[arg-type]
    decimals = metric_decimals(run)
    lines = []
    for finding in found[:limit]:
        check = finding.check
        name = short_name(finding.item)
        if check is None:
            text = f"{finding.verdict.upper():<5} {name}: {finding.message()}"
        else:
            digits = decimals.get(check.metric, 3)
            label = f"{check.metric} {check.aggregate}".strip()
            if check.kind == "regression" and check.baseline is not None:
                shown = (f"{rounded(check.baseline, digits)} -> {rounded(check.value, digits)}"
                         f" (allowed {finding.bound_text(digits) or '-'})")
                label += " (regression)"
            else:
                shown = f"{rounded(check.value, digits)}, needs {finding.bound_text(digits) or '-'}"
            if check.p_value is not None:
                shown += f", p={check.p_value:.2g}"
            where = f" [{check.source}]" if check.source else ""
            text = f"{check.verdict.upper():<5} {name}: {label} = {shown}{where}"
        lines.append(_indented("  ", text))
    if len(found) > limit:
        lines.append(f"  ... and {len(found) - limit} more (see the HTML report)")
    return lines


def render_summary(run: RunResult, diff: object = None, *, verbose: bool = False) -> str:
    """Breaches and regressions first, then one table within 120 columns: an item whose checks
    all pass takes one line (every check with `verbose`), skip reasons are listed once below."""
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
    lines = [head]
    found = render_findings(run, diff)
    if found:
        lines += ["breaches and regressions:", *found]
    body: list[list[object]] = []
    decimals = metric_decimals(run)
    skipped: dict[str, list[str]] = {}
    shorts = [short_name(i) for i in run.items]
    for item, short in zip(run.items, shorts, strict=True):
        name = short if shorts.count(short) == 1 else item.nodeid  # two suites, same subject
        if item.verdict == "skipped":
            skipped.setdefault(item.message or "skipped", []).append(item.nodeid)
            continue
        checks = list(item.checks)
        if not checks:
            body.append([name, "", "", "", "", item.verdict.upper()])
            continue
        problems = [c for c in checks if c.verdict != "pass"]
        if not verbose and not problems:
            body.append([name, f"all {len(checks)} checks pass", "", "", "", "pass"])
            continue
        shown = checks if verbose else problems
        for index, check in enumerate(shown):
            body.append([name if index == 0 else "",
                         *_check_row(check, decimals.get(check.metric, 3))])
        if not verbose and len(checks) > len(shown):
            body.append(["", f"+ {len(checks) - len(shown)} passing checks", "", "", "", ""])
        if item.verdict == "error" and item.message:
            body.append(["", "", "", "", "", f"ERROR ({item.message})"])
    if body:
        lines.append(table(["item", "metric", "aggregate", "value", "bound", "verdict"], body,
                           max_width=WIDTH))
    for reason, names in skipped.items():  # whole: a skip reason says what to set
        lines.append(_cell(f"SKIPPED {len(names)} ({', '.join(names)}): {reason}", 2000))
    return "\n".join(lines)


def render_variants(run: RunResult) -> str:
    """The A/B verdict between variants: per (suite, subject, dataset), each pair's paired
    difference on each gated metric, its interval and p; the best variant where significant."""
    from pytest_llmgate.reporting.variants import compare_variants

    groups = compare_variants(run)
    if not groups:
        return "llm-gate variants: no subject ran two or more variants on the same dataset"
    lines = []
    for group in groups:
        best = ", ".join(f"{v} on {m}" for m, v in group.best.items())
        lines.append(_cell(f"llm-gate variants {group.label} ({' vs '.join(group.variants)}): "
                           + (f"best {best}" if best else "no variant is significantly better"),
                           WIDTH))
        body = []
        for c in group.comparisons:
            interval = "" if c.ci_low is None else f"[{c.ci_low:+.3g}, {c.ci_high:+.3g}]"
            body.append([c.metric, f"{c.b} - {c.a}", f"{c.delta:+.3g}", interval,
                         f"{c.p_value:.2g}", c.n, f"{c.winner} better" if c.winner else "same"])
        lines.append(table(["metric", "pair", "difference", "95% interval", "p", "n", "verdict"],
                           body, max_width=WIDTH))
    return "\n".join(lines)
