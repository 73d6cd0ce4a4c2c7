"""The self-contained HTML report: one file, no network, safe with hostile data.

Python builds a JSON document (verdict, per-suite metric tables with deltas, chart data, rows);
`report.html` + `report.css` + `report.js` are inlined around it. Safety does not rest on one
layer:
- the data sits in `<script type="application/json">` with `<`, `>`, `&`, U+2028/9 written as
  `\\u003c`-style escapes, so no string can close the element (a big report's data is base64 of
  its gzip, which has no such character at all; see pack.py);
- `report.js` renders with `textContent`/`createElementNS` only (a test greps it for innerHTML);
- a Content-Security-Policy allows only this script and this stylesheet by hash, and no fetches,
  so even a rendering bug could not run injected script or phone home.
Rows travel as dictionary-encoded columns (pack.py); the page draws one page of them at a time,
builds a row only when it is drawn or searched, and lays out sections below the fold only when
scrolled to, so a 50,000-row report opens in under two seconds (bench/bench_report.py).
"""

from __future__ import annotations

import base64
import contextlib
import gc
import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from pytest_llmgate.config.thresholds import HIGHER_IS_BETTER, direction_of
from pytest_llmgate.reporting._common import (
    EXPECTED_KEYS,
    INPUT_KEYS,
    Finding,
    findings,
    fmt_delta,
    metric_decimals,
    rounded,
    row_failures,
    short_name,
)
from pytest_llmgate.reporting.pack import embed, json_for_script, pack_report
from pytest_llmgate.reporting.rowbudget import BINS, DEFAULT_ROW_BUDGET, RowScan, scan_rows, shares
from pytest_llmgate.reporting.text import with_interval
from pytest_llmgate.reporting.transcript import with_transcript
from pytest_llmgate.reporting.variants import compare_variants
from pytest_llmgate.results.model import ItemResult, RowResult, RunResult
from pytest_llmgate.verdict.compare import RunDiff, diff_runs, run_cost

__all__ = ["json_for_script", "render_html", "report_data"]

MAX_STRING = 10_000  # per field: a 1 MB model answer must not make the page unusable
MAX_HIST_METRICS = 16


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text("utf-8")


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


def _cut(value: Any) -> Any:
    """Bound every string in a JSON-able value (and make the value JSON-able)."""
    kind = type(value)
    if kind is str:
        if len(value) > MAX_STRING:
            return value[:MAX_STRING] + f"\u2026 [{len(value) - MAX_STRING} more characters]"
        return value
    if kind is dict:  # the common case (dataset rows): short strings pass straight through
        return {k if type(k) is str else str(k):
                v if type(v) is str and len(v) <= MAX_STRING else _cut(v)
                for k, v in value.items()}
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, Mapping):
        return {str(k): _cut(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cut(v) for v in value]
    return _cut(str(value))


def _metric_ranges(items: Sequence[ItemResult]) -> dict[str, tuple[float, float]]:
    """Shared histogram ranges, gated metrics first (they take the MAX_HIST_METRICS slots before
    ungated ones such as a safety suite's detectors)."""
    gated = {c.metric for i in items for c in i.checks}
    ranges: dict[str, tuple[float, float]] = {}
    ordered = [(m, a) for i in items for m, a in i.aggregates.items() if m in gated]
    ordered += [(m, a) for i in items for m, a in i.aggregates.items() if m not in gated]
    for metric, aggs in ordered:
        low, high = aggs.get("min"), aggs.get("max")
        if low is None or high is None or not math.isfinite(low) or not math.isfinite(high):
            continue  # a NaN or infinite score has no bin (and must not crash the report)
        if metric in ranges:
            a, b = ranges[metric]
            ranges[metric] = (min(a, low), max(b, high))
        elif len(ranges) < MAX_HIST_METRICS:
            ranges[metric] = (low, high)
    return ranges


def _item_cost(item: ItemResult) -> float | None:
    costs = [u.get("cost_usd") for u in item.usage.values() if u.get("cost_usd") is not None]
    return float(sum(c for c in costs if c is not None)) if costs else None


def _item_data(index: int, item: ItemResult, diff: RunDiff | None,
               ranges: Mapping[str, tuple[float, float]], scan: RowScan) -> dict[str, Any]:
    item_diff = diff.item(item.nodeid) if diff is not None else None
    metrics = []
    if item_diff is not None and item_diff.metrics:
        for m in item_diff.metrics:
            metrics.append({"metric": m.metric, "aggregate": m.aggregate, "value": _num(m.current),
                            "baseline": _num(m.baseline), "delta": fmt_delta(m),
                            "change": m.change, "verdict": m.verdict, "gated": m.gated})
    else:
        gated = {c.metric for c in item.checks}
        for metric, aggs in item.aggregates.items():
            metrics.append({"metric": metric, "aggregate": "mean", "value": _num(aggs.get("mean")),
                            "baseline": None, "delta": "", "change": "", "verdict": "",
                            "gated": metric in gated})
    checks = [{"kind": c.kind, "metric": c.metric, "aggregate": c.aggregate,
               "value": _num(c.value), "shown": with_interval(c), "bound": c.bound,
               "min": _num(c.min), "max": _num(c.max), "verdict": c.verdict,
               "baseline": _num(c.baseline), "message": c.message, "source": c.source,
               "ciLow": _num(c.ci_low), "ciHigh": _num(c.ci_high), "p": _num(c.p_value)}
              for c in item.checks]
    hist = {m: {"lo": _num(lo), "hi": _num(hi), "bins": scan.hist[m]}
            for m, (lo, hi) in ranges.items() if m in item.aggregates}
    latency = item.aggregates.get("latency_ms", {}).get("mean")
    shown = {} if scan.keep is None else {"shown": len(scan.keep), "rowsNote": scan.note}
    return {
        "index": index, "nodeid": item.nodeid, "short": short_name(item), "suite": item.suite,
        "suitePath": item.suite_path,
        "subject": item.subject, "variant": item.variant, "dataset": item.dataset,
        "verdict": item.verdict, "message": item.message, "rows": len(item.rows),
        "errored": scan.errored, "duration": _num(item.duration_s),
        "status": item_diff.status if item_diff is not None else "",
        "notes": list(item_diff.notes) if item_diff is not None else [],
        "metrics": metrics, "checks": checks, "hist": hist,
        "cost": _num(_item_cost(item)), "latency": _num(latency),
        "means": {m: _num(a.get("mean")) for m, a in item.aggregates.items()},
        **shown,
    }


class _DataTable:
    """Dataset rows sent once: variants (and repeats) of one golden set share their rows, which
    are usually the biggest part of a row (a retrieved context), so a 10-variant report would
    otherwise carry every golden row ten times. Rows are keyed by dataset hash and row id, and
    checked for equality, so a changed row is never confused with its namesake."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.index: dict[tuple[str, str], list[tuple[Any, int]]] = {}

    def add(self, item: ItemResult, row: RowResult) -> int:
        key = (item.dataset_sha256 or item.dataset_path or item.dataset, row.id)
        candidates = self.index.setdefault(key, [])
        for data, position in candidates:
            if data is row.data or data == row.data:
                return position
        self.rows.append(_cut(dict(row.data)))
        candidates.append((row.data, len(self.rows) - 1))
        return len(self.rows) - 1


def _kept_rows(rows: Sequence[RowResult], keep: frozenset[int] | None) -> Iterator[RowResult]:
    """The rows at the positions in `keep` (every row when None), in order, in one pass that
    stops after the last; stored rows parse only those (`StoredRows.rows_at`)."""
    if keep is None:
        yield from rows
        return
    reader = getattr(rows, "rows_at", None)
    if callable(reader):
        for count, row in enumerate(reader(keep), 1):
            yield row
            if count == len(keep):
                return  # the rest of the file holds none of them
        return
    last = max(keep, default=-1)
    for position, row in enumerate(rows):
        if position > last:
            return
        if position in keep:
            yield row


def _row_data(index: int, item: ItemResult, table: _DataTable, keep: frozenset[int] | None,
              outputs: dict[str, Any] | None) -> list[list[Any]]:
    """The embedded rows of one item: all of them, or those at the positions in `keep` (read in
    one pass, stopping after the last). `outputs` collects their first-repeat outputs by id
    (the baseline matrix compares with them)."""
    failures = row_failures(item)
    out: list[list[Any]] = []
    for row in _kept_rows(item.rows, keep):
        if outputs is not None and row.repeat == 0:
            outputs[row.id] = row.output
        failing = failures(row)
        status = 2 if row.errors else 1 if failing else 0
        # inputs usually restate dataset columns: keep only what adds information
        extra_inputs = {k: v for k, v in row.inputs.items() if row.data.get(k) != v}
        out.append([
            index, row.id, status,
            {k: round(v, 6) if math.isfinite(v) else None for k, v in row.metrics.items()},
            _cut(row.output), table.add(item, row), _cut(extra_inputs), list(row.errors),
            _cut(with_transcript(row)), failing, row.line, row.repeat,
            _num(row.latency_ms), _num(row.metrics.get("cost_usd")),
        ])
    return out


def _finding_data(finding: Finding, index: dict[str, int], decimals: dict[str, int]
                  ) -> dict[str, Any]:
    check = finding.check
    out: dict[str, Any] = {
        "item": index.get(finding.item.nodeid, -1), "nodeid": finding.item.nodeid,
        "short": short_name(finding.item), "verdict": finding.verdict, "kind": finding.kind,
        "message": _cut(finding.message()),
    }
    if check is not None:
        digits = decimals.get(check.metric, 3)
        out.update({
            "metric": check.metric, "aggregate": check.aggregate,
            "value": rounded(check.value, digits), "bound": finding.bound_text(digits),
            "baseline": None if check.baseline is None else rounded(check.baseline, digits),
            "interval": None if check.ci_low is None or check.ci_high is None else
            f"[{rounded(check.ci_low, digits)}, {rounded(check.ci_high, digits)}]",
            "p": None if check.p_value is None else f"{check.p_value:.2g}",
            "source": check.source,
        })
    return out


def _has_baseline(diff: RunDiff | None, item: ItemResult) -> bool:
    entry = diff.item(item.nodeid) if diff is not None else None
    return entry is not None and entry.baseline is not None


def _baseline_rows(run: RunResult, diff: RunDiff | None, outputs: Mapping[int, dict[str, Any]],
                   limits: Sequence[tuple[int | None, bool]]) -> dict[str, dict[str, list[Any]]]:
    """Per current item index: the baseline item's rows by id -> [output, metrics, errors]. An
    output equal to the current one is sent as 0 (the page reuses the current output): an
    unchanged 50,000-row run does not carry its answers twice. `outputs` are the embedded rows'
    outputs by id; per item `limits` says (its share of the row budget, whether rows were left
    out): a baseline item over the share sends only the rows whose ids the page shows."""
    if diff is None:
        return {}
    out: dict[str, dict[str, list[Any]]] = {}
    for index, item in enumerate(run.items):
        entry = diff.item(item.nodeid)
        if entry is None or entry.baseline is None:
            continue
        current = outputs.get(index, {})
        share, cut = limits[index]
        only = cut or (share is not None and len(entry.baseline.rows) > share)
        out[str(index)] = {
            r.id: [0 if r.id in current and current[r.id] == r.output else _cut(r.output),
                   {k: _num(v) for k, v in r.metrics.items()}, list(r.errors)]
            for r in entry.baseline.rows if r.repeat == 0 and (not only or r.id in current)
        }
    return out


def _variant_data(run: RunResult) -> list[dict[str, Any]]:
    return [{
        "label": g.label, "suite": g.suite, "subject": g.subject, "dataset": g.dataset,
        "variants": list(g.variants), "best": dict(g.best),
        "comparisons": [{"metric": c.metric, "a": c.a, "b": c.b, "n": c.n,
                         "meanA": _num(c.mean_a), "meanB": _num(c.mean_b),
                         "delta": _num(c.delta), "ciLow": _num(c.ci_low),
                         "ciHigh": _num(c.ci_high), "p": _num(c.p_value),
                         "winner": c.winner} for c in g.comparisons],
    } for g in compare_variants(run)]


def _default_metric(run: RunResult) -> str:
    """The chart's first metric: the first failing check's, else the first gated quality metric
    (never latency plotted against itself)."""
    for finding in findings(run, warnings=False):
        if finding.check is not None and finding.check.metric not in (
                "error_rate", "aggregation", "dataset"):
            return finding.check.metric
    for item in run.items:
        for check in item.checks:
            if check.kind == "threshold" and direction_of(check.metric) == HIGHER_IS_BETTER \
                    and check.metric in item.aggregates:
                return check.metric
    for item in run.items:
        for metric in item.aggregates:
            if direction_of(metric) == HIGHER_IS_BETTER:
                return metric
    return ""


def report_data(run: RunResult, diff: RunDiff | None = None, *,
                row_budget: int | None = DEFAULT_ROW_BUDGET) -> dict[str, Any]:
    """The JSON document the page renders (also handy for tests). At most `row_budget` rows are
    embedded (None: all); what is left out stays in the results (see rowbudget.py)."""
    ranges = _metric_ranges(run.items)
    index = {item.nodeid: i for i, item in enumerate(run.items)}
    decimals = metric_decimals(run)
    quotas = shares([len(item.rows) for item in run.items], row_budget)
    scans = [scan_rows(item, ranges, quota, row_budget)
             for item, quota in zip(run.items, quotas, strict=True)]
    items = [_item_data(i, item, diff, ranges, scans[i]) for i, item in enumerate(run.items)]
    rows: list[list[Any]] = []
    table = _DataTable()
    outputs: dict[int, dict[str, Any]] = {}
    for i, item in enumerate(run.items):
        kept = outputs.setdefault(i, {}) if _has_baseline(diff, item) else None
        rows.extend(_row_data(i, item, table, scans[i].keep, kept))
    total = sum(scan.total for scan in scans)
    shown = {} if len(rows) == total else {"rowsShown": len(rows), "rowBudget": row_budget}
    suites: dict[str, list[int]] = {}
    for i, item in enumerate(run.items):
        suites.setdefault(item.suite or "suite", []).append(i)
    counts: dict[str, int] = {}
    for item in run.items:
        counts[item.verdict] = counts.get(item.verdict, 0) + 1
    git = run.meta.get("git") or {}
    return {
        "format": "pytest-llmgate/report", "version": 1,
        "verdict": "incomplete" if run.incomplete else run.verdict,
        "started": str(run.meta.get("started_at") or ""),
        "commit": str(git.get("commit") or "")[:12], "branch": str(git.get("branch") or ""),
        "counts": counts, "rowCount": total, **shown,
        "errored": sum(scan.errored for scan in scans),
        "cost": _num(run_cost(run)),
        "baseline": None if diff is None else {
            "label": diff.baseline_label, "costDelta": _num(diff.cost_delta),
            "cost": _num(diff.cost_baseline), "regressed": len(diff.regressed),
            "new": [d.nodeid for d in diff.new], "removed": [d.nodeid for d in diff.removed],
            "refresh": [f"{d.nodeid}: {m.metric}" for d, m in diff.improvements],
        },
        "warnings": [_cut(w) for w in run.warnings],
        "suites": [{"name": k, "items": v} for k, v in suites.items()],
        "items": items,
        "rows": rows,
        "data": table.rows,
        "binCount": BINS,
        "findings": [_finding_data(f, index, decimals) for f in findings(run, diff)],
        "variants": _variant_data(run),
        "baseRows": _baseline_rows(run, diff, outputs, [
            (quota, scan.keep is not None) for quota, scan in zip(quotas, scans, strict=True)]),
        "defaultMetric": _default_metric(run),
        "expectedKeys": list(EXPECTED_KEYS),
        "inputKeys": list(INPUT_KEYS),
    }


@contextlib.contextmanager
def _young_collections_only() -> Iterator[None]:
    """Building the page makes millions of small lists and dicts that live until it is written,
    and each automatic full collection walks them and the whole run again: on the bench's
    50,000-row run that was a third of the render time. Young collections still run; the old
    threshold comes back when the page is built (runner.young_gc_only does the same for rows)."""
    saved = gc.get_threshold()
    gc.set_threshold(saved[0], saved[1], 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def render_html(run: RunResult, baseline: RunResult | None = None, *,
                diff: RunDiff | None = None, title: str = "LLM gate report",
                compress: bool | None = None,
                row_budget: int | None = DEFAULT_ROW_BUDGET) -> str:
    """One self-contained HTML page for `run` (with deltas against `baseline` when given). Its
    data is packed in columns, and gzipped when big (`compress` forces either way): see pack.py.
    It embeds at most `row_budget` rows (None: every row): see rowbudget.py."""
    if diff is None and baseline is not None:
        diff = diff_runs(run, baseline)
    css = _asset("report.css")
    js = _asset("report.js")
    csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    page = _asset("report.html")
    # the data goes in last: replacing placeholders inside it could be steered by the data
    parts = page.split("__DATA__")
    if len(parts) != 2:
        raise RuntimeError("report.html must contain __DATA__ exactly once")
    head, tail = parts
    head = (head.replace("__CSP__", csp).replace("__TITLE__", _escape_html(title))
            .replace("/*__CSS__*/", css))
    tail = tail.replace("/*__JS__*/", js)
    with _young_collections_only():
        data = report_data(run, diff, row_budget=row_budget)
        return head + embed(pack_report(data), compress=compress) + tail


def _escape_html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))
