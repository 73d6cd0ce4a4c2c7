"""A loaded suite: the specs of its datasets, subjects and evaluators, and the subjects and
evaluators built from them (once per session, on first use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pytest_llmgate.config.datasets import DatasetSpec
from pytest_llmgate.config.thresholds import Thresholds
from pytest_llmgate.errors import GateError, InputError
from pytest_llmgate.evaluators.base import BoundEvaluator, EvaluatorEntry
from pytest_llmgate.subjects.base import Subject, SubjectSpec
from pytest_llmgate.subjects.factory import build_subject
from pytest_llmgate.util.yamlio import Located

__all__ = ["Suite"]


@dataclass
class Suite:
    """A loaded suite: specs plus resolved subjects/evaluators (built once per session)."""

    path: Path
    name: str
    doc: Located
    rootdir: Path
    datasets: dict[str, DatasetSpec]
    subjects: dict[str, SubjectSpec]
    evaluator_entries: list[EvaluatorEntry]
    thresholds: Thresholds | None
    concurrency: int | None
    timeout: float | None
    search_paths: tuple[Path, ...]
    repeat_subject: int = 1
    repeat_judge: int = 1
    unconfigured: str | None = None  # skip | fail: items whose model is not configured
    load: Any = None  # a `load:` block makes this a load suite (`pytest_llmgate.load.LoadSpec`)
    _subjects: dict[str, Subject] = field(default_factory=dict)
    _evaluators: dict[str, BoundEvaluator] = field(default_factory=dict)

    def subject(self, name: str) -> Subject:
        if name not in self._subjects:
            spec = self.subjects[name]
            try:
                self._subjects[name] = build_subject(spec)
            except InputError:  # already names its file and line
                raise
            except (GateError, ValueError, TypeError) as exc:
                raise self.doc.error(("subjects", name), str(exc)) from None
        return self._subjects[name]

    def evaluators_for(self, subject: str) -> list[BoundEvaluator]:
        wanted = self.subjects[subject].evaluators
        entries = [e for e in self.evaluator_entries if wanted is None or e.name in wanted]
        return [self.evaluator(e) for e in entries]

    def evaluator(self, entry: EvaluatorEntry) -> BoundEvaluator:
        if entry.name not in self._evaluators:
            from pytest_llmgate.evaluators.registry import resolve_evaluator

            try:
                self._evaluators[entry.name] = resolve_evaluator(
                    name=entry.name,
                    use=entry.use,
                    args=dict(entry.args),
                    inputs=dict(entry.inputs),
                    prefix=entry.prefix,
                    search_paths=self.search_paths,
                    base_dir=self.path.parent,
                    outputs=entry.outputs,
                )
                bound = self._evaluators[entry.name]
                bound.repeat = entry.repeat or (self.repeat_judge if bound.needs_model else 1)
                bound.timeout = entry.timeout
            except InputError:  # already names its file and line
                raise
            except (GateError, ValueError, TypeError) as exc:
                raise self.doc.error(entry.key, str(exc)) from None
        return self._evaluators[entry.name]

    @cached_property
    def display_path(self) -> str:
        try:
            return self.path.relative_to(self.rootdir).as_posix()
        except ValueError:
            return str(self.path)
