"""A big JSONL dataset loaded lazily is the eager load: the same rows, ids, hash and columns, and
for a bad file the same first error line (file, line, field, problem)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.config import lazydataset
from pytest_llmgate.config.datasets import Dataset, DatasetSpec, load_dataset
from pytest_llmgate.config.lazydataset import JsonlRowsView
from pytest_llmgate.errors import InputError

LINES = st.sampled_from([
    '{"id": "a", "q": "x"}',
    '{"id": "b", "q": "y", "extra": 1}',
    '{"id": "a", "q": "dup"}',
    '{"q": "no id"}',
    '{"id": "", "q": "empty id"}',
    '{"id": 7, "q": 1.5}',
    '{"id": "n", "q": NaN}',
    '{"id": "m", "q": "caf\u00e9 \u2028 sep"}',
    '[1, 2]',
    '{"id": "c", "q": ',
    "",
    "   ",
    '{"id": "d", "q": "crlf"}\r',
])
SCHEMA = {"type": "object", "required": ["q"], "properties": {"q": {"type": "string"}}}


def load(spec: DatasetSpec, lazy: bool) -> Dataset | str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lazydataset, "LAZY_BYTES", 0 if lazy else 1 << 60)
        try:
            dataset = load_dataset(spec)
        except InputError as exc:
            return str(exc)
    assert isinstance(dataset.rows, JsonlRowsView) == lazy or spec.sample is not None
    return dataset


def same(a: Dataset | str, b: Dataset | str) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert list(a.rows) == list(b.rows)
    assert (a.sha256, a.total_rows, a.columns) == (b.sha256, b.total_rows, b.columns)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(LINES, max_size=12), bom=st.booleans(), final_newline=st.booleans(),
       id_column=st.sampled_from([None, "id"]), schema=st.booleans(),
       limit=st.sampled_from([None, 2]), sample=st.sampled_from([None, 3]))
def test_lazy_load_is_the_eager_load(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], bom: bool, final_newline: bool, id_column: str | None, schema: bool,
    limit: int | None, sample: int | None,
) -> None:
    tmp = tmp_path_factory.mktemp("data")
    path = tmp / "rows.jsonl"
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    schema_path = None
    if schema:
        schema_path = tmp / "rows.schema.json"
        schema_path.write_text(json.dumps(SCHEMA))
    spec = DatasetSpec(name="rows", path=path, schema=schema_path, id_column=id_column,
                       limit=limit, sample=sample, seed=3)
    same(load(spec, True), load(spec, False))


def test_invalid_utf8_is_the_same_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"id": "a"\n{"id": "b", "q": "\xff"}\n')
    spec = DatasetSpec(name="rows", path=path)
    lazy, eager = load(spec, True), load(spec, False)
    assert isinstance(lazy, str) and "invalid UTF-8 (byte 0xff at offset 29)" in lazy
    assert lazy == eager


def test_lazy_rows_hold_positions_not_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{i}", "q": "x" * 50}) + "\n" for i in range(500)))
    got = load(DatasetSpec(name="rows", path=path), True)
    assert not isinstance(got, str)
    rows = got.rows
    assert isinstance(rows, JsonlRowsView)
    assert rows[-1].id == "r499" and rows[10].line == 11 and rows[10].data["q"] == "x" * 50
    window = rows[100:103]
    assert isinstance(window, JsonlRowsView)
    assert [r.id for r in window] == ["r100", "r101", "r102"]
    with pytest.raises(IndexError):
        rows[500]
