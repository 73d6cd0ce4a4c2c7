"""`results_frame(path)`: a results JSON as a pandas DataFrame, one line per scored row.

    >>> from pytest_llmgate import results_frame
    >>> df = results_frame(".llmgate/results.json")
    >>> df.groupby(["subject", "variant"])["f1_score"].mean()

Columns: `nodeid, suite, subject, variant, dataset, item_verdict, row_id, line, repeat, status`
(`ok` / `failing` / `erroring`), `failing` (metrics the row fails), `error`, `latency_ms`, one float
column per metric (NaN where a row has no value), and `output`. `level="items"` gives one line per
item with each metric's mean and the item's verdict instead. pandas is imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmgate.errors import MissingExtraError
from pytest_llmgate.results.io import load_results
from pytest_llmgate.results.model import RunResult

if TYPE_CHECKING:
    import pandas

__all__ = ["results_frame"]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:  # pragma: no cover - exercised only without pandas
        raise MissingExtraError("results_frame needs pandas: pip install pandas") from None
    return pandas


def results_frame(path: str | Path | RunResult, *, level: str = "rows") -> pandas.DataFrame:
    """Load a results JSON (or a `RunResult`) into a DataFrame; see the module docstring."""
    from pytest_llmgate.reporting.csv import BASE_COLUMNS, metric_columns, row_records

    pd = _pandas()
    run = path if isinstance(path, RunResult) else load_results(Path(path))
    metrics = metric_columns(run)
    if level == "rows":
        columns = [*BASE_COLUMNS, *(m for m in metrics if m not in BASE_COLUMNS), "output"]
        frame = pd.DataFrame.from_records(list(row_records(run)), columns=columns)
        for metric in metrics:
            frame[metric] = frame[metric].astype("float64")
        return frame
    if level == "items":
        records: list[dict[str, Any]] = []
        for item in run.items:
            record: dict[str, Any] = {
                "nodeid": item.nodeid, "suite": item.suite, "subject": item.subject,
                "variant": item.variant, "dataset": item.dataset, "verdict": item.verdict,
                "rows": len(item.rows), "errored_rows": item.error_count,
                "duration_s": item.duration_s, "dataset_sha256": item.dataset_sha256,
            }
            for metric, aggs in item.aggregates.items():
                record[metric] = aggs.get("mean")
            records.append(record)
        return pd.DataFrame.from_records(records)
    raise ValueError(f"level must be 'rows' or 'items', got {level!r}")
