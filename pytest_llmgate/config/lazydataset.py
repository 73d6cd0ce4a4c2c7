"""Large JSONL datasets read on demand: validated in one pass, then parsed row by row when run.

A million golden rows as dicts take more memory than the whole rest of a streamed run. For a
JSONL file above `LAZY_BYTES`, `datasets.load_dataset` uses `scan_jsonl`: one pass over the file
checks exactly what the eager loader checks (JSON objects, finite numbers, the JSON Schema, ids
present and unique), reports the same first problem with the same `file:line: field: problem`,
and computes the same content hash and columns; what stays in memory is where each row's line is
(20 bytes per row). `JsonlRowsView[i]` parses line i again when the runner reaches it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

from pytest_llmgate.config.rows import DatasetSpec, Row, check_value, validate_rows
from pytest_llmgate.errors import InputError
from pytest_llmgate.util.yamlio import check_regular_file

__all__ = ["LAZY_BYTES", "JsonlRowsView", "scan_jsonl"]

# files at least this big load lazily (the example datasets and the tests' stay eager)
LAZY_BYTES = 8 << 20
_BOM = b"\xef\xbb\xbf"


class JsonlRowsView(Sequence[Row]):
    """Rows of a validated JSONL file, parsed on access; slices are views too."""

    def __init__(
        self,
        path: Path,
        starts: array[int],
        lengths: array[int],
        lines: array[int],
        positions: array[int],
        id_column: str | None,
    ) -> None:
        self.path = path
        self._starts = starts
        self._lengths = lengths
        self._lines = lines
        self._positions = positions  # 1-based position in the file (the `#n` ids)
        self.id_column = id_column

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> JsonlRowsView: ...

    def __getitem__(self, index: int | slice) -> Row | JsonlRowsView:
        if isinstance(index, slice):
            return JsonlRowsView(self.path, self._starts[index], self._lengths[index],
                                 self._lines[index], self._positions[index], self.id_column)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            raw = os.pread(fd, self._lengths[index], self._starts[index])
        finally:
            os.close(fd)
        line = self._lines[index]
        try:
            data = json.loads(raw.decode("utf-8").removesuffix("\r"))
        except ValueError as exc:  # the file changed since it was checked
            raise InputError(
                self.path, f"changed while the run read it: {exc}", line=line
            ) from None
        if not isinstance(data, dict):
            raise InputError(self.path, "changed while the run read it", line=line)
        if self.id_column is None:
            return Row(id=f"#{self._positions[index]}", line=line, data=data)
        return Row(id=str(data[self.id_column]), line=line, data=data)

    def __iter__(self) -> Iterator[Row]:
        for index in range(len(self)):
            yield self[index]


class _FirstProblem:
    """The first problem of each kind, in file order: raised in the eager loader's order (it
    parses every line, then checks numbers, then the schema, then ids)."""

    def __init__(self) -> None:
        self.found: dict[str, tuple[str, int, str | None]] = {}

    def note(self, kind: str, message: str, line: int, field: str | None = None) -> None:
        self.found.setdefault(kind, (message, line, field))

    def raise_first(self, path: Path, kinds: Sequence[str]) -> None:
        for kind in kinds:
            if kind in self.found:
                message, line, field = self.found[kind]
                raise InputError(path, message, line=line, field=field)


def scan_jsonl(spec: DatasetSpec) -> tuple[JsonlRowsView, str, tuple[str, ...]]:
    """(rows, sha256, columns) of a JSONL dataset, validated as `load_dataset` validates."""

    path = spec.path
    check_regular_file(path)
    digest = hashlib.sha256()
    starts, lengths, lines, positions = array("q"), array("q"), array("q"), array("q")
    problems = _FirstProblem()
    columns: dict[str, None] = {}
    ids: dict[str, int] = {}
    all_have_id = True
    id_column = spec.id_column
    offset = 0
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            start = offset
            offset += len(raw)
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
                start += len(_BOM)
            digest.update(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # the eager loader decodes the whole file first
                problems.note("utf8", f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
                                      f"{start + exc.start})", number)
                continue
            text = text.removesuffix("\n").removesuffix("\r")
            if not text.strip():
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.note("json", f"malformed JSON: {exc.msg} (column {exc.colno})", number)
                continue
            if not isinstance(values, dict):
                problems.note("json", f"each line must be a JSON object, got "
                                      f"{type(values).__name__}", number)
                continue
            if "json" in problems.found or "utf8" in problems.found:
                continue  # the eager loader stops at the first unparseable line
            for key, value in values.items():
                bad = isinstance(value, float) and not math.isfinite(value)
                if bad and "number" not in problems.found:
                    try:
                        check_value(path, number, key, value)
                    except InputError as err:
                        problems.found["number"] = (err.problem, number, key)
            if spec.schema is not None and "schema" not in problems.found:
                try:
                    validate_rows(spec, [(number, values)])
                except InputError as err:
                    problems.found["schema"] = (err.problem, number, err.field)
            columns.update(dict.fromkeys(values))
            key = id_column or "id"
            if key not in values:
                all_have_id = False
                if id_column is not None:
                    problems.note("id", "id is missing", number, id_column)
            elif "id" not in problems.found:
                value = values[key]
                if value in (None, ""):
                    problems.note("id", "id is missing", number, key)
                else:
                    row_id = str(value)
                    first = ids.setdefault(row_id, number)
                    if first != number:
                        problems.note("id", f"duplicate id {row_id!r} (first on line {first})",
                                      number, key)
            starts.append(start)
            lengths.append(len(raw))
            lines.append(number)
            positions.append(len(starts))
    problems.raise_first(path, ("utf8", "json"))
    if not starts:
        raise InputError(path, "dataset has no rows")
    problems.raise_first(path, ("number", "schema"))
    if id_column is None and all_have_id:
        id_column = "id"
    if id_column is not None:
        problems.raise_first(path, ("id",))
    del ids
    view = JsonlRowsView(path, starts, lengths, lines, positions, id_column)
    return view, digest.hexdigest(), tuple(columns)
