"""Golden rows and how a suite names a dataset, with the checks every loader applies to a row.

Shared by the eager loader (`datasets`) and the lazy one for big JSONL files (`lazydataset`), so
both read the same rows and refuse the same ones with the same `file:line: field:` error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import InputError
from pytest_llmgate.util.yamlio import read_text

__all__ = ["DatasetSpec", "Row", "check_value", "validate_rows"]


@dataclass(frozen=True)
class Row:
    """One golden row: a stable id (join key for baselines), its source line and its fields."""

    id: str
    line: int
    data: Mapping[str, Any]


@dataclass(frozen=True)
class DatasetSpec:
    """How a suite refers to a dataset."""

    name: str
    path: Path
    format: str | None = None
    schema: Path | None = None
    id_column: str | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0


def check_value(path: Path, line: int, key: str, value: Any) -> None:
    """A non-finite number in a row is an input error, not a score."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(path, f"non-finite number {value!r}", line=line, field=key)


@lru_cache(maxsize=64)
def _validator(schema_path: Path) -> Any:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        schema = json.loads(read_text(schema_path))
    except json.JSONDecodeError as exc:
        raise InputError(schema_path, f"malformed JSON: {exc.msg}", line=exc.lineno) from None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InputError(schema_path, f"invalid JSON Schema: {exc.message}") from None
    return Draft202012Validator(schema)


def validate_rows(spec: DatasetSpec, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Check (line, row) pairs against the dataset's JSON Schema: the first error, located."""
    if spec.schema is None:
        return
    from jsonschema.exceptions import best_match

    validator = _validator(spec.schema)
    for line, row in rows:
        error = best_match(validator.iter_errors(row))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "required":
                where = error.message.split("'")[1] if "'" in error.message else where
                problem = "required column is missing"
            else:
                problem = error.message[:200]
            raise InputError(
                spec.path, f"{problem} (schema {spec.schema.name})", line=line, field=where or None
            )
