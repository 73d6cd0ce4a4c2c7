"""The HTML row budget (reporting/rowbudget.py): how the budget is shared between items, which
rows an item over its share keeps, and that the page's numbers still come from every row."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llmgate_runs import PAYLOAD, item, row, run, threshold

from pytest_llmgate.plugin.options import DEFAULT_HTML_ROWS
from pytest_llmgate.reporting.html import render_html, report_data
from pytest_llmgate.reporting.pack import read_embedded
from pytest_llmgate.reporting.rowbudget import (
    DEFAULT_ROW_BUDGET,
    WORST_PER_METRIC,
    parse_row_budget,
    row_key,
    shares,
)
from pytest_llmgate.results.io import load_results, write_results
from pytest_llmgate.results.rowstream import RowWriter, companion_path
from pytest_llmgate.results.storedrows import RowsFile, StoredRows
from pytest_llmgate.verdict.compare import diff_runs

ROW_BOUND = threshold("f1", 0.5, 0.3, aggregate="pass_rate(>= 0.2)")


def _rows(n: int, *, errored_every: int = 0, low_every: int = 0) -> list:
    out = []
    for i in range(n):
        if errored_every and i % errored_every == 1:
            out.append(row(f"r{i:05d}", errors=["timeout"]))
        elif low_every and i % low_every == 2 % low_every:
            out.append(row(f"r{i:05d}", f1=0.05 + i / (100 * n), cost_usd=0.001))
        else:
            out.append(row(f"r{i:05d}", f1=0.5 + (i % 50) / 100, cost_usd=0.001))
    return out


def test_the_option_and_the_renderer_share_one_default() -> None:
    assert DEFAULT_HTML_ROWS == DEFAULT_ROW_BUDGET


@pytest.mark.parametrize("text", ["0", "-1", "many", "", "2.0", "1e3"])
def test_bad_budget_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a positive row count or all, got "):
        parse_row_budget(text)
    assert parse_row_budget(" all ") is None and parse_row_budget("15") == 15


@given(st.lists(st.integers(0, 500), max_size=12), st.integers(1, 2000))
def test_shares_fill_the_budget_fairly(sizes: list[int], budget: int) -> None:
    out = shares(sizes, budget)
    if sum(sizes) <= budget:
        assert out == [None] * len(sizes)
        return
    quotas = [q for q in out if q is not None]
    assert len(quotas) == len(sizes)
    shown = [min(n, q) for n, q in zip(sizes, quotas, strict=True)]
    assert sum(shown) == budget  # the whole budget is used, never more
    cut = [q for n, q in zip(sizes, quotas, strict=True) if n > q]
    assert cut and max(cut) - min(cut) <= 1  # the items cut share evenly
    # an item keeps all its rows exactly when it is at or under what the cut items get
    assert all(n <= q for n, q in zip(sizes, quotas, strict=True) if n <= min(cut))


def test_row_keys_are_stable_across_processes() -> None:
    """Not `hash()`: string hashes change with every process (PYTHONHASHSEED)."""
    import subprocess
    import sys

    code = "from pytest_llmgate.reporting.rowbudget import row_key; print(row_key('r1'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert int(other.stdout) == row_key("r1") != row_key("r2")


def test_an_item_over_its_share_keeps_errored_failing_worst_and_a_sample() -> None:
    rows = _rows(2000, errored_every=97, low_every=89)
    results = run(item("bot", "v", rows=rows, checks=[ROW_BOUND]))
    data = report_data(results, row_budget=400)
    everything = report_data(results, row_budget=None)
    shown = {r[1]: r for r in data["rows"]}
    assert len(shown) == data["rowsShown"] == 400 and data["rowCount"] == 2000
    errored = {r.id for r in rows if r.errors}
    failing = {r.id for r in rows if not r.errors and r.metrics["f1"] < 0.2}
    assert {i for i, r in shown.items() if r[2] == 2} == errored
    assert {i for i, r in shown.items() if r[2] == 1} == failing
    best = sorted((r for r in rows if not r.errors), key=lambda r: -r.metrics["f1"])
    # f1's worst are failing rows anyway; cost has no spread: the first rows are its "worst"
    assert {r.id for r in best[-WORST_PER_METRIC:]} <= set(shown)
    assert {r.id for r in rows if not r.errors}.intersection(
        r.id for r in rows[:WORST_PER_METRIC + 1]) <= set(shown)
    # the numbers are those of every row
    [page_item], [full_item] = data["items"], everything["items"]
    assert {k: v for k, v in page_item.items() if k not in ("shown", "rowsNote")} == full_item
    assert data["errored"] == everything["errored"] == len(errored)
    assert sum(page_item["hist"]["f1"]["bins"]) == 2000 - len(errored)
    note = page_item["rowsNote"]
    assert note.startswith("showing 400 of 2,000 rows (the page's row budget is 400 rows): "
                           f"all {len(errored)} errored rows; all {len(failing)} failing rows; ")
    assert note.endswith("every row is in the results JSON.")
    # the same rows every time
    assert report_data(results, row_budget=400)["rows"] == data["rows"]


def test_too_many_failing_rows_are_sampled_and_the_rest_still_shows() -> None:
    rows = _rows(1000, low_every=2)  # half the rows fail
    data = report_data(run(item("bot", "v", rows=rows, checks=[ROW_BOUND])), row_budget=100)
    statuses = [r[2] for r in data["rows"]]
    assert len(statuses) == 100
    assert 0 < statuses.count(1) < 100 and statuses.count(0) >= 100 // 4 - WORST_PER_METRIC
    note = data["items"][0]["rowsNote"]
    assert " of 500 failing rows (a sample by row id)" in note
    assert " of 500 other rows (a sample by row id)" in note


def test_variants_sample_the_same_golden_rows_and_the_baseline_follows() -> None:
    a = item("bot", "a", rows=_rows(3000))
    b = item("bot", "b", rows=[row(r.id, output="other", f1=0.9) for r in _rows(3000)])
    head = run(a, b)
    data = report_data(head, row_budget=600)
    ids = [{r[1] for r in data["rows"] if r[0] == i} for i in (0, 1)]
    assert len(ids[0]) == len(ids[1]) == 300
    assert len(ids[0] & ids[1]) >= 300 - 2 * WORST_PER_METRIC * 2  # only worst rows differ
    base = run(item("bot", "a", rows=_rows(3000)))
    with_base = report_data(head, diff_runs(head, base), row_budget=600)
    assert set(with_base["baseRows"]["0"]) == {
        r[1] for r in with_base["rows"] if r[0] == 0}  # only the rows the page shows


def test_budget_is_split_and_small_items_keep_every_row() -> None:
    small = item("bot", "small", rows=_rows(50))
    big = item("bot", "big", rows=_rows(5000))
    data = report_data(run(small, big), row_budget=1000)
    counts = [sum(1 for r in data["rows"] if r[0] == i) for i in (0, 1)]
    assert counts == [50, 950]
    assert "shown" not in data["items"][0]
    assert data["items"][1]["rowsNote"].startswith(
        "showing 950 of 5,000 rows (the page's row budget is 1,000 rows, 950 for this item)")


def test_hostile_rows_in_a_cut_item_stay_inert() -> None:
    rows = [row(f"{PAYLOAD}{i}", output=PAYLOAD, f1=0.1 if i % 3 else 0.9) for i in range(300)]
    page = render_html(run(item("bot", PAYLOAD, rows=rows, checks=[ROW_BOUND])), row_budget=50)
    body = page[page.index('id="llmgate-data">'):page.rindex("<script>")]
    assert "<script>document" not in body and "<img" not in body
    data = read_embedded(page)
    assert data["rowsShown"] == 50 and all(r[4] == PAYLOAD for r in data["rows"])


def _streamed(tmp_path: Path, rows: list) -> Path:
    """A results file whose item's rows are in the companion file."""
    results = tmp_path / "results.json"
    target = companion_path(results)
    where = RowsFile(target)
    base = item("bot", "v", rows=rows, checks=[ROW_BOUND])
    with RowWriter(target) as writer:
        offset = writer.start_item()
        for r in rows:
            writer.write(base.nodeid, r)
        writer.end_item()
    where.rows = writer.rows
    from dataclasses import replace

    write_results(run(replace(base, rows=StoredRows(where, base.nodeid, offset, len(rows)))),
                  results)
    return results


def test_stored_rows_parse_only_the_kept_lines_and_the_page_equals_in_memory(
    tmp_path: Path,
) -> None:
    rows = _rows(900, errored_every=61, low_every=37)
    results = _streamed(tmp_path, rows)
    stored = load_results(results).items[0].rows
    assert isinstance(stored, StoredRows)
    keep = {0, 5, 6, 400, 899}
    assert list(stored.rows_at(keep)) == [rows[i] for i in sorted(keep)]
    page = report_data(load_results(results), row_budget=120)
    memory = report_data(run(item("bot", "v", rows=rows, checks=[ROW_BOUND])), row_budget=120)
    assert page["items"][0]["rowsNote"].endswith("every row is in results.rows.jsonl.gz.")
    page["items"][0]["rowsNote"] = memory["items"][0]["rowsNote"]
    assert page == memory


def test_a_rows_file_cut_short_is_still_an_error_when_rows_are_skipped(tmp_path: Path) -> None:
    import gzip

    from pytest_llmgate.results.storedrows import RowsFileError

    rows = _rows(50)
    results = _streamed(tmp_path, rows)
    companion = companion_path(results)
    lines = gzip.decompress(companion.read_bytes()).splitlines(keepends=True)
    companion.write_bytes(gzip.compress(b"".join(lines[1:30])))  # 29 rows, nothing after
    stored = StoredRows(RowsFile(companion), item("bot", "v").nodeid, 0, 50)
    with pytest.raises(RowsFileError, match="50 rows recorded, 29 found"):
        list(stored.rows_at({1, 2}))


def test_variant_comparisons_of_streamed_items_equal_in_memory(tmp_path: Path) -> None:
    """The A/B tables read streamed items' columns (one pass per item), with the same numbers."""
    from dataclasses import replace

    from pytest_llmgate.reporting.variants import compare_variants

    check = threshold("f1", 0.5, 0.1)
    a_rows = [*_rows(300, errored_every=41), *[row(f"r{i:05d}", repeat=1, f1=0.3 + i / 1000)
                                                for i in range(0, 300, 7)]]
    b_rows = [row(r.id, repeat=r.repeat, f1=min(1.0, r.metrics.get("f1", 0.0) + 0.05))
              for r in a_rows]
    items = [item("bot", "a", rows=a_rows, checks=[check]),
             item("bot", "b", rows=b_rows, checks=[check])]
    results = tmp_path / "results.json"
    where = RowsFile(companion_path(results))
    stored = []
    with RowWriter(where.path) as writer:
        for it in items:
            offset = writer.start_item()
            for r in it.rows:
                writer.write(it.nodeid, r)
            stored.append(replace(it, rows=StoredRows(where, it.nodeid, offset, len(it.rows))))
        writer.end_item()
    where.rows = writer.rows
    write_results(run(*stored), results)
    loaded = load_results(results)
    assert all(isinstance(i.rows, StoredRows) for i in loaded.items)
    expected = compare_variants(run(*items))
    assert expected and expected[0].comparisons
    assert compare_variants(loaded) == expected
