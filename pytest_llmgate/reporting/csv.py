"""Per-row scores as CSV: one line per (item, row), one column per metric.

Text cells that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR first) get a
leading apostrophe (OWASP's CSV-injection advice): model output must not run in Excel. Control
characters are written as escapes (`\\x1b`), so `cat rows.csv` cannot clear or retitle a terminal.
Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from pytest_llmgate.reporting._common import output_text, printable, row_failures
from pytest_llmgate.results.model import RunResult

__all__ = ["BASE_COLUMNS", "metric_columns", "render_csv", "row_records"]

BASE_COLUMNS = ("nodeid", "suite", "subject", "variant", "dataset", "item_verdict", "row_id",
                "line", "repeat", "status", "failing", "error", "latency_ms")
TAIL_COLUMNS = ("output",)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        if value.startswith(_FORMULA):
            value = "'" + value
        return printable(value, keep="\n\t")  # a quoted cell may hold lines
    return value


def metric_columns(run: RunResult) -> list[str]:
    """Every metric any row produced, in first-seen order."""
    names: dict[str, None] = {}
    for item in run.items:
        for row in item.rows:
            names.update(dict.fromkeys(row.metrics))
    return list(names)


def row_records(run: RunResult) -> Iterator[dict[str, Any]]:
    """One dict per row (shared by the CSV and the DataFrame)."""
    for item in run.items:
        failures = row_failures(item)
        for row in item.rows:
            failing = failures(row)
            record: dict[str, Any] = {
                "nodeid": item.nodeid, "suite": item.suite, "subject": item.subject,
                "variant": item.variant, "dataset": item.dataset, "item_verdict": item.verdict,
                "row_id": row.id, "line": row.line, "repeat": row.repeat,
                "status": "erroring" if row.errors else "failing" if failing else "ok",
                "failing": ",".join(failing), "error": "; ".join(row.errors),
                "latency_ms": row.latency_ms,
            }
            record.update(row.metrics)
            record["output"] = output_text(row.output)
            yield record


def _lines(run: RunResult, columns: Iterable[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for record in row_records(run):
        writer.writerow({k: _safe(v) for k, v in record.items()})
    return buffer.getvalue()


def render_csv(run: RunResult, baseline: RunResult | None = None) -> str:
    """The CSV text (the baseline is accepted for a uniform renderer signature; unused)."""
    columns = [*BASE_COLUMNS, *(m for m in metric_columns(run) if m not in BASE_COLUMNS),
               *TAIL_COLUMNS]
    return _lines(run, columns)

