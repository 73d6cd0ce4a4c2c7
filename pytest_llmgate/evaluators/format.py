"""Built-in format checks: substring, regex, JSON validity and schema, length, latency.

They return 1.0/0.0 (or a count) so thresholds gate them like any metric, e.g.
`json_valid: {aggregate: min, min: 1}` or
`contains: {aggregate: pass_rate, row: {min: 1}, min: 0.9}`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import EvaluationError, InputError

__all__ = ["Contains", "JsonSchema", "JsonValid", "Latency", "Length", "Regex"]

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def _text(value: Any, name: str = "response") -> str:
    if value is None:
        raise EvaluationError(f"{name} is missing")
    from pytest_llmgate.results.model import jsonable

    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=jsonable)


class Contains:
    """1.0 when the response contains the expected text (any/all of several)."""

    name = "contains"
    outputs = ("contains",)

    def __init__(
        self, value: str | list[str] | None = None, *, ignore_case: bool = True, mode: str = "any"
    ) -> None:
        if mode not in ("any", "all"):
            raise ValueError("mode must be 'any' or 'all'")
        self.value = value
        self.ignore_case = ignore_case
        self.mode = mode

    def __call__(self, *, response: Any, expected: Any = None) -> dict[str, float]:
        needles = expected if expected is not None else self.value
        if needles is None:
            raise EvaluationError("nothing to look for: set args.value or map inputs.expected")
        if isinstance(needles, str):
            needles = [needles]
        text = _text(response)
        if self.ignore_case:
            text = text.casefold()
            needles = [str(n).casefold() for n in needles]
        hits = [str(n) in text for n in needles]
        found = all(hits) if self.mode == "all" else any(hits)
        return {"contains": 1.0 if found else 0.0}


class Regex:
    """1.0 when `pattern` matches the response (re.search)."""

    name = "regex"
    outputs = ("regex_match",)

    def __init__(self, pattern: str, *, flags: str = "") -> None:
        bits = 0
        for flag in flags:
            if flag not in _FLAGS:
                raise ValueError(f"unknown regex flag {flag!r} (use i, m, s, x)")
            bits |= _FLAGS[flag]
        try:
            self.pattern = re.compile(pattern, bits)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from None

    def __call__(self, *, response: Any) -> dict[str, float]:
        return {"regex_match": 1.0 if self.pattern.search(_text(response)) else 0.0}


class JsonValid:
    """1.0 when the response parses as JSON (dict/list outputs are valid by construction)."""

    name = "json_valid"
    outputs = ("json_valid",)

    def __call__(self, *, response: Any) -> dict[str, float]:
        if not isinstance(response, str):
            return {"json_valid": 1.0 if response is not None else 0.0}
        try:
            json.loads(response)
        except ValueError:
            return {"json_valid": 0.0}
        return {"json_valid": 1.0}


class JsonSchema:
    """1.0 when the response is JSON that validates against a JSON Schema (inline or a file)."""

    name = "json_schema"
    outputs = ("json_schema_valid",)

    def __init__(self, schema: dict[str, Any] | str, *, base_dir: str | None = None) -> None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if isinstance(schema, str):
            path = Path(schema)
            if not path.is_absolute() and base_dir:
                path = Path(base_dir) / path
            try:
                loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
            except OSError as exc:
                raise InputError(path, f"cannot read schema: {exc.strerror or exc}") from None
            except ValueError as exc:
                raise InputError(path, f"malformed JSON Schema: {exc}") from None
            schema = loaded
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        self.validator = Draft202012Validator(schema)

    def __call__(self, *, response: Any) -> dict[str, Any]:
        value = response
        if isinstance(response, str):
            try:
                value = json.loads(response)
            except ValueError:
                return {"json_schema_valid": 0.0, "json_schema_reason": "not JSON"}
        error = next(iter(self.validator.iter_errors(value)), None)
        if error is None:
            return {"json_schema_valid": 1.0}
        return {"json_schema_valid": 0.0, "json_schema_reason": error.message[:200]}


class Length:
    """Response length in characters and words (gate verbosity)."""

    name = "length"
    outputs = ("length_chars", "length_words")

    def __call__(self, *, response: Any) -> dict[str, float]:
        text = _text(response)
        return {"length_chars": float(len(text)), "length_words": float(len(text.split()))}


class Latency:
    """The subject's wall time for the row, in milliseconds (also recorded for every row)."""

    name = "latency"
    outputs = ("latency_ms",)

    def __call__(self, *, latency_ms: float) -> dict[str, float]:
        return {"latency_ms": float(latency_ms)}
