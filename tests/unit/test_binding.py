"""The binding rule: the collection-time check and the run-time binding agree."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.config.mapping import COLUMN_ALIASES
from pytest_llmgate.evaluators.base import BoundEvaluator, signature_of
from pytest_llmgate.evaluators.binding import RESPONSE_PARAMS, source_of
from pytest_llmgate.pipeline.runner import evaluator_inputs

NAMES = st.sampled_from(
    sorted({"query", "question", "context", "ground_truth", "expected", "latency_ms", "tone",
            "run_inputs", *RESPONSE_PARAMS, *(a for v in COLUMN_ALIASES.values() for a in v)})
)


def _evaluator(param: str) -> BoundEvaluator:
    # a callable whose only (required) parameter is `param`
    namespace: dict[str, Any] = {}
    exec(f"def f({param}):\n    return {{'x': 1.0}}", namespace)
    fn = namespace["f"]
    return BoundEvaluator(name="e", use="test", args={}, fn=fn, signature=signature_of(fn))


@given(param=NAMES, columns=st.sets(NAMES, max_size=6), subject=st.sets(NAMES, max_size=3))
def test_static_answer_equals_runtime_binding(param: str, columns: set[str],
                                              subject: set[str]) -> None:
    data = {c: f"col:{c}" for c in columns}
    inputs = {s: f"in:{s}" for s in subject}
    static = source_of(param, columns=columns, output_keys=(), subject_inputs=subject)
    try:
        kwargs = evaluator_inputs(_evaluator(param), data, "the answer", inputs, 12.5)
    except LookupError:
        assert static is None
        return
    assert static is not None
    value = kwargs[param]
    if static.kind == "data":
        assert value == data[static.key]
    elif static.kind == "response":
        assert value == "the answer"
    elif static.kind == "latency":
        assert value == 12.5
    elif static.kind == "subject_input":
        assert value == inputs[param]


def test_exact_column_beats_alias_and_output_key_beats_column() -> None:
    assert source_of("query", columns={"question", "query"}, output_keys=(),
                     subject_inputs=()).key == "query"
    assert source_of("query", columns={"prompt", "question"}, output_keys=(),
                     subject_inputs=()).key == "question"
    found = source_of("tone", columns={"tone"}, output_keys={"tone"}, subject_inputs=())
    assert found is not None and found.kind == "output"
    assert source_of("tone", columns=(), output_keys=(), subject_inputs=()) is None
