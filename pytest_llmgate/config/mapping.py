"""Prompt Flow style input mappings: `${data.column}`, `${output.field}`, `${run.outputs.field}`.

A mapping value that is exactly one reference keeps the referenced value's type; a string with
references embedded in text is interpolated. Unknown references are reported at collection time by
`check_references`, so a typo in a column name never turns into an empty input at run time.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_llmgate.errors import SpecError

__all__ = [
    "COLUMN_ALIASES",
    "MappingError",
    "Reference",
    "parse_references",
    "resolve",
]

_REF = re.compile(r"\$\{([^}]*)\}")
_ROOT_ALIASES = {
    "data": "data",
    "output": "output",
    "outputs": "output",
    "target": "output",
    "run.outputs": "output",
    "run.output": "output",
}


class MappingError(SpecError):
    """A reference could not be resolved (message names the reference)."""


class Reference:
    """One parsed `${root.path}` reference."""

    __slots__ = ("path", "root", "text")

    def __init__(self, text: str, root: str, path: tuple[str, ...]) -> None:
        self.text = text
        self.root = root
        self.path = path

    def __repr__(self) -> str:
        return f"Reference({self.text!r})"


@functools.lru_cache(maxsize=4096)  # the same few references, once per row and column
def _parse_one(inner: str) -> Reference:
    text = "${" + inner + "}"
    parts = [p.strip() for p in inner.strip().split(".")]
    if not inner.strip() or any(not p for p in parts):
        raise MappingError(f"malformed reference {text}")
    for length in (2, 1):
        root = ".".join(parts[:length])
        if root in _ROOT_ALIASES:
            return Reference(text, _ROOT_ALIASES[root], tuple(parts[length:]))
    raise MappingError(
        f"unknown reference {text} (use ${{data.<column>}} or ${{output}} / ${{output.<field>}})"
    )


def parse_references(value: Any) -> list[Reference]:
    """All references inside a mapping value (strings only; other values are literals)."""
    if not isinstance(value, str):
        return []
    if "${" in value and value.count("${") != len(_REF.findall(value)):
        raise MappingError(f"unterminated reference in {value!r}")
    return [_parse_one(m) for m in _REF.findall(value)]


def _lookup(ref: Reference, data: Mapping[str, Any], output: Any) -> Any:
    current: Any = data if ref.root == "data" else output
    for step in ref.path:
        if isinstance(current, Mapping) and step in current:
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            where = "row" if ref.root == "data" else "subject output"
            raise MappingError(f"{ref.text}: {step!r} not found in the {where}")
    return current


def resolve(value: Any, data: Mapping[str, Any], output: Any = None) -> Any:
    """Resolve one mapping value against a dataset row and (for evaluators) the subject output."""
    if not isinstance(value, str) or "${" not in value:
        return value
    refs = parse_references(value)
    stripped = value.strip()
    if len(refs) == 1 and stripped == refs[0].text:
        return _lookup(refs[0], data, output)
    pieces = iter(refs)

    def substitute(_match: re.Match[str]) -> str:
        resolved = _lookup(next(pieces), data, output)
        return resolved if isinstance(resolved, str) else str(resolved)

    return _REF.sub(substitute, value)


def data_columns(mapping: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(key, column) for every `${data.column}` reference in a mapping."""
    for key, value in mapping.items():
        for ref in parse_references(value):
            if ref.root == "data" and ref.path:
                yield key, ref.path[0]


# dataset columns that stand in for a parameter of the same meaning (a subject's or an
# evaluator's `query` reads a `question` column), tried in order after the exact name
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "query": ("question", "input", "prompt"),
    "question": ("query", "input", "prompt"),
    "input": ("query", "question"),
    "context": ("contexts", "documents", "passages"),
    "ground_truth": ("expected", "expected_answer", "reference", "answer"),
    "chat_history": ("history",),
}
