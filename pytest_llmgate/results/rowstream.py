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
* What the verdict needs of each row stays in memory as columns (`storedrows.RowColumns`).
"""

from __future__ import annotations

import gzip
import json
import os
from array import array
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pytest_llmgate.config.datasets import Row
from pytest_llmgate.errors import GateError
from pytest_llmgate.results.model import RowResult, jsonable

__all__ = [
    "FORMAT",
    "IncompleteRowsError",
    "JsonlRows",
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
