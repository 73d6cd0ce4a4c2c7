"""Rows as a stream: a row-per-line companion file and per-metric accumulators.

A million scored rows as `RowResult` dicts do not fit a CI runner (the 100k-row item peaked at
549 MiB). This module lets the row path keep only what the verdict needs:

* `RowWriter` appends each row to `<results>.rows.jsonl(.gz)` as it is scored (one JSON object per
  line, `{"item": nodeid, **row.to_dict()}`), and on `close()` writes a trailer line
  `{"end": true, "rows": N}`. A file without its trailer (a run killed mid-way, a truncated gzip)
  reads as incomplete, never as a shorter complete run.
* `iter_rows` / `read_item_rows` read the file lazily (a report reads only the item it shows).
* `JsonlRows` is a JSONL dataset read on demand (12 bytes held per row: where its line is), so
  the dataset side of a million-row item does not sit in memory either.
* `MetricAccumulator` takes each row's metrics and gives exactly the aggregates and intervals
  `gate.aggregates_for` gives for the same rows, from one float per (golden row, metric) instead
  of whole rows: it calls the same `stats` functions on the same values in the same order.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from array import array
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pytest_llmgate.config.datasets import Row
from pytest_llmgate.errors import GateError
from pytest_llmgate.results.model import RowResult, jsonable
from pytest_llmgate.stats import mean_interval, metric_range, summarize

__all__ = [
    "FORMAT",
    "IncompleteRowsError",
    "JsonlRows",
    "MetricAccumulator",
    "RowWriter",
    "companion_path",
    "iter_rows",
    "read_item_rows",
]

FORMAT = "pytest-llmgate/rows"
VERSION = 1
# gzip level 1: a third of level 6's CPU per row (6.5 vs 18 us measured) for a file ~40% larger
LEVEL = 1
_BATCH_BYTES = 1 << 16
_ABSENT = math.nan  # metric values are never NaN (a NaN score is an error row), so it marks "none"


class IncompleteRowsError(GateError, ValueError):
    """The rows file ends before its trailer: the run that wrote it did not finish."""


def companion_path(results: Path, *, compress: bool = True) -> Path:
    """`results.json` -> `results.rows.jsonl.gz` (or `.rows.jsonl`), next to it."""
    name = results.name
    for suffix in (".json.gz", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return results.with_name(f"{name}.rows.jsonl" + (".gz" if compress else ""))


class RowWriter:
    """Append scored rows to a JSONL(.gz) file as they come; `close()` seals it with a trailer.

    Rows go to `<path>.partial` until `close()`, which renames it over `path`: a reader never
    mistakes a run in progress (or a dead one) for a finished one, and an interrupted run's rows
    stay readable in the `.partial` file, flagged incomplete.
    """

    def __init__(self, path: Path, *, meta: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        raw: IO[bytes] = open(self.partial, "wb")  # noqa: SIM115 (closed in close())
        self._raw = raw
        self._out: Any = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=LEVEL, mtime=0)
            if path.suffix == ".gz"
            else raw
        )
        self._buffer = self._out
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.rows = 0
        self._write({"format": FORMAT, "version": VERSION, **dict(meta or {})})

    def _write(self, obj: Mapping[str, Any]) -> None:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=jsonable)
        self._append(line.encode("utf-8"))

    def _append(self, line: bytes) -> None:
        """One line (without its newline) to the pending batch."""
        if self._out is not self._raw and self._out.closed:  # a new gzip member
            self._out = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=LEVEL, mtime=0)
            self._buffer = self._out
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._pending_bytes >= _BATCH_BYTES:
            self._drain()

    def _drain(self) -> None:
        """Hand the lines gathered so far to the file (one compressor call per ~64 KiB instead
        of one per row)."""
        if self._pending:
            self._pending.append(b"")
            self._buffer.write(b"\n".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0

    def write(self, nodeid: str, row: RowResult) -> None:
        self._write({"item": nodeid, **row.to_dict()})
        self.rows += 1

    def write_line(self, line: bytes) -> None:
        """One row's line exactly as another rows file holds it (ending in a newline)."""
        self._append(line[:-1])
        self.rows += 1

    def start_item(self) -> int:
        """Where the next item's rows start: a byte offset a reader can seek to.

        A gzip file gets a new member per item (concatenated members are one valid gzip
        stream), so one item's rows are read without decompressing the items before it."""
        self.end_item()
        return self._raw.tell()

    def end_item(self) -> None:
        """Make the rows written so far readable (the item's rows are read while the run goes
        on: its verdict against a baseline, the reports)."""
        if self._raw.closed:
            return
        self._drain()
        if self._out is not self._raw:
            self._out.close()  # ends the gzip member; the raw file stays open
        self._raw.flush()

    def close(self) -> None:
        """Write the trailer and publish the file (atomic rename)."""
        if self._raw.closed:
            return
        self._write({"end": True, "rows": self.rows})
        self._drain()
        self._buffer.flush()
        if self._out is not self._raw:
            self._out.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self.partial, self.path)

    def abandon(self) -> None:
        """Stop writing without a trailer (an interrupted run): the `.partial` file stays."""
        if self._raw.closed:
            return
        if not getattr(self._out, "closed", False):
            self._drain()
            self._buffer.flush()
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as raw:
        head = raw.read(2)
        raw.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
        try:
            yield from stream
        except (EOFError, gzip.BadGzipFile, OSError) as exc:
            raise IncompleteRowsError(f"{path}: the rows file is cut short ({exc})") from None


def iter_rows(path: Path, nodeid: str | None = None) -> Iterator[tuple[str, RowResult]]:
    """(item node id, row) pairs in file order, read lazily; only `nodeid`'s when given.

    Raises `IncompleteRowsError` at the end when the trailer is missing or disagrees, and
    `ValueError` naming the line of a malformed one.
    """
    seen = 0
    ended = False
    for number, line in enumerate(_lines(path), start=1):
        if ended:
            raise ValueError(f"{path}:{number}: data after the end of the rows")
        try:
            obj = json.loads(line)
        except ValueError as exc:
            if not line.endswith(b"\n"):  # a last line cut mid-way: the writer died
                raise IncompleteRowsError(f"{path}:{number}: the last row is cut short") from None
            raise ValueError(f"{path}:{number}: not valid JSON: {exc}") from None
        if number == 1:
            if not isinstance(obj, dict) or obj.get("format") != FORMAT:
                raise ValueError(f"{path}:1: not a pytest-llmgate rows file")
            if obj.get("version") != VERSION:
                raise ValueError(f"{path}:1: rows format version {obj.get('version')!r} is not "
                                 f"supported (expected {VERSION})")
            continue
        if obj.get("end") is True:
            if obj.get("rows") != seen:
                raise IncompleteRowsError(
                    f"{path}:{number}: trailer says {obj.get('rows')} rows, found {seen}"
                )
            ended = True
            continue
        seen += 1
        item = obj.pop("item", None)
        if not isinstance(item, str):
            raise ValueError(f"{path}:{number}: field item: missing")
        if nodeid is None or item == nodeid:
            try:
                row = RowResult.from_dict(obj)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: malformed row: {exc!r}") from None
            yield item, row
    if not ended:
        raise IncompleteRowsError(f"{path}: no end-of-rows trailer: the run did not finish")


def read_item_rows(path: Path, nodeid: str) -> tuple[RowResult, ...]:
    """Every row of one item (what a drill-down report needs), reading the file once."""
    return tuple(row for _, row in iter_rows(path, nodeid))


class _Metric:
    """One metric's values: one float per golden row (its first sample) plus the rare extras."""

    __slots__ = ("extra", "first")

    def __init__(self) -> None:
        self.first = array("d")
        self.extra: dict[int, list[float]] = {}

    def add(self, unit: int, value: float) -> None:
        first = self.first
        if unit >= len(first):
            first.extend([_ABSENT] * (unit + 1 - len(first)))
        if math.isnan(first[unit]):
            first[unit] = value
        else:
            self.extra.setdefault(unit, []).append(value)

    def groups(self) -> Iterator[list[float]]:
        extra = self.extra
        for unit, value in enumerate(self.first):
            if math.isnan(value):
                continue
            more = extra.get(unit)
            yield [value, *more] if more else [value]


class MetricAccumulator:
    """Streaming equivalent of `gate.aggregates_for` for one item.

    `add(row)` (or `add_metrics(row_id, metrics)`) per row, in the order the rows come; then
    `aggregates()` returns the same dict `aggregates_for(rows)` returns for those rows, bit for
    bit: golden rows are the units (repeats averaged within a row, in row order), `sum`/`count`
    add every sample, the mean interval comes from `stats.mean_interval`.
    """

    def __init__(self) -> None:
        self._units: dict[str, int] = {}
        self._metrics: dict[str, _Metric] = {}
        self.rows = 0
        self.errored = 0  # rows with errors (the error budget)

    def add(self, row: RowResult) -> None:
        if row.errors:
            self.errored += 1
        self.add_metrics(row.id, row.metrics)

    def groups(self, name: str) -> list[list[float]]:
        """`gate.present_groups(rows, name)` without the rows: values per golden row that has
        one (row-bound pass rates, k-of-n and bootstrap intervals read these)."""
        metric = self._metrics.get(name)
        return list(metric.groups()) if metric is not None else []

    def add_metrics(self, row_id: str, metrics: Mapping[str, float]) -> None:
        unit = self._units.get(row_id)
        if unit is None:
            unit = self._units[row_id] = len(self._units)
        self.rows += 1
        for name, value in metrics.items():
            if value is None:
                continue
            metric = self._metrics.get(name)
            if metric is None:
                metric = self._metrics[name] = _Metric()
            metric.add(unit, float(value))

    def metric_names(self) -> list[str]:
        return list(self._metrics)

    def unit_means(self, name: str) -> list[float]:
        """One value per golden row (repeats averaged), in first-seen row order."""
        metric = self._metrics.get(name)
        if metric is None:
            return []
        return [g[0] if len(g) == 1 else sum(g) / len(g) for g in metric.groups()]

    def aggregates(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name, metric in self._metrics.items():
            means = self.unit_means(name)
            summary = summarize(means)
            groups = list(metric.groups()) if metric.extra else None
            if groups is None:  # one sample per golden row: the flat values are the means
                summary["sum"] = sum(means)
                summary["count"] = float(len(means))
            else:  # builtin sum over the same sequence: same result on every Python version
                summary["sum"] = sum(v for g in groups for v in g)
                summary["count"] = float(sum(len(g) for g in groups))
            ci = mean_interval(means, bounds=metric_range(name))
            if ci is not None:
                summary["ci_low"], summary["ci_high"] = ci
            out[name] = summary
        return out


class JsonlRows(Sequence[Row]):
    """The rows of a JSONL file as a sequence parsed on access (the runner indexes rows by job).

    Opening scans the file once for line starts; `rows[i]` reads and parses line i with one
    `pread`. Row ids come from `id_column` (a missing one is a `ValueError` naming the line), or
    are `#<position>` as `datasets.load_dataset` makes them. Blank lines are skipped. Schema
    checks and duplicate-id checks stay with `datasets` (this reader is for the streamed path
    of a dataset `llmgate validate` has passed).
    """

    def __init__(self, path: Path, *, id_column: str | None = None) -> None:
        self.path = path
        self.id_column = id_column
        self._starts = array("q")
        self._lengths = array("l")
        self._lines = array("l")
        offset = 0
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    self._starts.append(offset)
                    self._lengths.append(len(line))
                    self._lines.append(number)
                offset += len(line)
        self._fd = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, index: int) -> Row:  # type: ignore[override]
        if index < 0:
            index += len(self)
        raw = os.pread(self._fd, self._lengths[index], self._starts[index])
        line = self._lines[index]
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{self.path}:{line}: malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}:{line}: each line must be a JSON object")
        if self.id_column is None:
            return Row(id=f"#{index + 1}", line=line, data=data)
        value = data.get(self.id_column)
        if value in (None, ""):
            raise ValueError(f"{self.path}:{line}: {self.id_column}: id is missing")
        return Row(id=str(value), line=line, data=data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)
