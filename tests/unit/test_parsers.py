"""Loaders and mappings: property tests (hypothesis) and the edge cases users hit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmgate.config.datasets import DatasetSpec, load_dataset
from pytest_llmgate.config.mapping import MappingError, resolve
from pytest_llmgate.errors import EvaluationError, GateError, InputError
from pytest_llmgate.evaluators.base import normalize_output
from pytest_llmgate.util.yamlio import parse_yaml

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)
row_strategy = st.dictionaries(
    st.text(min_size=1, max_size=8), json_scalars, min_size=1, max_size=5
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(st.lists(row_strategy, min_size=1, max_size=20))
def test_jsonl_round_trip(tmp_path: Path, rows: list[dict[str, object]]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    dataset = load_dataset(DatasetSpec(name="d", path=path, id_column=None))
    assert [dict(r.data) for r in dataset.rows] == rows or any("id" in r for r in rows)
    assert len(dataset.rows) == len(rows)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=100)
@given(st.binary(max_size=300))
def test_loaders_never_crash_on_garbage(tmp_path: Path, blob: bytes) -> None:
    for suffix in (".jsonl", ".csv", ".json"):
        path = tmp_path / f"g{suffix}"
        path.write_bytes(blob)
        try:
            load_dataset(DatasetSpec(name="g", path=path))
        except InputError as exc:
            assert "\n" not in exc.one_line()
            assert path.name in exc.one_line()


@settings(max_examples=100)
@given(st.text(max_size=200))
def test_yaml_parser_never_crashes(text: str) -> None:
    try:
        parse_yaml(text, Path("x.yaml"))
    except InputError as exc:
        assert exc.one_line().startswith("x.yaml")


def test_yaml_lines_are_recorded() -> None:
    doc = parse_yaml("a:\n  b:\n    - 1\n    - c: 2\n", Path("f.yaml"))
    assert doc.line(("a", "b", 1, "c")) == 4
    assert doc.error(("a", "b", 0), "bad").one_line() == "f.yaml:3: a.b[0]: bad"


def test_sample_is_deterministic_and_limit_applies(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"id": str(i)}) + "\n" for i in range(50)))
    a = load_dataset(DatasetSpec(name="d", path=path, sample=10, seed=3))
    b = load_dataset(DatasetSpec(name="d", path=path, sample=10, seed=3))
    assert [r.id for r in a.rows] == [r.id for r in b.rows]
    assert len(a.rows) == 10 and a.total_rows == 50
    assert len(load_dataset(DatasetSpec(name="d", path=path, limit=7)).rows) == 7


def test_dataset_hash_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "1"}\n')
    first = load_dataset(DatasetSpec(name="d", path=path)).sha256
    path.write_text('{"id": "2"}\n')
    assert load_dataset(DatasetSpec(name="d", path=path)).sha256 != first


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("${data.q}", "why?"),
        ("${data.n}", 3),
        ("${data.nested.k}", "v"),
        ("${data.items.1}", "b"),
        ("${output}", {"response": "r", "ctx": "c"}),
        ("${output.response}", "r"),
        ("${run.outputs.ctx}", "c"),
        ("${target.response}", "r"),
        ("Q: ${data.q} A: ${output.response}", "Q: why? A: r"),
        ("plain", "plain"),
        (7, 7),
    ],
)
def test_resolve(expr: object, expected: object) -> None:
    data = {"q": "why?", "n": 3, "nested": {"k": "v"}, "items": ["a", "b"]}
    assert resolve(expr, data, {"response": "r", "ctx": "c"}) == expected


@pytest.mark.parametrize("expr", ["${data.missing}", "${dta.q}", "${data.q", "${}", "${data..q}"])
def test_resolve_errors(expr: str) -> None:
    with pytest.raises(MappingError):
        resolve(expr, {"q": 1}, None)


@pytest.mark.parametrize(
    ("value", "metrics"),
    [
        (0.5, {"ev": 0.5}),
        (True, {"ev": 1.0}),
        (3, {"ev": 3.0}),
        (
            {
                "f1_score": 0.8,
                "f1_score_score": 0.8,
                "f1_score_passed": True,
                "f1_score_result": "pass",
                "f1_score_threshold": 0.5,
                "f1_score_status": "completed",
            },
            {"f1_score": 0.8},
        ),
        (
            {
                "rouge": 0.5,
                "rouge_properties": {
                    "rouge_precision": 0.6,
                    "rouge_recall": 0.4,
                    "rouge_precision_threshold": 0.5,
                },
            },
            {"rouge": 0.5, "rouge_precision": 0.6, "rouge_recall": 0.4},
        ),
    ],
)
def test_normalize_output(value: object, metrics: dict[str, float]) -> None:
    assert normalize_output("ev", value)[0] == metrics


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        None,
        "high",
        [1],
        {"reason": "x"},
        {"score": math.nan},
        {"groundedness": 3, "groundedness_status": "failed"},
    ],
)
def test_unscoreable_outputs_are_errors(value: object) -> None:
    with pytest.raises(EvaluationError):
        normalize_output("ev", value)


def test_errors_are_gate_errors() -> None:
    assert issubclass(InputError, GateError)
