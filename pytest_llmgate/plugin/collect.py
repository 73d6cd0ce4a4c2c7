"""Collection: a suite file becomes one `GateItem` per (subject, variant, dataset).

Node ids are `path/to/suite.yaml::subject[variant-dataset]`: stable across runs, readable in
`-k`, `--lf` and `--co`, and the join key with baselines.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmgate.errors import GateError
from pytest_llmgate.results.model import ERROR, FAILED, SKIPPED, ItemResult

if TYPE_CHECKING:
    from pytest_llmgate.plugin.session import GateSession
    from pytest_llmgate.suite.model import Suite

__all__ = ["GateFailure", "GateItem", "SuiteFile"]


class GateFailure(GateError):
    """Raised by a failing item; rendered as the breach table, not a traceback."""

    def __init__(self, result: ItemResult) -> None:
        self.result = result
        super().__init__(result.nodeid)


def _one_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    if excinfo.errisinstance(GateError):
        return str(excinfo.value)
    return None


class SuiteFile(pytest.File):
    """A YAML suite file."""

    def gate(self) -> GateSession:
        from pytest_llmgate.plugin.keys import SESSION_KEY

        return self.config.stash[SESSION_KEY]

    def collect(self) -> Iterator[GateItem]:
        gate = self.gate()
        suite = gate.loader.load(Path(self.path))
        for subject_name, spec in suite.subjects.items():
            suite.subject(subject_name)  # import now: a bad target is a collection error
            suite.evaluators_for(subject_name)  # likewise a bad evaluator spec
            datasets = spec.datasets or tuple(suite.datasets)
            for dataset in datasets:
                gate.loader.check_columns(suite, subject_name, dataset)
            seen: dict[str, tuple[str, str]] = {}
            for variant in spec.variants:
                for dataset in datasets:
                    params = f"{variant}-{dataset}"
                    if params in seen:
                        # ids join results with baselines: two items must never share one
                        raise suite.doc.error(
                            ("subjects", subject_name, "variants", variant),
                            f"item id {subject_name}[{params}] is ambiguous: variant "
                            f"{seen[params][0]!r} x dataset {seen[params][1]!r} gives it too; "
                            "rename a variant or dataset",
                        )
                    seen[params] = (variant, dataset)
                    extra: dict[str, Any] = {}
                    structured: Any = getattr(self, "id", None)
                    if hasattr(structured, "child"):
                        # pytest >= 9.2 structured ids: keep `[params]` as params so --lf matches
                        extra["nodeid"] = structured.child(subject_name).with_params(params)
                    yield GateItem.from_parent(
                        self,
                        name=f"{subject_name}[{params}]",
                        suite=suite,
                        subject=subject_name,
                        variant=variant,
                        dataset=dataset,
                        **extra,
                    )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return _one_line(excinfo) or super().repr_failure(excinfo)


class GateItem(pytest.Item):
    """One (suite, subject, variant, dataset) run through the gate."""

    def __init__(
        self, *, suite: Suite, subject: str, variant: str, dataset: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.subject_name = subject
        self.variant = variant
        self.dataset_name = dataset
        self.add_marker(pytest.mark.llm_gate)
        self.user_properties.append(("llm_gate_item", True))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.suite.subjects[self.subject_name].line
        return Path(self.path), (line - 1) if line else None, self.name

    def runtest(self) -> None:
        gate: GateSession = self.config.stash[_session_key()]
        started = time.perf_counter()
        try:
            result = gate.run_item(self)
        except GateError as exc:
            gate.record(gate.error_item(self, str(exc), time.perf_counter() - started))
            raise
        except BaseException as exc:
            # anything else (SystemExit from user code, an internal error, Ctrl-C) still leaves
            # an errored item in every artifact: an item that started is never absent
            message = (
                "interrupted while running"
                if isinstance(exc, KeyboardInterrupt)
                else f"crashed: {type(exc).__name__}: {_first_line(exc)}"
            )
            gate.record(gate.error_item(self, message, time.perf_counter() - started))
            raise
        gate.record(result)
        for name, value in _properties(result):
            self.user_properties.append((name, value))
        if result.verdict == SKIPPED:
            pytest.skip(result.message)
        if result.verdict in (FAILED, ERROR):
            raise GateFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if excinfo.errisinstance(GateFailure):
            from pytest_llmgate.reporting.text import render_item_failure

            failure = excinfo.value
            assert isinstance(failure, GateFailure)
            return render_item_failure(failure.result)
        return _one_line(excinfo) or super().repr_failure(excinfo)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else repr(exc)


def _session_key() -> Any:
    from pytest_llmgate.plugin.keys import SESSION_KEY

    return SESSION_KEY


def _properties(result: ItemResult) -> list[tuple[str, object]]:
    props: list[tuple[str, object]] = [("llm_gate.verdict", result.verdict)]
    for check in result.checks:
        if check.value is not None:
            props.append((f"llm_gate.{check.metric}.{check.aggregate}", round(check.value, 6)))
    return props
