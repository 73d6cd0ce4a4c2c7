"""The Python API: gate a subject from an ordinary test, with the same engine as suite files.

    def test_answers(llm_gate):
        result = llm_gate.evaluate(answer, "golden_datasets/support_qa.jsonl",
                                   evaluators=["f1_score"], thresholds={"f1_score": {"min": 0.5}})
        result.assert_passed()

Results recorded through the `llm_gate` fixture join the run's results JSON and reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmgate.config.datasets import Dataset, DatasetSpec, Row, load_dataset
from pytest_llmgate.config.thresholds import Policy, thresholds_from
from pytest_llmgate.errors import GateError
from pytest_llmgate.evaluators.base import BoundEvaluator, signature_of
from pytest_llmgate.results.model import ItemResult
from pytest_llmgate.subjects.base import SubjectSpec
from pytest_llmgate.util.yamlio import Located

__all__ = ["Evaluation", "evaluate"]

EvaluatorLike = str | Mapping[str, Any] | Callable[..., Any]


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` returns: the item result plus conveniences for assertions."""

    result: ItemResult

    @property
    def passed(self) -> bool:
        return self.result.verdict == "passed"

    @property
    def aggregates(self) -> Mapping[str, Mapping[str, float]]:
        return self.result.aggregates

    @property
    def rows(self) -> Sequence[Any]:
        return self.result.rows

    def report(self) -> str:
        from pytest_llmgate.reporting.text import render_item_failure

        return render_item_failure(self.result)

    def assert_passed(self) -> None:
        """Raise AssertionError with the breach table unless the gate passed."""
        if not self.passed:
            raise AssertionError(self.report())


def _rows(
    data: str | Path | Sequence[Mapping[str, Any]],
) -> tuple[Sequence[Row], str, str, int]:
    if isinstance(data, (str, Path)):
        path = Path(data)
        dataset: Dataset = load_dataset(DatasetSpec(name=path.stem, path=path))
        return dataset.rows, path.stem, dataset.sha256, dataset.total_rows
    import hashlib
    import json

    rows = []
    seen: dict[str, int] = {}
    for index, values in enumerate(data, start=1):
        if not isinstance(values, Mapping):
            raise GateError(f"data[{index - 1}]: expected a mapping, got {type(values).__name__}")
        row_id = str(values["id"]) if "id" in values else f"#{index}"
        if row_id in seen:
            raise GateError(
                f"data[{index - 1}]: duplicate id {row_id!r} (first at data[{seen[row_id]}])"
            )
        seen[row_id] = index - 1
        rows.append(Row(id=row_id, line=index, data=dict(values)))
    digest = hashlib.sha256(
        json.dumps(list(data), sort_keys=True, default=str).encode()
    ).hexdigest()
    return tuple(rows), "data", digest, len(rows)


def _evaluator(spec: EvaluatorLike, index: int, base_dir: Path) -> BoundEvaluator:
    from pytest_llmgate.evaluators.registry import resolve_evaluator

    if isinstance(spec, str):
        return resolve_evaluator(
            name=spec.split(":")[-1], use=spec, base_dir=base_dir, search_paths=(base_dir,)
        )
    if isinstance(spec, Mapping):
        use = str(spec["use"])
        return resolve_evaluator(
            name=str(spec.get("name", use.split(":")[-1])),
            use=use,
            args=dict(spec.get("args", {})),
            inputs=dict(spec.get("inputs", {})),
            prefix=str(spec.get("prefix", "")),
            base_dir=base_dir,
            search_paths=(base_dir,),
        )
    if callable(spec):
        name = getattr(spec, "name", None) or getattr(spec, "__name__", None) or type(spec).__name__
        outputs = getattr(spec, "outputs", None)
        return BoundEvaluator(
            name=str(name),
            use=f"{type(spec).__module__}:{name}",
            args={},
            fn=spec,
            signature=signature_of(spec),
            outputs=tuple(outputs) if outputs else None,
        )
    raise GateError(f"evaluators[{index}]: expected a name, a mapping or a callable")


def evaluate(
    subject: Callable[..., Any] | str,
    data: str | Path | Sequence[Mapping[str, Any]],
    *,
    evaluators: Sequence[EvaluatorLike],
    thresholds: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    name: str = "evaluate",
    max_error_rate: float = 0.0,
    concurrency: int = 16,
    timeout_s: float | None = None,
    base_dir: str | Path = ".",
) -> Evaluation:
    """Run `subject` over `data`, score with `evaluators`, gate with `thresholds` (metric rules)."""
    from pytest_llmgate.engine.runtime import runtime
    from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
    from pytest_llmgate.subjects.python import PythonSubject
    from pytest_llmgate.verdict.decision import decide_item

    base = Path(base_dir).resolve()
    rows, dataset_name, digest, total = _rows(data)
    variant = "default"
    spec = SubjectSpec(
        name=name,
        type="python",
        raw={"target": subject, "inputs": dict(inputs or {})},
        variants={variant: dict(params or {})},
        datasets=None,
        evaluators=None,
        suite_dir=base,
        rootdir=base,
        search_paths=(base,),
    )
    bound_subject = PythonSubject(spec)
    bound = [_evaluator(e, i, base) for i, e in enumerate(evaluators)]
    policy = Policy(max_error_rate=max_error_rate)
    if thresholds:
        doc = Located(path=Path("<evaluate thresholds>"), data={"metrics": dict(thresholds)})
        policy = thresholds_from(doc, strict=True).apply(
            policy, suite="api", subject=name, variant=variant, dataset=dataset_name
        )
    needs_model = bound_subject.needs_model or any(
        e.needs_model for e in bound
    )
    with runtime(base, concurrency=concurrency, needs_model=needs_model):
        results = run_rows_sync(
            list(rows),
            bound_subject,
            variant,
            bound,
            RunOptions(concurrency=concurrency, timeout_s=timeout_s),
        )
    decision = decide_item(results, policy, nodeid=name)
    return Evaluation(
        ItemResult(
            nodeid=name,
            suite="api",
            subject=name,
            variant=variant,
            dataset=dataset_name,
            dataset_sha256=digest,
            dataset_rows=total,
            subject_spec=bound_subject.describe(variant),
            evaluators=tuple(b.spec for b in bound),
            rows=tuple(results),
            **decision.fields(),
        )
    )
