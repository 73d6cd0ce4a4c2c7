"""Masking personal data and secrets in what a run writes (`--llm-gate-redact-outputs`).

Scores are computed on the real text first; only what reaches results and reports is masked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pytest_llmgate.results.model import RowResult

__all__ = ["redact_rows", "redact_value"]


def redact_value(value: Any) -> Any:
    """Mask every string inside `value` (dicts and lists are walked)."""
    from pytest_llmgate.evaluators.safety.pii import redact_text

    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


def redact_rows(rows: Sequence[RowResult]) -> list[RowResult]:
    """Rows with outputs, inputs, row data and error messages masked."""
    return [
        dataclasses.replace(
            r,
            output=redact_value(r.output),
            data=redact_value(dict(r.data)),
            inputs=redact_value(dict(r.inputs)),
            errors=tuple(redact_value(list(r.errors))),
        )
        for r in rows
    ]
