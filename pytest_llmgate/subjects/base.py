"""The subject protocol and the factory that picks an adapter by `type:`.

Inputs come from the suite's `inputs:` mapping when given (`${data.column}` references), else
from row columns named like the callable's parameters (with the usual aliases: a `question`
parameter accepts a `query` column and vice versa).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pytest_llmgate.config.mapping import COLUMN_ALIASES, resolve

__all__ = ["Subject", "SubjectBase", "SubjectSpec", "default_inputs", "mapped_inputs"]

# row columns tried, in order, for a parameter that has no column of its own name
@dataclass(frozen=True)
class SubjectSpec:
    """A subject as written in a suite file (already schema-checked)."""

    name: str
    type: str
    raw: Mapping[str, Any]
    variants: Mapping[str, Mapping[str, Any]]
    datasets: tuple[str, ...] | None
    evaluators: tuple[str, ...] | None
    suite_dir: Path
    rootdir: Path
    search_paths: tuple[Path, ...] = ()
    line: int | None = None
    timeout: float | None = None
    models: Mapping[str, Any] = field(default_factory=dict)


class Subject(Protocol):
    """What the runner and the session need from a subject (adapters inherit `SubjectBase`)."""

    needs_model: bool  # calls the gate's configured models
    own_connections: bool  # brings its own connections (Prompt Flow): see `unavailable_reason`

    def describe(self, variant: str) -> dict[str, Any]:
        """JSON-able description recorded in the results (no secrets)."""
        ...

    def input_columns(self) -> set[str] | None:
        """Dataset columns the subject reads (None when it cannot tell), checked at collection."""
        ...

    async def prepare(self, variant: str) -> None:
        """One-off set-up before any row is timed (imports, executors)."""
        ...

    def unavailable_reason(self) -> str | None:
        """Why the subject cannot run here (None when it can); asked only of subjects with
        their own connections, whose needs the gate's model configuration cannot answer."""
        ...

    async def run(self, data: Mapping[str, Any], variant: str) -> tuple[dict[str, Any], Any]:
        """Produce (inputs used, output) for one row under one variant."""
        ...


class SubjectBase:
    """The defaults of `Subject`'s optional parts; adapters override what they have."""

    needs_model: bool = False
    own_connections: bool = False
    # `run` only reads the row (never waits, blocks or loops): the runner awaits it in the row's
    # own task, without a task of its own and the time limit that needs
    inline: bool = False

    def input_columns(self) -> set[str] | None:
        return None

    async def prepare(self, variant: str) -> None:
        return None

    def unavailable_reason(self) -> str | None:
        return None


def default_inputs(
    params: tuple[str, ...], var_kwargs: bool, data: Mapping[str, Any], skip: set[str]
) -> dict[str, Any]:
    """Pick row columns for parameters by name (then aliases); all columns for **kwargs."""
    chosen: dict[str, Any] = {}
    for name in params:
        if name in skip:
            continue
        if name in data:
            chosen[name] = data[name]
            continue
        for alias in COLUMN_ALIASES.get(name, ()):
            if alias in data:
                chosen[name] = data[alias]
                break
    if var_kwargs:
        for key, value in data.items():
            if key not in skip and key not in chosen and key not in params:
                chosen[key] = value
    return chosen


def mapped_inputs(mapping: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: resolve(value, data) for key, value in mapping.items()}
