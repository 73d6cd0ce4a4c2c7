"""JSON Schemas for user files, and validation that reports `file:line: field: problem`."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pytest_llmgate.util.yamlio import Located

__all__ = ["load_schema", "validate_located"]


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Load a packaged schema (`suite`, `thresholds`)."""
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _message(error: Any) -> str:
    validator = error.validator
    if validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown key {', '.join(map(repr, extra))} (allowed: {allowed})"
    if validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if validator == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = " or ".join(expected)
        return f"expected {expected}, got {type(error.instance).__name__} {error.instance!r}"[:200]
    return str(error.message)[:200]


def validate_located(doc: Located, schema_name: str) -> None:
    """Validate a located YAML document; raise the single most useful error."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(load_schema(schema_name))
    error = best_match(validator.iter_errors(doc.data))
    if error is None:
        return
    # descend into oneOf/anyOf to the most specific cause
    while error.context:
        deeper = best_match(error.context)
        if deeper is None:
            break
        error = deeper
    key = tuple(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = error.message.split("'")[1] if "'" in error.message else None
        if missing:
            raise doc.error((*key, missing), "is required") from None
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            key = (*key, extra[0])
    raise doc.error(key, _message(error)) from None
