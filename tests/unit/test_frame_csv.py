"""Per-row CSV export and `results_frame` (pandas)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from llmgate_runs import item, row, run, scored, threshold

from pytest_llmgate.reporting.csv import render_csv
from pytest_llmgate.reporting.frame import results_frame
from pytest_llmgate.reporting.html import render_html
from pytest_llmgate.results.io import write_results


def _sample():
    return run(
        item("bot", "a", rows=[row("r0", output="=HYPERLINK(\"http://x\")", f1=0.9),
                               row("r1", output={"response": "fine", "context": "c"}, f1=0.1),
                               row("r2", errors=["timeout"])],
             checks=[threshold("f1", 0.5, 0.6),
                     threshold("f1", 0.67, 0.6, aggregate="pass_rate(>= 0.5)")]),
        item("bot", "b", rows=scored("s", [1.0], contains=1.0)),
    )


def test_csv_columns_and_statuses() -> None:
    records = list(csv.DictReader(io.StringIO(render_csv(_sample()))))
    assert list(records[0])[:6] == ["nodeid", "suite", "subject", "variant", "dataset",
                                    "item_verdict"]
    assert list(records[0])[-1] == "output"
    assert [r["status"] for r in records] == ["ok", "failing", "erroring", "ok"]
    assert records[1]["failing"] == "f1"
    assert records[2]["error"] == "timeout"
    assert records[2]["f1"] == ""
    assert records[3]["contains"] == "1.0"
    assert records[1]["output"] == "fine"


def test_csv_defuses_spreadsheet_formulas() -> None:
    records = list(csv.DictReader(io.StringIO(render_csv(_sample()))))
    assert records[0]["output"] == "'=HYPERLINK(\"http://x\")"


def test_rows_fail_only_under_a_row_level_rule() -> None:
    """A mean bound says nothing about one row: in a passing run no row is labelled failing
    because it sits under the item's mean bar (issue 11: 121 of 222 rows were)."""
    mean_only = run(item("bot", "a", rows=scored("r", [0.9, 0.2, 0.8]),
                         checks=[threshold("f1", 0.63, 0.5)]))
    assert {r["status"] for r in csv.DictReader(io.StringIO(render_csv(mean_only)))} == {"ok"}
    worst_row = run(item("bot", "a", rows=scored("r", [0.9, 0.2, 0.8]),
                         checks=[threshold("f1", 0.2, 0.5, aggregate="min")]))
    statuses = [r["status"] for r in csv.DictReader(io.StringIO(render_csv(worst_row)))]
    assert statuses == ["ok", "failing", "ok"]


def test_csv_escapes_control_characters() -> None:
    hostile = "\x1b[2J\x1b]0;owned\x07 clear\u202e"
    text = render_csv(run(item("bot", "a", rows=[row("r\x1b[31m", output=hostile, f1=1.0)])))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    record = next(csv.DictReader(io.StringIO(text)))
    assert record["output"] == "\\x1b[2J\\x1b]0;owned\\x07 clear\\u202e"
    assert record["row_id"] == "r\\x1b[31m"


def test_results_frame(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    path = tmp_path / "results.json.gz"
    write_results(_sample(), path)
    frame = results_frame(path)
    assert len(frame) == 4
    assert frame["f1"].dtype == "float64"
    assert math.isnan(frame.loc[2, "f1"])
    assert frame.groupby("variant")["f1"].mean().round(3).to_dict() == {"a": 0.5, "b": 1.0}
    items = results_frame(str(path), level="items")
    assert list(items["verdict"]) == ["failed", "passed"]
    assert items.loc[0, "errored_rows"] == 1
    with pytest.raises(ValueError, match="level"):
        results_frame(path, level="cells")


def test_empty_run_renders() -> None:
    assert render_csv(run()).startswith("nodeid,")
    assert "<!DOCTYPE html>" in render_html(run())
