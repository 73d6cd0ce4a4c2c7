"""Exceptions that become one clear line for the user, never a traceback.

Every exception the gate raises on purpose is a `GateError`.

Every problem with user input is raised as `InputError(path, line, field, problem)` and rendered as
`path:line: field: problem`; the plugin turns it into a collection error or usage error.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "EvaluationError",
    "GateError",
    "InputError",
    "MissingExtraError",
    "ModelCallError",
    "SpecError",
]


def _shown(path: str) -> str:
    """Paths relative to the working directory when inside it: shorter and clickable."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return path


class GateError(Exception):
    """Base class of every error pytest-llmgate reports to the user as one line."""


class InputError(GateError):
    """A problem in a user file (suite, thresholds, dataset, schema, evaluator spec)."""

    def __init__(
        self,
        path: str | Path | None,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.problem = problem
        super().__init__(self.one_line())

    def one_line(self) -> str:
        location = _shown(self.path) if self.path else "<input>"
        if self.line is not None:
            location += f":{self.line}"
        parts = [location]
        if self.field:
            parts.append(self.field)
        parts.append(self.problem)
        return ": ".join(parts).replace("\n", " ")


class SpecError(GateError, ValueError):
    """A problem with one value of a user file, found by code that does not know the file or the
    line: the loader that does re-raises it as an `InputError` at the value's `file:line`.

    Also a `ValueError`, the conventional type for a bad value, so callers outside the gate that
    catch `ValueError` keep working.
    """


class MissingExtraError(GateError):
    """An optional dependency is needed: the message says what to install."""


class ModelCallError(GateError):
    """A model call failed after retries (or could not be made); becomes an error row."""


class EvaluationError(GateError):
    """An evaluator raised, returned NaN or a non-number; becomes an error for that row."""
