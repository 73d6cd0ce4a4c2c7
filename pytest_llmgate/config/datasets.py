"""Golden datasets: JSONL, CSV, JSON and (when pandas/pyarrow are present) Parquet.

Rows are validated as they are read: a malformed line, a ragged CSV record, a duplicate id or a
row that breaks the dataset's JSON Schema stops the run with `file:line: field: problem`. Nothing
is ever dropped silently; blank JSONL lines are not rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmgate.config.rows import DatasetSpec, Row, check_value, validate_rows
from pytest_llmgate.errors import InputError
from pytest_llmgate.util.yamlio import check_regular_file, read_text

__all__ = ["Dataset", "DatasetSpec", "Row", "load_dataset"]

FORMATS = ("jsonl", "csv", "json", "parquet")


@dataclass(frozen=True)
class Dataset:
    """Loaded rows plus the content hash that tells a baseline whether data changed."""

    spec: DatasetSpec
    rows: Sequence[Row]  # a tuple, or rows read on demand (`lazydataset`) for a big JSONL file
    sha256: str
    total_rows: int
    columns: tuple[str, ...] = field(default=())


def _format_of(spec: DatasetSpec) -> str:
    if spec.format:
        return spec.format
    suffix = spec.path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in FORMATS:
        return suffix
    raise InputError(
        spec.path,
        f"unknown dataset format {spec.path.suffix!r} (use .jsonl, .csv, .json or .parquet)",
    )


def _parse_jsonl(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    # split on newlines only: str.splitlines() also breaks on U+2028/U+2029/U+0085, which JSON
    # allows raw inside strings
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                path, f"malformed JSON: {exc.msg} (column {exc.colno})", line=number
            ) from None
        if not isinstance(value, dict):
            raise InputError(
                path, f"each line must be a JSON object, got {type(value).__name__}", line=number
            )
        rows.append((number, value))
    return rows


def _parse_json(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"malformed JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InputError(path, "a .json dataset must be a list of objects")
    return [(index + 1, row) for index, row in enumerate(value)]


def _parse_csv(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        header = next(reader, None)
        if header is None:
            return rows
        header = [h.strip() for h in header]
        if any(not h for h in header):
            raise InputError(path, "empty column name in header", line=1)
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise InputError(path, f"duplicate column {dupes[0]!r} in header", line=1)
        for record in reader:
            line = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if len(record) != len(header):
                raise InputError(
                    path,
                    f"expected {len(header)} fields, got {len(record)} (check quoting)",
                    line=line,
                )
            rows.append((line, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        raise InputError(path, f"malformed CSV: {exc}", line=reader.line_num) from None
    return rows


def _parse_parquet(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        import pandas as pd
    except ImportError:
        raise InputError(
            path, "reading Parquet needs pandas and pyarrow: pip install pandas pyarrow"
        ) from None
    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise InputError(path, "reading Parquet needs pyarrow: pip install pyarrow") from None
    except Exception as exc:
        raise InputError(path, f"cannot read Parquet: {exc}") from None
    records = json.loads(frame.to_json(orient="records", force_ascii=False))
    return [(index + 1, row) for index, row in enumerate(records)]


def _select(spec: DatasetSpec, rows: list[Row]) -> list[Row]:
    if spec.sample is not None and spec.sample < len(rows):
        chosen = sorted(random.Random(spec.seed).sample(range(len(rows)), spec.sample))
        rows = [rows[i] for i in chosen]
    if spec.limit is not None:
        rows = rows[: spec.limit]
    return rows


def load_dataset(spec: DatasetSpec) -> Dataset:
    """Read, validate and select rows; errors are one line with file and line number."""
    fmt = _format_of(spec)
    if fmt == "jsonl" and _size(spec.path) >= _lazy_bytes():
        return _load_lazily(spec)
    if fmt == "parquet":
        check_regular_file(spec.path)
        try:
            raw = spec.path.read_bytes()
        except OSError as exc:
            raise InputError(spec.path, f"cannot read file: {exc.strerror or exc}") from None
        parsed = _parse_parquet(spec.path)
    else:
        text = read_text(spec.path)
        raw = text.encode("utf-8")
        parser = {"jsonl": _parse_jsonl, "csv": _parse_csv, "json": _parse_json}[fmt]
        parsed = parser(spec.path, text)
    if not parsed:
        raise InputError(spec.path, "dataset has no rows")
    for line, values in parsed:
        for key, value in values.items():
            check_value(spec.path, line, key, value)
    validate_rows(spec, parsed)

    rows: list[Row] = []
    seen: dict[str, int] = {}
    id_column = spec.id_column
    if id_column is None and all("id" in values for _, values in parsed):
        id_column = "id"
    for position, (line, values) in enumerate(parsed, start=1):
        if id_column is not None:
            if id_column not in values or values[id_column] in (None, ""):
                raise InputError(spec.path, "id is missing", line=line, field=id_column)
            row_id = str(values[id_column])
        else:
            row_id = f"#{position}"
        if row_id in seen:
            raise InputError(
                spec.path,
                f"duplicate id {row_id!r} (first on line {seen[row_id]})",
                line=line,
                field=id_column,
            )
        seen[row_id] = line
        rows.append(Row(id=row_id, line=line, data=values))
    columns: dict[str, None] = {}
    for _, values in parsed:
        columns.update(dict.fromkeys(values))
    return Dataset(
        spec=spec,
        rows=tuple(_select(spec, rows)),
        sha256=hashlib.sha256(raw).hexdigest(),
        total_rows=len(rows),
        columns=tuple(columns),
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the eager path reports why it cannot read the file


def _lazy_bytes() -> int:
    from pytest_llmgate.config.lazydataset import LAZY_BYTES

    return LAZY_BYTES


def _load_lazily(spec: DatasetSpec) -> Dataset:
    """A big JSONL dataset validated in one pass and parsed row by row when run
    (`lazydataset`): the same checks, errors, hash and columns as the eager path."""
    from pytest_llmgate.config.lazydataset import scan_jsonl

    rows, sha256, columns = scan_jsonl(spec)
    selected: Sequence[Row] = rows
    if spec.sample is not None and spec.sample < len(rows):  # as `_select`, reading the sample
        chosen = sorted(random.Random(spec.seed).sample(range(len(rows)), spec.sample))
        selected = tuple(rows[i] for i in chosen)
    if spec.limit is not None:
        selected = selected[: spec.limit]
    return Dataset(spec=spec, rows=selected, sha256=sha256, total_rows=len(rows),
                   columns=columns)
