"""Stored rows decide exactly as rows in memory: the same aggregates, intervals, checks, usage and
worst rows, for any mix of repeats, errored rows and missing metrics; and they read back the rows
that were written, item by item, from one gzip member each."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.config.thresholds import Policy, RegressionRule, Rule
from pytest_llmgate.reporting._common import worst_of
from pytest_llmgate.results.io import load_results, write_results
from pytest_llmgate.results.model import ItemResult, RowResult, RunResult
from pytest_llmgate.results.rowstream import RowWriter
from pytest_llmgate.results.storedrows import RowColumns, RowsFile, StoredRows, pair_aligned
from pytest_llmgate.verdict.compare import Pairs, paired_deltas
from pytest_llmgate.verdict.decision import decide_item, usage_of
from pytest_llmgate.verdict.gate import (
    aggregates_for,
    metric_names,
    present_groups,
    row_groups,
    turn_groups,
)

values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e3, max_value=1e3),
    st.sampled_from([0.0, 1.0, 0.5, 0.25]),
)
METRICS = ["f1", "bleu", "cost_usd", "judge_prompt_tokens"]
row_specs = st.lists(
    st.tuples(
        st.integers(0, 9),  # golden row: repeats share one
        st.dictionaries(st.sampled_from(METRICS), values, max_size=4),
        st.booleans(),  # errored
    ),
    min_size=1,
    max_size=40,
)


def as_rows(spec: list[tuple[int, dict[str, float], bool]]) -> list[RowResult]:
    seen: dict[int, int] = {}
    out = []
    for unit, metrics, errored in spec:
        repeat = seen.get(unit, -1) + 1
        seen[unit] = repeat
        out.append(RowResult(
            id=f"r{unit}", line=unit + 1, data={"q": f"question {unit}"}, inputs={},
            output=f"answer {unit}.{repeat}", metrics=metrics,
            errors=("subject: boom",) if errored else (), repeat=repeat, latency_ms=1.5,
        ))
    return out


def stored(tmp_path: Path, items: dict[str, list[RowResult]]) -> dict[str, StoredRows]:
    """Write items' rows as the session does (a member per item) and return their stored rows
    with columns built while writing."""
    path = tmp_path / "r.rows.jsonl.gz"
    where = RowsFile(path)
    out = {}
    with RowWriter(path) as writer:
        for nodeid, rows in items.items():
            offset = writer.start_item()
            columns = RowColumns()
            for row in rows:
                writer.write(nodeid, row)
                columns.add(row)
            writer.end_item()
            out[nodeid] = StoredRows(where, nodeid, offset, len(rows), columns)
    where.rows = sum(len(r) for r in items.values())
    return out


POLICY = Policy(
    rules={
        "f1": (Rule(metric="f1", aggregate="mean", min=0.3),),
        "bleu": (Rule(metric="bleu", aggregate="pass_rate", row_min=0.2, min=0.5, pass_k="all"),),
        "cost_usd": (Rule(metric="cost_usd", aggregate="p90", max=500.0, on="ci_high"),),
        "judge_prompt_tokens": (Rule(metric="judge_prompt_tokens", aggregate="sum", max=1e4),),
    },
    regression={"f1": RegressionRule(metric="f1", max_drop=0.01)},
    max_error_rate=0.2,
)


@settings(max_examples=60, deadline=None)
@given(current=row_specs, before=row_specs)
def test_stored_rows_decide_exactly_as_rows_in_memory(
    tmp_path_factory: pytest.TempPathFactory,
    current: list[tuple[int, dict[str, float], bool]],
    before: list[tuple[int, dict[str, float], bool]],
) -> None:
    rows, base_rows = as_rows(current), as_rows(before)
    # the usual baseline: the same rows in the same order, other scores, some data changed
    aligned_rows = [
        replace(r, metrics=base_rows[i % len(base_rows)].metrics,
                data=r.data if i % 3 else {"q": "changed"})
        for i, r in enumerate(rows)
    ]
    tmp = tmp_path_factory.mktemp("rows")
    streamed = stored(tmp, {"a::item": rows, "b::base": base_rows, "c::aligned": aligned_rows})
    lazy, base_lazy = streamed["a::item"], streamed["b::base"]
    assert list(lazy) == rows and list(base_lazy) == base_rows  # read back, item by item
    assert metric_names(lazy) == metric_names(rows)
    for metric in METRICS:
        assert row_groups(lazy, metric) == row_groups(rows, metric)
        assert turn_groups(lazy, metric) == turn_groups(rows, metric)
        # the groups a stored item's aggregates iterate, built as read, and any one of them
        assert list(present_groups(lazy, metric)) == present_groups(rows, metric)
        view = lazy.columns.groups(metric)
        assert [view[i] for i in range(-len(view), 0)] == row_groups(rows, metric)
        # paired rows from two stored items' columns (the same golden rows): in the same order
        pairs = paired_deltas(lazy, streamed["c::aligned"], metric)
        assert isinstance(pairs, Pairs)
        assert list(pairs) == paired_deltas(rows, aligned_rows, metric)
        assert list(paired_deltas(lazy, base_lazy, metric)) == paired_deltas(rows, base_rows, metric)
    # repr: bit for bit, the sign of a zero too (the results JSON writes what repr writes)
    assert repr(aggregates_for(lazy)) == repr(aggregates_for(rows))
    assert usage_of(lazy) == usage_of(rows)
    common = dict(nodeid="a::item", dataset_sha256="d", family=2)
    sides = [(None, None), (base_lazy, base_rows), (streamed["c::aligned"], aligned_rows)]
    for base_stored, base_memory in sides:
        items = [None if r is None else ItemResult(
            nodeid="a::item", suite="s", subject="x", variant="v", dataset="d", verdict="passed",
            dataset_sha256="d", rows=r) for r in (base_stored, base_memory)]
        expected = repr(decide_item(rows, POLICY, baseline_item=items[1], **common))
        assert repr(decide_item(lazy, POLICY, baseline_item=items[0], **common)) == expected
        assert repr(decide_item(rows, POLICY, baseline_item=items[0], **common)) == expected
        assert repr(decide_item(lazy, POLICY, baseline_item=items[1], **common)) == expected


@settings(max_examples=200, deadline=None)
@given(spec=row_specs, limit=st.integers(1, 6), low_is_bad=st.booleans(),
       metric=st.sampled_from([None, "f1", "bleu"]))
def test_worst_of_is_a_stable_sort_cut_short(
    tmp_path_factory: pytest.TempPathFactory,
    spec: list[tuple[int, dict[str, float], bool]], limit: int, low_is_bad: bool,
    metric: str | None,
) -> None:
    rows = as_rows(spec)
    errored, worst = worst_of(rows, limit, metric, low_is_bad)
    assert errored == [r for r in rows if r.errors][:limit]
    # stored rows: chosen from their columns, then only those read from the file
    lazy = stored(tmp_path_factory.mktemp("worst"), {"a::item": rows, "b::next": rows})["a::item"]
    assert worst_of(lazy, limit, metric, low_is_bad) == (errored, worst)
    if metric is None:
        assert worst == []
        return
    scored = [r for r in rows if not r.errors and metric in r.metrics]
    scored.sort(key=lambda r: r.metrics[metric], reverse=not low_is_bad)
    assert worst == scored[:limit]


def test_a_baseline_with_a_row_twice_is_joined_by_key(tmp_path: Path) -> None:
    """Two stored items line up only when their (id, repeat) keys match row for row and no key
    comes twice (a doubled row would pair with the wrong one)."""
    good = as_rows([(0, {"f1": 0.5}, False), (1, {"f1": 0.7}, False), (0, {"f1": 0.1}, False)])
    doubled = [*good[:2], replace(good[2], repeat=0)]
    shifted = [good[1], good[0], good[2]]
    items = stored(tmp_path, {"a": good, "b": good, "c": doubled, "d": doubled, "e": shifted})
    aligned = pair_aligned(items["a"], items["b"])
    assert aligned is not None and aligned[2] == 0 and len(aligned[0]) == 3
    assert pair_aligned(items["c"], items["d"]) is None
    assert pair_aligned(items["a"], items["e"]) is None
    assert pair_aligned(items["a"], doubled) is None  # one side in memory: compared key by key
    assert pair_aligned(items["a"], good) is not None


def test_results_round_trip_through_the_companion(tmp_path: Path) -> None:
    """write_results puts streamed rows in the companion of the file it writes (a baseline saved
    elsewhere gets its own copy); load_results reads them back lazily."""
    rows = {"a::one": as_rows([(0, {"f1": 0.5}, False), (1, {"f1": 1.0}, True)]),
            "a::two": as_rows([(i, {"f1": i / 10}, False) for i in range(7)])}
    (tmp_path / "run").mkdir()
    lazy = stored(tmp_path / "run", rows)
    items = tuple(ItemResult(nodeid=n, suite="s", subject="x", variant="v", dataset="d",
                             verdict="passed", rows=r) for n, r in lazy.items())
    inline = ItemResult(nodeid="a::three", suite="s", subject="x", variant="v", dataset="d",
                        verdict="passed", rows=tuple(rows["a::one"]))
    run = RunResult(items=(*items, inline))
    target = tmp_path / "saved" / "base.json"
    write_results(run, target)
    assert (tmp_path / "saved" / "base.rows.jsonl.gz").is_file()
    back = load_results(target)
    assert not back.incomplete
    assert [type(i.rows) for i in back.items] == [StoredRows, StoredRows, tuple]
    assert [list(i.rows) for i in back.items] == [rows["a::one"], rows["a::two"], rows["a::one"]]
    assert [i.error_count for i in back.items] == [1, 0, 1]
    write_results(back, target)  # already there: written as is, the rows file untouched
    assert [list(i.rows) for i in load_results(target).items][1] == rows["a::two"]


@settings(max_examples=40, deadline=None)
@given(spec=row_specs, cuts=st.lists(st.integers(0, 40), max_size=3), in_memory=st.integers(0, 3))
def test_joined_slices_decide_and_store_as_the_whole_item(
    tmp_path_factory: pytest.TempPathFactory,
    spec: list[tuple[int, dict[str, float], bool]],
    cuts: list[int],
    in_memory: int,
) -> None:
    """An item merged from row slices (`llmgate merge`), stored or in memory in any mix, decides
    as the whole item does and is written as one stored item with the same rows."""
    from pytest_llmgate.results.storedrows import JoinedRows

    rows = as_rows(spec)
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    slices = [rows[a:b] for a, b in itertools.pairwise(bounds)]
    tmp = tmp_path_factory.mktemp("joined")
    parts: list[Sequence[RowResult]] = []
    for index, piece in enumerate(slices):  # each from its own shard's file; one may be inline
        inline = index == in_memory and len(slices) > 1  # (merge joins when one slice is stored)
        parts.append(list(piece) if inline else
                     stored(tmp / f"s{index}", {"a::item": piece})["a::item"])
    joined = JoinedRows("a::item", parts)
    assert len(joined) == len(rows) and list(joined) == rows
    assert [joined[i] for i in (0, -1)] == [rows[0], rows[-1]]
    common = dict(nodeid="a::item", dataset_sha256="d", family=1)
    assert repr(decide_item(joined, POLICY, **common)) == repr(decide_item(rows, POLICY, **common))
    item = ItemResult(nodeid="a::item", suite="s", subject="x", variant="v", dataset="d",
                      verdict="passed", rows=joined)
    target = tmp / "merged.json"
    write_results(RunResult(items=(item,)), target)
    [back] = load_results(target).items
    assert isinstance(back.rows, StoredRows) and list(back.rows) == rows
