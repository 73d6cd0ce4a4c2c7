"""Where an evaluator's parameters get their values: one rule, used twice.

At run time the runner binds each row's values with it; at collection the suite loader asks the
same rule, with the dataset's columns instead of a row, whether a required parameter can ever
be bound, so a binding that would fail on every row is refused once, with the file and line,
before any model is called. Keeping both on one function means they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pytest_llmgate.config.mapping import COLUMN_ALIASES

__all__ = ["RESPONSE_KEYS", "RESPONSE_PARAMS", "Source", "response_of", "source_of", "value_of"]

# parameters that mean "the subject's answer"
RESPONSE_PARAMS = frozenset({"response", "answer", "output", "prediction", "completion"})
# keys of a dict (or attributes of an object) output that hold the answer, in order
RESPONSE_KEYS = ("response", "answer", "output", "text", "content")

Kind = Literal["latency", "run_inputs", "response", "output", "data", "subject_input"]


@dataclass(frozen=True)
class Source:
    """Where one parameter's value comes from: `kind`, and the key read there."""

    kind: Kind
    key: str


def source_of(
    param: str,
    *,
    columns: Collection[str],
    output_keys: Collection[str],
    subject_inputs: Collection[str],
) -> Source | None:
    """The source of `param` by name, in precedence order, or None when nothing provides it.

    Explicit `inputs:` mappings are resolved before this rule and always win.
    """
    if param == "latency_ms":
        return Source("latency", param)
    if param == "run_inputs":  # the subject's inputs (Prompt Flow's ${run.inputs.x})
        return Source("run_inputs", param)
    if param in RESPONSE_PARAMS:
        return Source("response", param)
    if param in output_keys:
        return Source("output", param)
    if param in columns:
        return Source("data", param)
    for alias in COLUMN_ALIASES.get(param, ()):
        if alias in columns:
            return Source("data", alias)
    if param in subject_inputs:
        return Source("subject_input", param)
    return None


def response_of(output: Any, param: str) -> Any:
    """The answer inside a subject's output: the output itself, or its response-like field."""
    if isinstance(output, Mapping):
        if param in output:
            return output[param]
        for key in RESPONSE_KEYS:
            if key in output:
                return output[key]
    elif not isinstance(output, (str, bytes, int, float, list, tuple)):
        # an object (dataclass, pydantic model) with a response-like attribute
        for key in (param, *RESPONSE_KEYS):
            if isinstance(getattr(output, key, None), str):
                return getattr(output, key)
    return output


def value_of(
    source: Source,
    *,
    data: Mapping[str, Any],
    output: Any,
    subject_inputs: Mapping[str, Any],
    latency_ms: float,
) -> Any:
    """The value `source` names, for one row."""
    if source.kind == "latency":
        return latency_ms
    if source.kind == "run_inputs":
        return dict(subject_inputs)
    if source.kind == "response":
        return response_of(output, source.key)
    if source.kind == "output":
        return output[source.key]
    if source.kind == "data":
        return data[source.key]
    return subject_inputs[source.key]
