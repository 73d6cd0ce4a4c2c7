"""Streamed rows: the JSONL(.gz) companion round-trips rows, an unfinished file never reads as a
finished one, and the columns kept while rows stream give exactly the in-memory aggregates and
verdicts."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.config.datasets import DatasetSpec, load_dataset
from pytest_llmgate.config.thresholds import Policy, Rule
from pytest_llmgate.engine.loop import close_loop
from pytest_llmgate.evaluators.registry import resolve_evaluator
from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
from pytest_llmgate.results.model import RowResult
from pytest_llmgate.results.rowstream import (
    IncompleteRowsError,
    RowWriter,
    companion_path,
    iter_rows,
    read_item_rows,
)
from pytest_llmgate.results.storedrows import ColumnRows, RowColumns
from pytest_llmgate.subjects.base import SubjectSpec
from pytest_llmgate.subjects.python import RecordedSubject
from pytest_llmgate.verdict.gate import aggregates_for, judge, present_groups

REPO = Path(__file__).resolve().parents[2]

values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.sampled_from([0.0, 1.0, 0.5, 0.1, 1e-17]),
)
rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 12),  # golden row id: repeats and adaptive re-runs share one
        st.dictionaries(st.sampled_from(["f1", "bleu", "cost_usd", "latency_ms"]), values,
                        max_size=4),
    ),
    max_size=60,
)


def as_rows(spec: list[tuple[int, dict[str, float]]]) -> list[RowResult]:
    return [RowResult(id=f"r{i}", line=i + 1, data={}, inputs={}, output="", metrics=m)
            for i, m in spec]


def columns_of_rows(rows: list[RowResult]) -> ColumnRows:
    """The rows as a streamed item keeps them: columns filled row by row."""
    columns = RowColumns()
    for row in rows:
        columns.add(row)
    columns.seal()
    return ColumnRows(columns)


@settings(max_examples=300, deadline=None)
@given(spec=rows_strategy)
def test_columns_give_the_aggregates_of_the_rows(spec: list[tuple[int, dict[str, float]]]) -> None:
    rows = as_rows(spec)
    stored = columns_of_rows(rows)
    expected = aggregates_for(rows)
    got = aggregates_for(stored)
    assert repr(got) == repr(expected)  # bit for bit, intervals included
    for name in expected:
        assert list(present_groups(stored, name)) == present_groups(rows, name)
    assert list(got) == list(expected)  # same first-seen metric order
    assert all(list(got[m]) == list(expected[m]) for m in got)


@pytest.fixture
def scored_rows() -> Iterator[list[RowResult]]:
    """The example project's golden dataset, run for real through the runner with the built-in
    lexical evaluators, two repeats per row (so golden rows have several samples)."""
    dataset = load_dataset(DatasetSpec(name="qa", path=REPO / "golden_datasets/support_qa.jsonl"))
    subject = RecordedSubject(SubjectSpec(
        name="recorded", type="recorded", raw={"column": "ground_truth"}, variants={"v": {}},
        datasets=None, evaluators=None, suite_dir=REPO, rootdir=REPO))
    evaluators = [resolve_evaluator(name=n, use=n) for n in ("f1_score", "bleu", "rouge")]
    try:
        yield run_rows_sync(list(dataset.rows), subject, "v", evaluators,
                            RunOptions(concurrency=4, repeats=2))
    finally:
        close_loop()


@pytest.mark.parametrize("name", ["results.rows.jsonl", "results.rows.jsonl.gz"])
def test_streamed_rows_give_the_same_aggregates_and_verdict(
    scored_rows: list[RowResult], tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    columns = RowColumns()
    with RowWriter(path, meta={"run": "test"}) as writer:
        for row in scored_rows:
            writer.write("suite::item[a]", row)
            writer.write("suite::item[b]", row)
            columns.add(row)
    columns.seal()
    kept = ColumnRows(columns)
    assert not writer.partial.exists()
    back = read_item_rows(path, "suite::item[a]")
    assert [r.to_dict() for r in back] == [json.loads(json.dumps(r.to_dict()))
                                           for r in scored_rows]
    assert aggregates_for(kept) == aggregates_for(scored_rows) == aggregates_for(back)
    other = columns_of_rows([row for item, row in iter_rows(path) if item == "suite::item[b]"])
    assert aggregates_for(other) == aggregates_for(scored_rows)
    policy = Policy(rules={
        "f1_score": (Rule(metric="f1_score", aggregate="mean", min=0.99, on="ci_low"),),
        "bleu_score": (Rule(metric="bleu_score", aggregate="pass_rate", row_min=0.5, min=0.9),),
    })
    assert judge(back, policy) == judge(scored_rows, policy) == judge(kept, policy)
    assert columns.errored == sum(1 for r in scored_rows if r.errors)
    assert len(scored_rows) == 2 * len({r.id for r in scored_rows})


def rows(n: int) -> list[RowResult]:
    return [RowResult(id=f"r{i}", line=i + 1, data={"q": f"q{i}"}, inputs={}, output=f"a{i}",
                      metrics={"f1_score": i / n}) for i in range(n)]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_an_interrupted_stream_reads_as_incomplete(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"results.rows{suffix}"
    writer = RowWriter(path)

    def interrupted() -> None:
        with writer:
            for row in rows(50):
                writer.write("item", row)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert not path.exists()  # never published as a finished file
    got = []
    with pytest.raises(IncompleteRowsError, match="did not finish"):
        got.extend(r for _, r in iter_rows(writer.partial))
    assert [r.id for r in got] == [f"r{i}" for i in range(50)]  # rows so far stay readable


def test_a_cut_file_and_a_wrong_trailer_are_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "r.rows.jsonl.gz"
    with RowWriter(path) as writer:
        for row in rows(2000):
            writer.write("item", row)
    data = path.read_bytes()
    cut = tmp_path / "cut.rows.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(IncompleteRowsError, match="cut short"):
        list(iter_rows(cut))
    plain = tmp_path / "p.rows.jsonl"
    lines = gzip.decompress(data).splitlines(keepends=True)
    plain.write_bytes(b"".join(lines[:-2] + lines[-1:]))  # a row lost before the trailer
    with pytest.raises(IncompleteRowsError, match="trailer says 2000 rows, found 1999"):
        list(iter_rows(plain))
    plain.write_bytes(b"".join(lines[:-1]) + lines[-2][:10])  # the last line half written
    with pytest.raises(IncompleteRowsError, match="cut short"):
        list(iter_rows(plain))


def test_bad_files_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.rows.jsonl"
    path.write_text('{"format": "something else"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.rows.jsonl:1: not a pytest-llmgate rows file"):
        list(iter_rows(path))
    path.write_text('{"format": "pytest-llmgate/rows", "version": 1}\n{"id": \n{}\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.rows.jsonl:2: not valid JSON"):
        list(iter_rows(path))
    path.write_text('{"format": "pytest-llmgate/rows", "version": 1}\n{"id": "r1"}\n',
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.rows.jsonl:2: field item: missing"):
        list(iter_rows(path))


def test_companion_path() -> None:
    assert companion_path(Path("out/results.json")) == Path("out/results.rows.jsonl.gz")
    assert companion_path(Path("r.json.gz"), compress=False) == Path("r.rows.jsonl")


def test_runner_streams_rows_in_job_order_without_keeping_them(tmp_path: Path) -> None:
    import asyncio
    import random

    from pytest_llmgate.config.datasets import Row
    from pytest_llmgate.subjects.python import PythonSubject

    delays = random.Random(5)

    async def answer(query: str) -> str:
        await asyncio.sleep(delays.random() / 200)  # rows finish out of order
        return query.replace("q", "answer ")

    subject = PythonSubject(SubjectSpec(
        name="s", type="python", raw={"target": answer}, variants={"v": {}}, datasets=None,
        evaluators=None, suite_dir=tmp_path, rootdir=tmp_path))
    data = [Row(id=f"r{i}", line=i + 1, data={"query": f"q{i}", "ground_truth": f"answer {i % 7}"})
            for i in range(120)]
    f1 = resolve_evaluator(name="f1_score", use="f1_score")
    seen: list[RowResult] = []
    columns = RowColumns()
    path = tmp_path / "rows.jsonl.gz"
    try:
        with RowWriter(path) as writer:
            def on_row(row: RowResult) -> None:
                seen.append(row)
                writer.write("item", row)
                columns.add(row)

            kept = run_rows_sync(data, subject, "v", [f1], RunOptions(concurrency=16, repeats=2),
                                 on_row=on_row, keep=False)
    finally:
        close_loop()
    assert kept == []
    assert [(r.id, r.repeat) for r in seen] == [(f"r{i}", k) for i in range(120) for k in (0, 1)]
    assert aggregates_for(ColumnRows(columns)) == aggregates_for(seen)
    assert [r.to_dict() for _, r in iter_rows(path)] == [
        json.loads(json.dumps(r.to_dict())) for r in seen]


def test_jsonl_rows_read_on_demand_equal_the_loaded_dataset(tmp_path: Path) -> None:
    from pytest_llmgate.results.rowstream import JsonlRows

    path = REPO / "golden_datasets/support_qa.jsonl"
    loaded = load_dataset(DatasetSpec(name="qa", path=path)).rows
    lazy = JsonlRows(path, id_column="id")
    assert len(lazy) == len(loaded)
    assert list(lazy) == list(loaded)
    assert lazy[-1] == loaded[-1]
    lazy.close()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n\n{"id": \n{"x": 1}\n', encoding="utf-8")
    rows = JsonlRows(bad, id_column="id")
    assert len(rows) == 3 and rows[0].id == "a"
    with pytest.raises(ValueError, match=r"bad.jsonl:3: malformed JSON"):
        rows[1]
    with pytest.raises(ValueError, match=r"bad.jsonl:4: id: id is missing"):
        rows[2]
    assert JsonlRows(bad)[0].id == "#1"
