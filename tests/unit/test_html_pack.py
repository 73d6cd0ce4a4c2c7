"""The HTML report's packed data (reporting/pack.py): columns round-trip exactly, whatever the
values; a big report is gzipped into base64 that cannot break out of its element; the page reads
back as the same document. (tests/browser/ opens packed and gzipped pages in Chromium.)"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llmgate_runs import PAYLOAD, item, row, run

from pytest_llmgate.reporting.html import render_html, report_data
from pytest_llmgate.reporting.pack import (
    COMPRESS_OVER,
    decode_column,
    encode_column,
    json_for_script,
    pack_report,
    read_embedded,
    unpack_report,
)
from pytest_llmgate.results.model import RunResult
from pytest_llmgate.verdict.compare import diff_runs

SCALARS = (st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 0.5, -2.25])
           | st.text(max_size=4))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)


def _typed(values: list[Any]) -> str:
    """JSON text: tells 1, 1.0 and true apart, which == does not."""
    return json.dumps(values, sort_keys=False)


@settings(max_examples=300, deadline=None)
@given(pool=st.lists(JSON_VALUES, min_size=1, max_size=5), data=st.data())
def test_columns_round_trip_with_their_types(pool: list[Any], data: st.DataObject) -> None:
    values = data.draw(st.lists(st.sampled_from(pool), max_size=60))
    encoded = json.loads(json.dumps(encode_column(values)))  # as the page receives it
    assert _typed(decode_column(encoded, len(values))) == _typed(values)


def test_each_encoding_is_chosen_where_it_is_smallest() -> None:
    assert encode_column([7] * 100) == {"r": [[7, 100]]}
    ids = [f"r{i % 10}" for i in range(100)]
    assert encode_column(ids)["d"] == [f"r{i}" for i in range(10)]
    assert "p" in encode_column([i / 7 for i in range(100)])
    # equal under == but not the same JSON: never merged
    assert _typed(decode_column(encode_column([1, 1.0, True] * 10), 30)) == _typed(
        [1, 1.0, True] * 10)


@st.composite
def reports(draw: st.DrawFn) -> tuple[RunResult, RunResult]:
    ids = st.sampled_from(["r1", "r2", "__proto__", "constructor", "1", "", PAYLOAD])
    numbers = st.sampled_from([0.0, 0.25, 1.0, 3, math.nan, math.inf, 1e-9])

    def rows() -> Any:
        return st.lists(st.builds(
            lambda rid, output, errors, repeat, metrics: row(
                rid, output=output, errors=errors, repeat=repeat, **metrics),
            ids, st.one_of(st.text(max_size=5), st.none(), st.just({"response": "r"}), st.just(0)),
            st.lists(st.sampled_from(["timeout", PAYLOAD]), max_size=1), st.integers(0, 1),
            st.dictionaries(st.sampled_from(["f1", "cost_usd", "latency_ms"]), numbers)),
            max_size=4)

    def runs() -> Any:
        return st.lists(st.builds(lambda variant, rs: item("bot", variant, rows=rs),
                                  st.sampled_from(["a", "b", "c"]), rows()),
                        max_size=2, unique_by=lambda i: i.nodeid).map(lambda i: run(*i))

    return draw(runs()), draw(runs())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=reports())
def test_packed_report_reads_back_as_the_report(pair: tuple[RunResult, RunResult]) -> None:
    head, base = pair
    document = report_data(head, diff_runs(head, base))
    expected = json.loads(json.dumps(document))
    assert unpack_report(json.loads(json_for_script(pack_report(document)))) == expected


def _big_run() -> RunResult:
    rows = [row(f"r{n}", output=f"answer {n} " + "words " * 40 + PAYLOAD, f1=n / 3000)
            for n in range(3000)]
    return run(item("bot", "a", rows=rows), item("bot", "b", rows=rows))


def test_a_big_report_is_gzipped_into_inert_base64() -> None:
    results = _big_run()
    page = render_html(results)
    element = re.search(r'id="llmgate-data">(.*?)</script>', page, re.S)
    assert element is not None
    assert len(json_for_script(pack_report(report_data(results)))) > COMPRESS_OVER
    assert re.fullmatch(r'\{"gzip": "[A-Za-z0-9+/=]+"\}', element.group(1))
    assert "onerror" not in page and "pwned" not in page  # the payload is not even readable
    assert len(page) < len(json_for_script(report_data(results))) / 4
    assert read_embedded(page) == json.loads(json.dumps(report_data(results)))
    assert "gzip" not in json.loads(re.search(  # a small report stays readable in the source
        r'id="llmgate-data">(.*?)</script>', render_html(run(item())), re.S).group(1))
