"""An item's rows kept in the row-per-line companion file instead of memory.

`StoredRows` is the `Sequence[RowResult]` an `ItemResult` holds when its rows were streamed to
`<results>.rows.jsonl(.gz)` (see `rowstream`): iterating it reads the item's rows from the file
(one gzip member per item, found by its byte offset), so every reader of `item.rows` (reports,
diff, merge, the frame) works unchanged and holds one row at a time.

What the verdict needs from every row is kept in memory as columns (`RowColumns`: one float per
row and metric, the golden-row index, the repeat, the error messages of the few errored rows), so
deciding an item never re-reads the file: `gate` and `decision` ask `rows.columns` for the same
values, in the same order, that they would compute from the rows themselves.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
from abc import abstractmethod
from array import array
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, overload

from pytest_llmgate.results.goldenids import GoldenIds
from pytest_llmgate.results.model import ResultsFormatError, RowResult, RunResult, stored_file
from pytest_llmgate.results.rowstream import FORMAT, RowWriter, companion_path

__all__ = [
    "ColumnRows",
    "JoinedRows",
    "MetricGroups",
    "RowColumns",
    "RowsFile",
    "RowsFileError",
    "StoredRows",
    "attach_rows",
    "built_columns",
    "check_rows_file",
    "columns_of",
    "pair_aligned",
    "read_item_at",
    "read_rows_at",
    "store_run",
    "worst_stored",
]

_ABSENT = math.nan  # metric values are never NaN (a NaN score is an error row)


class RowsFileError(ResultsFormatError):
    """A companion file that cannot give an item's rows (missing, cut short, malformed)."""


class RowsFile:
    """Where a run's companion file is: shared by its items, moved once when it is published."""

    __slots__ = ("path", "rows")

    def __init__(self, path: Path, rows: int = 0) -> None:
        self.path = path
        self.rows = rows  # rows in the whole file (its trailer's count)


class RowColumns:
    """The per-row values decisions need, as compact columns, in row order.

    Adding a million rows keeps ~8 bytes per (row, metric) plus the golden row ids (packed,
    `goldenids.GoldenIds`), instead of a `RowResult` with its dicts per row."""

    def __init__(self) -> None:
        self.unit_ids = GoldenIds()
        self.unit = array("i")  # 4 bytes a row: golden row index
        self.repeat = array("i")
        self.errors: dict[int, tuple[str, ...]] = {}
        self.metrics: dict[str, array[float]] = {}
        self.rows = 0
        self._grouping: tuple[int, array[int], array[int]] | None = None

    def add(self, row: RowResult) -> None:
        index = self.rows
        self.unit.append(self.unit_ids.unit_of(row.id))
        self.repeat.append(row.repeat)
        if row.errors:
            self.errors[index] = tuple(row.errors)
        for name, value in row.metrics.items():
            column = self.metrics.get(name)
            if column is None:
                column = self.metrics[name] = array("d")
            if len(column) < index:
                column.extend([_ABSENT] * (index - len(column)))
            column.append(float(value))
        self.rows += 1

    def seal(self) -> None:
        """The item's rows are all in: drop the id index only `add` needs (a million ids)."""
        self.unit_ids.seal()

    def __len__(self) -> int:
        return self.rows

    @property
    def errored(self) -> int:
        return len(self.errors)

    def metric_names(self) -> list[str]:
        """Every metric any row produced, in first-seen order (as `aggregates_for` orders them)."""
        return list(self.metrics)

    def values(self, name: str) -> Iterator[float | None]:
        """The metric's value per row (None where the row has none), in row order."""
        column = self.metrics.get(name)
        if column is None:
            yield from (None for _ in range(self.rows))
            return
        for value in column:
            yield None if value != value else value
        yield from (None for _ in range(self.rows - len(column)))

    def row_groups(self, name: str) -> list[list[float | None]]:
        """`gate.row_groups` from the columns: per golden row (first-seen order), one entry per
        repeat."""
        return list(self.groups(name))

    def groups(self, name: str, *, present: bool = False) -> MetricGroups:
        """The metric's values per golden row as a sequence that builds each golden row's list
        when it is read (a million rows are never all lists at once); `present` leaves out the
        repeats without a value (`gate.present_groups`)."""
        return MetricGroups(self, name, present=present)

    def grouping(self) -> tuple[array[int], array[int]] | None:
        """Row indices ordered by golden row (first-seen order, repeats in row order) and where
        each golden row's indices start (one more entry than golden rows); None without repeats
        (row i is golden row i). 4 bytes a row, built once and kept while no row is added."""
        if len(self.unit_ids) == self.rows:
            return None
        cached = self._grouping
        if cached is not None and cached[0] == self.rows:
            return cached[1], cached[2]
        units = len(self.unit_ids)
        starts = array("q", bytes(8 * (units + 1)))
        for unit in self.unit:
            starts[unit + 1] += 1
        for unit in range(units):
            starts[unit + 1] += starts[unit]
        fill = array("q", starts)
        order = array("i", bytes(4 * self.rows))
        for index, unit in enumerate(self.unit):
            order[fill[unit]] = index
            fill[unit] += 1
        self._grouping = (self.rows, order, starts)
        return order, starts

    def total(self, name: str) -> float:
        """`sum(r.metrics.get(name, 0.0) for r in rows)`, over the same values in order."""
        return sum(0.0 if v is None else v for v in self.values(name))

    def row_keys(self) -> Iterator[tuple[str, int]]:
        """(row id, repeat) per row, in row order (the baseline join key)."""
        ids = self.unit_ids
        return ((ids[u], r) for u, r in zip(self.unit, self.repeat, strict=True))


    def light_row(self, index: int) -> RowResult:
        """Row `index` as the verdict sees it: id, repeat, metrics and errors (no data or
        output: those stay in the rows file)."""
        metrics = {}
        for name, column in self.metrics.items():
            if index < len(column):
                value = column[index]
                if value == value:
                    metrics[name] = value
        return RowResult(
            id=self.unit_ids[self.unit[index]], line=0, data={}, inputs={}, output=None,
            metrics=metrics, errors=self.errors.get(index, ()), repeat=self.repeat[index],
        )

    def subset(self, indices: Sequence[int]) -> RowColumns:
        """The columns of the rows at `indices`, in that order."""
        out = RowColumns()
        for index in indices:
            out.add(self.light_row(index))
        out.seal()
        return out


class MetricGroups(Sequence[list[float | None]]):
    """One metric's values per golden row, read from the columns as they are asked for.

    What `gate.row_groups` (or, `present`, `gate.present_groups`) would return, in the same
    order and with the same values, without holding a list per golden row: the aggregates,
    intervals and pass rates of a million-row item iterate it (memory stays at the columns)."""

    def __init__(self, columns: RowColumns, name: str, *, present: bool = False) -> None:
        self.columns = columns
        self.name = name
        self.present = present
        self._column = columns.metrics.get(name, array("d"))

    def __len__(self) -> int:
        return len(self.columns.unit_ids)

    def _group(self, indices: Iterable[int]) -> list[float | None]:
        column, size = self._column, len(self._column)
        if self.present:
            return [column[i] for i in indices if i < size and column[i] == column[i]]
        return [column[i] if i < size and column[i] == column[i] else None for i in indices]

    def __iter__(self) -> Iterator[list[float | None]]:
        grouping = self.columns.grouping()
        if grouping is not None:
            order, starts = grouping
            for unit in range(len(self)):
                yield self._group(order[starts[unit] : starts[unit + 1]])
            return
        for value in self._column:  # no repeats: row i is golden row i
            if value == value:
                yield [value]
            else:
                yield [] if self.present else [None]
        for _ in range(self.columns.rows - len(self._column)):
            yield [] if self.present else [None]

    @overload
    def __getitem__(self, index: int) -> list[float | None]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[list[float | None]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> list[float | None] | Sequence[list[float | None]]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        grouping = self.columns.grouping()
        if grouping is None:
            return self._group((index,))
        order, starts = grouping
        return self._group(order[starts[index] : starts[index + 1]])


class _Rows(Sequence[RowResult]):
    """Indexing for the row sequences below: each gives its length, iteration and `_row(i)`
    for an index already checked (non-negative, in range); a slice is a tuple of its rows."""

    @overload
    def __getitem__(self, index: int) -> RowResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[RowResult]: ...

    def __getitem__(self, index: int | slice) -> RowResult | Sequence[RowResult]:
        if isinstance(index, slice):
            return tuple(self)[index]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._row(position)

    @abstractmethod
    def _row(self, index: int) -> RowResult: ...


class ColumnRows(_Rows):
    """Rows as the verdict sees them (`RowColumns.light_row`), with their columns: what a
    baseline comparison keeps of a streamed item's paired rows."""

    def __init__(self, columns: RowColumns) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return self.columns.rows

    def __iter__(self) -> Iterator[RowResult]:
        return (self.columns.light_row(i) for i in range(self.columns.rows))

    def _row(self, index: int) -> RowResult:
        return self.columns.light_row(index)


def pair_aligned(
    current: Sequence[RowResult], baseline: Sequence[RowResult]
) -> tuple[Sequence[RowResult], Sequence[RowResult], int] | None:
    """The usual baseline join of a streamed item without holding either side's rows: both
    runs have the same rows (id, repeat) in the same order. Reads both in step once and keeps
    the columns of the rows whose data are unchanged: (current's, baseline's, changed-data
    count). None when either side is not streamed or the rows do not line up (the caller
    joins by key)."""
    cur_columns, base_columns = columns_of(current), columns_of(baseline)
    if cur_columns is None and base_columns is None:
        return None
    if len(current) != len(baseline):
        return None
    if cur_columns is not None and base_columns is not None:
        if not _same_keys(cur_columns, base_columns):
            return None
    else:
        cur_keys = (cur_columns.row_keys() if cur_columns is not None
                    else ((r.id, r.repeat) for r in current))
        base_keys = (base_columns.row_keys() if base_columns is not None
                     else ((r.id, r.repeat) for r in baseline))
        seen: set[tuple[str, int]] = set()
        for a, b in zip(cur_keys, base_keys, strict=True):
            if a != b or a in seen:
                return None
            seen.add(a)
        del seen
    same = array("i")
    for index, (ours, theirs) in enumerate(zip(current, baseline, strict=True)):
        if dict(ours.data) == dict(theirs.data):
            same.append(index)
    changed = len(current) - len(same)
    return _keep(current, cur_columns, same), _keep(baseline, base_columns, same), changed


def _same_keys(current: RowColumns, baseline: RowColumns) -> bool:
    """Both items have the same rows (id, repeat) in the same order, no key twice: compared
    column to column (the same golden rows in the same first-seen order give the same golden
    row indices), never a set of a million (id, repeat) tuples."""
    if not (current.unit_ids == baseline.unit_ids and current.unit == baseline.unit
            and current.repeat == baseline.repeat):
        return False
    grouping = current.grouping()
    if grouping is None:  # every row its own golden row: no key can come twice
        return True
    order, starts = grouping
    repeat = current.repeat
    for unit in range(len(current.unit_ids)):
        repeats = [repeat[i] for i in order[starts[unit] : starts[unit + 1]]]
        if len(set(repeats)) != len(repeats):
            return False
    return True


def _keep(
    rows: Sequence[RowResult], columns: RowColumns | None, indices: Sequence[int]
) -> Sequence[RowResult]:
    if columns is None:
        return tuple(rows[i] for i in indices) if len(indices) != len(rows) else tuple(rows)
    if len(indices) == len(rows):
        return ColumnRows(columns)
    return ColumnRows(columns.subset(indices))


def columns_of(rows: Sequence[RowResult]) -> RowColumns | None:
    """The columns behind `rows` when they are stored rows, else None (rows in memory)."""
    columns = getattr(rows, "columns", None)
    return columns if isinstance(columns, RowColumns) else None


def columns_from(rows: Iterable[RowResult]) -> RowColumns:
    """The columns of `rows`, in one pass (a stored item's first need of them)."""
    columns = RowColumns()
    for row in rows:
        columns.add(row)
    columns.seal()
    return columns


def built_columns(rows: Sequence[RowResult]) -> RowColumns | None:
    """The columns behind `rows` when they are in memory already: never reads the rows file to
    build them (None for rows held in memory, and for stored rows nothing has needed yet)."""
    if isinstance(rows, StoredRows):
        return rows._columns
    if isinstance(rows, ColumnRows):
        return rows.columns
    return None


class StoredRows(_Rows):
    """One item's rows in a companion file, read on iteration; their columns in memory.

    `columns` is given by the run that wrote the rows, or built by one pass over the file when
    something first needs it (a results file loaded later)."""

    def __init__(
        self,
        where: RowsFile,
        nodeid: str,
        offset: int,
        count: int,
        columns: RowColumns | None = None,
    ) -> None:
        self.where = where
        self.nodeid = nodeid
        self.offset = offset
        self.size = count
        self._columns = columns

    @property
    def path(self) -> Path:
        return self.where.path

    @property
    def columns(self) -> RowColumns:
        if self._columns is None:
            self._columns = columns_from(self)
        return self._columns

    @property
    def has_columns(self) -> bool:
        """Whether the columns are in memory already (else `columns` reads the whole item)."""
        return self._columns is not None

    def stored(self) -> dict[str, int]:
        """The item's pointer into the companion file, as the results JSON records it."""
        return {"offset": self.offset, "rows": self.size}

    def rows_at(self, positions: Container[int]) -> Iterator[RowResult]:
        """The rows at `positions` (0-based), in row order, parsing only those: the HTML report
        embeds a few thousand rows of a million. The whole item is read: one cut short is an
        error however early the rows asked for come."""
        scanned = _scan(self.path, self.offset, self.nodeid, self.size, positions)
        return (row for _, row in scanned if row is not None)

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __iter__(self) -> Iterator[RowResult]:
        return read_item_at(self.path, self.offset, self.nodeid, self.size)

    def _row(self, index: int) -> RowResult:
        for position, row in enumerate(self):
            if position == index:
                return row
        raise IndexError(index)  # pragma: no cover - read_item_at checks the count

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredRows):
            return (self.path, self.nodeid, self.offset, self.size) == (
                other.path, other.nodeid, other.offset, other.size,
            )
        if isinstance(other, Sequence):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StoredRows({str(self.path)!r}, {self.nodeid!r}, {self.size} rows)"


class JoinedRows(_Rows):
    """The row slices of one item (its shards), one after another, without loading them: what
    `llmgate merge` decides and writes when the slices' rows are stored. `columns` (one pass
    over the slices) serves the verdict; `store_run` copies stored slices' lines as they are."""

    def __init__(self, nodeid: str, parts: Sequence[Sequence[RowResult]]) -> None:
        self.nodeid = nodeid
        self.parts = tuple(parts)
        self._columns: RowColumns | None = None

    @property
    def where(self) -> RowsFile | None:
        """The first stored slice's file (`results.model.stored_file`: the run has rows to
        store), None when every slice is in memory."""
        return next((p.where for p in self.parts if isinstance(p, StoredRows)), None)

    @property
    def columns(self) -> RowColumns:
        if self._columns is None:
            self._columns = columns_from(self)
        return self._columns

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def __iter__(self) -> Iterator[RowResult]:
        for part in self.parts:
            yield from part

    def _row(self, index: int) -> RowResult:
        for part in self.parts:
            if index < len(part):
                return part[index]
            index -= len(part)
        raise IndexError(index)  # pragma: no cover - the base class checked the bounds


def _open_at(path: Path, offset: int) -> Any:
    raw = path.open("rb")
    raw.seek(offset)
    head = raw.read(2)
    raw.seek(offset)
    return raw, (gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw)


def read_item_at(path: Path, offset: int, nodeid: str, count: int) -> Iterator[RowResult]:
    """The `count` rows of item `nodeid` starting at byte `offset` of a companion file.

    Fewer rows than recorded (a file cut short, rows of another item) is
    `RowsFileError` naming the file: a report never shows a shorter item as complete."""
    for _, row in _scan(path, offset, nodeid, count, None):
        if row is not None:
            yield row


def read_rows_at(
    path: Path, offset: int, nodeid: str, count: int, wanted: Iterable[int]
) -> dict[int, RowResult]:
    """The rows at positions `wanted` of item `nodeid` (as `read_item_at` numbers them from 0),
    reading the item's lines up to the last one wanted and parsing only those."""
    positions = frozenset(wanted)
    if not positions:
        return {}
    found: dict[int, RowResult] = {}
    for position, row in _scan(path, offset, nodeid, min(count, max(positions) + 1), positions):
        if row is not None:
            found[position] = row
    return found


def _item_lines(path: Path, offset: int, nodeid: str, count: int) -> Iterator[bytes]:
    """Up to `count` whole lines from byte `offset` (the caller checks they are the item's);
    fewer than `count` is `RowsFileError` naming the file."""
    try:
        raw, stream = _open_at(path, offset)
    except OSError as exc:
        raise RowsFileError(
            f"{path}: rows file of {nodeid} cannot be read: {exc.strerror or exc}"
        ) from None
    seen = 0
    try:
        with raw:
            while seen < count:
                try:
                    line = stream.readline()
                except (EOFError, gzip.BadGzipFile, OSError) as exc:
                    raise RowsFileError(f"{path}: the rows file is cut short ({exc})") from None
                if not line.endswith(b"\n"):
                    break
                seen += 1
                yield line
    finally:
        if stream is not raw:
            stream.close()
    if seen < count:
        raise _foreign(path, nodeid, count, seen)


def _line_prefix(nodeid: str) -> bytes:
    """How `RowWriter` starts every line of item `nodeid`."""
    return b'{"item":' + json.dumps(nodeid, ensure_ascii=False).encode("utf-8") + b","


def _foreign(path: Path, nodeid: str, count: int, seen: int) -> RowsFileError:
    return RowsFileError(
        f"{path}: {nodeid}: {count} rows recorded, {seen} found: the rows file is incomplete"
    )


def _scan(
    path: Path, offset: int, nodeid: str, count: int, wanted: Container[int] | None
) -> Iterator[tuple[int, RowResult | None]]:
    """(position, row) for `count` rows of the item; None for a row not `wanted` (its line is
    checked to belong to the item, not parsed)."""
    prefix = _line_prefix(nodeid)
    for seen, line in enumerate(_item_lines(path, offset, nodeid, count)):
        if wanted is not None and seen not in wanted and line.startswith(prefix):
            yield seen, None
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise RowsFileError(
                f"{path}: row {seen + 1} of {nodeid}: not valid JSON: {exc}"
            ) from None
        if not isinstance(obj, dict) or obj.pop("item", None) != nodeid:
            raise _foreign(path, nodeid, count, seen)
        if wanted is not None and seen not in wanted:
            yield seen, None
            continue
        try:
            row = RowResult.from_dict(obj)
        except (KeyError, TypeError, ValueError) as exc:
            raise RowsFileError(
                f"{path}: row {seen + 1} of {nodeid}: malformed row: {exc!r}"
            ) from None
        yield seen, row


def item_lines(path: Path, offset: int, nodeid: str, count: int) -> Iterator[bytes]:
    """The `count` lines of item `nodeid` from byte `offset`, as stored (what `read_item_at`
    parses), for copying rows between files; anything short or foreign is `RowsFileError`."""
    prefix = _line_prefix(nodeid)
    for seen, line in enumerate(_item_lines(path, offset, nodeid, count)):
        if not line.startswith(prefix):
            raise _foreign(path, nodeid, count, seen)
        yield line


def worst_stored(
    rows: StoredRows, limit: int, metric: str | None, low_is_bad: bool
) -> tuple[list[RowResult], list[RowResult]]:
    """`reporting.worst_of` for stored rows: the rows chosen from the columns (errored rows in
    row order; the `limit` worst on `metric`, ties in row order), then only those read back."""
    columns = rows.columns
    errored = sorted(columns.errors)[:limit]
    scored: list[int] = []
    if metric is not None:
        column = columns.metrics.get(metric, array("d"))
        errors = columns.errors
        candidates = (
            i for i, value in enumerate(column) if value == value and i not in errors
        )
        pick = heapq.nsmallest if low_is_bad else heapq.nlargest
        scored = pick(limit, candidates, key=column.__getitem__)
    found = read_rows_at(rows.path, rows.offset, rows.nodeid, rows.size, [*errored, *scored])
    return [found[i] for i in errored], [found[i] for i in scored]


def check_rows_file(path: Path, rows: int) -> str | None:
    """Why a companion file cannot stand for a finished run's rows, or None when it can.

    Reads the whole file without parsing rows: its header, and a trailer that ends it and counts
    the `rows` the results say it holds."""
    if not path.is_file():
        return f"its rows file {path.name} is missing"
    try:
        raw, stream = _open_at(path, 0)
        with raw:
            first = stream.readline()
            tail = b""
            lines = 0
            while chunk := stream.read(4 << 20):
                lines += chunk.count(b"\n")
                tail = (tail + chunk)[-65536:]
        last = tail[:-1].rsplit(b"\n", 1)[-1] if tail.endswith(b"\n") else b""
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        return f"its rows file {path.name} is cut short ({exc})"
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return f"{path.name} is not a pytest-llmgate rows file"
    try:
        trailer = json.loads(last) if last else None
    except ValueError:
        trailer = None
    if not isinstance(trailer, dict) or trailer.get("end") is not True:
        return f"its rows file {path.name} has no end-of-rows trailer (the run did not finish)"
    if trailer.get("rows") != rows:
        return (
            f"its rows file {path.name} holds {trailer.get('rows')} rows, the results say {rows}"
        )
    if lines - 1 != rows:  # rows and the trailer after the header line
        return f"its rows file {path.name} holds {lines - 1} rows, its trailer says {rows}"
    return None


def attach_rows(run: RunResult, data: Mapping[str, Any], path: Path) -> RunResult:
    """A loaded run whose streamed items read their rows from the companion file named in the
    results JSON. A companion that is missing, cut short or not sealed makes the run incomplete
    (never a baseline), with the reason."""
    spec = data.get("rows_file")
    name = spec.get("name") if isinstance(spec, Mapping) else None
    total = spec.get("rows") if isinstance(spec, Mapping) else None
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ResultsFormatError(f"{path}: rows_file.name: expected a file name next to it")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ResultsFormatError(f"{path}: rows_file.rows: expected a row count")
    where = RowsFile(path.with_name(name), total)
    items = []
    for number, (item, raw) in enumerate(zip(run.items, data.get("items", ()), strict=True)):
        stored = raw.get("rows_stored") if isinstance(raw, Mapping) else None
        if stored is None:
            items.append(item)
            continue
        offset = _count(stored, "offset")
        count = _count(stored, "rows")
        if offset is None or count is None:
            raise ResultsFormatError(
                f"{path}: items[{number}].rows_stored: expected offset and rows (integers)"
            )
        items.append(replace(item, rows=StoredRows(where, item.nodeid, offset, count)))
    problem = check_rows_file(where.path, total)
    if problem is None:
        return replace(run, items=tuple(items))
    return replace(
        run,
        items=tuple(items),
        incomplete=True,
        incomplete_reason=problem,
        warnings=(*run.warnings, f"{path.name}: {problem}: the run is incomplete"),
    )


def _count(stored: Any, key: str) -> int | None:
    value = stored.get(key) if isinstance(stored, Mapping) else None
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def store_run(run: RunResult, results: Path) -> RunResult:
    """The run with its streamed items' rows in the companion file of `results` (written once,
    item by item, when they are not there already)."""
    source = stored_file(run)
    target = companion_path(results, compress=source is None or source.path.suffix == ".gz")
    sources = {
        id(item.rows.where): item.rows.where
        for item in run.items
        if isinstance(item.rows, StoredRows)
    }
    joined = any(isinstance(item.rows, JoinedRows) for item in run.items)
    if len(sources) == 1 and source is not None and _same(source.path, target) and not joined:
        return run
    where = RowsFile(target)
    items = []
    with RowWriter(target) as writer:
        for item in run.items:
            rows = item.rows
            if not isinstance(rows, (StoredRows, JoinedRows)):
                items.append(item)
                continue
            offset = writer.start_item()
            for part in rows.parts if isinstance(rows, JoinedRows) else (rows,):
                if isinstance(part, StoredRows):  # as written: no parse and no re-encoding
                    for line in item_lines(part.path, part.offset, part.nodeid, len(part)):
                        writer.write_line(line)
                else:
                    for row in part:
                        writer.write(item.nodeid, row)
            moved = StoredRows(where, item.nodeid, offset, len(rows), rows._columns)
            items.append(replace(item, rows=moved))
        writer.end_item()
    where.rows = writer.rows
    return replace(run, items=tuple(items))


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
