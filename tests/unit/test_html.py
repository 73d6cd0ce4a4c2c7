"""HTML report without a browser: self-contained, data escaped, CSP hashes right, rows classified.
(tests/browser/test_html_chromium.py renders it in headless Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib import resources

from llmgate_runs import PAYLOAD, item, row, run, scored, threshold

from pytest_llmgate.reporting.html import MAX_STRING, json_for_script, render_html, report_data
from pytest_llmgate.reporting.pack import embed, pack_report, read_embedded


def _sample():
    return run(
        item("bot", "good", rows=scored("r", [0.9, 0.8], cost_usd=0.01),
             checks=[threshold("f1", 0.85, 0.5)], usage={"subject": {"cost_usd": 0.02}}),
        item("bot", "bad", rows=[row("x</script><script>alert(1)</script>", output=PAYLOAD,
                                     data={"question": PAYLOAD}, f1=0.1),
                                 row("y", f1=0.9), row("z", errors=["timeout"])],
             checks=[threshold("f1", 0.33, 0.5)]),
        warnings=["<b>warning</b>"],
    )


def _element(page: str) -> str:
    match = re.search(r'<script type="application/json" id="llmgate-data">(.*?)</script>', page,
                      re.S)
    assert match is not None
    return match.group(1)


def test_page_is_self_contained() -> None:
    page = render_html(_sample())
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<script") == 2  # the JSON data and the renderer, nothing from the data
    assert page.count("</script>") == 2
    data = embed(pack_report(report_data(_sample())))
    shell = page.replace(data, "")  # the page without the (inert) data
    for fetching in ("<link", "<img", "<iframe", "src=", "href=", "@import", "url("):
        assert fetching not in shell, fetching
    assert re.search(r"https?://(?!www\.w3\.org/2000/svg)", shell) is None


def test_data_cannot_close_its_script_element() -> None:
    page = render_html(_sample())
    data = page[page.index('id="llmgate-data">'):page.rindex("<script>")]
    assert "<" not in data.split(">", 1)[1].rsplit("</script>", 1)[0]
    assert "\\u003c/script\\u003e" in data
    assert "onerror" in data  # present, but only as inert text inside a JSON string
    assert json_for_script({"a": "\u2028&<>"}) == '{"a":"\\u2028\\u0026\\u003c\\u003e"}'


def test_embedded_json_round_trips() -> None:
    results = _sample()
    expected = json.loads(json.dumps(report_data(results)))
    plain, packed = render_html(results), render_html(results, compress=True)
    assert json.loads(_element(plain))["version"] == 2  # columns, readable in the page source
    assert set(json.loads(_element(packed))) == {"gzip"}
    assert read_embedded(plain) == read_embedded(packed) == expected


def test_csp_allows_exactly_the_inline_script_and_style() -> None:
    page = render_html(_sample())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy
    script = page[page.rindex("<script>") + len("<script>"):page.rindex("</script>")]
    style = page[page.index("<style>") + len("<style>"):page.index("</style>")]
    for text, directive in ((script, "script-src"), (style, "style-src")):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_renderer_never_parses_data_as_markup() -> None:
    js = resources.files("pytest_llmgate.reporting").joinpath("report.js").read_text("utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"on", "javascript:"):
        assert sink not in js, sink
    assert "textContent" in js


def test_rows_are_classified_and_long_strings_cut() -> None:
    long = "x" * (MAX_STRING + 500)
    results = run(item("bot", "v", rows=[row("ok", f1=0.9), row("low", f1=0.1, output=long),
                                        row("err", errors=["boom"])],
                       checks=[threshold("f1", 0.5, 0.5),
                               threshold("f1", 0.1, 0.5, aggregate="min")]))
    data = report_data(results)
    status = {r[1]: (r[2], r[9]) for r in data["rows"]}
    assert status == {"ok": (0, []), "low": (1, ["f1"]), "err": (2, [])}
    # under a mean bound alone no row is "failing": only a row-level rule judges a row
    mean_only = run(item("bot", "v", rows=[row("ok", f1=0.9), row("low", f1=0.1)],
                         checks=[threshold("f1", 0.5, 0.5)]))
    assert [r[2] for r in report_data(mean_only)["rows"]] == [0, 0]
    output = next(r[4] for r in data["rows"] if r[1] == "low")
    assert len(output) < MAX_STRING + 100
    assert output.endswith("[500 more characters]")


def test_pass_rate_row_bounds_define_failing_rows() -> None:
    check = threshold("contains", 0.5, 0.9, aggregate="pass_rate(>= 1)")
    results = run(item("bot", "v", rows=[row("hit", contains=1.0), row("miss", contains=0.0)],
                       checks=[check]))
    status = {r[1]: r[2] for r in report_data(results)["rows"]}
    assert status == {"hit": 0, "miss": 1}


def test_baseline_section_data() -> None:
    base = run(item("bot", "old", rows=scored("r", [1])), item("bot", "good", rows=scored("r", [0.5])),
               commit="d" * 40)
    head = run(item("bot", "good", rows=scored("r", [0.9])))
    data = report_data(head, None)
    assert data["baseline"] is None
    from pytest_llmgate.verdict.compare import diff_runs

    data = report_data(head, diff_runs(head, base))
    assert data["baseline"]["label"] == "main " + "d" * 12
    assert data["baseline"]["removed"] == ["suites/demo.yaml::bot[old-qa]"]
    f1 = next(m for m in data["items"][0]["metrics"] if m["metric"] == "f1")
    assert (f1["baseline"], f1["value"], f1["change"]) == (0.5, 0.9, "better")
    assert f1["delta"].startswith("\u25b2 +0.4")


def test_histograms_share_a_range_per_metric() -> None:
    results = run(item("bot", "a", rows=scored("r", [0.0, 0.5])),
                  item("bot", "b", rows=scored("r", [1.0, 1.0])))
    items = report_data(results)["items"]
    a, b = (i["hist"]["f1"] for i in items)
    assert (a["lo"], a["hi"]) == (b["lo"], b["hi"]) == (0.0, 1.0)
    assert sum(a["bins"]) == sum(b["bins"]) == 2
    assert b["bins"][-1] == 2


def test_findings_default_metric_and_gated_histograms_first() -> None:
    ungated = {f"detector_{n}": 0.0 for n in range(20)}
    results = run(
        item("bot", "a", rows=[row("r1", f1=0.2, latency_ms=10.0, **ungated)],
             checks=[threshold("latency_ms", 10.0, None, 100.0), threshold("f1", 0.2, 0.5)]),
        item("bot", "b", rows=[row("r1", f1=0.9, latency_ms=12.0, **ungated)],
             checks=[threshold("f1", 0.9, 0.5)]),
    )
    data = report_data(results)
    assert [(f["short"], f["metric"], f["value"], f["bound"]) for f in data["findings"]] == [
        ("bot[a-qa]", "f1", "0.2", ">= 0.5")]
    assert data["defaultMetric"] == "f1"  # the failing metric, not latency
    assert "f1" in data["items"][0]["hist"]  # gated metrics get histogram slots first
    passing = run(item("bot", "b", rows=[row("r1", f1=0.9, latency_ms=12.0)],
                       checks=[threshold("latency_ms", 12.0, None, 100.0),
                               threshold("f1", 0.9, 0.5)]))
    assert report_data(passing)["defaultMetric"] == "f1"  # first gated quality metric
    assert report_data(passing)["findings"] == []


def test_variants_and_baseline_rows_for_the_matrix() -> None:
    from pytest_llmgate.verdict.compare import diff_runs

    checks = [threshold("f1", 0.5, 0.1)]
    values = [0.1, 0.2, 0.3, 0.2, 0.1, 0.3]
    head = run(item("bot", "a", rows=scored("r", values), checks=checks),
               item("bot", "b", rows=scored("r", [v + 0.6 for v in values]), checks=checks))
    base = run(item("bot", "a", rows=[*scored("r", values[:1]), row("r1", output="older"),
                                      *scored("r", values)[2:]]))
    data = report_data(head, diff_runs(head, base))
    [group] = data["variants"]
    assert group["best"] == {"f1": "b"}
    assert group["comparisons"][0]["winner"] == "b"
    assert set(data["baseRows"]) == {"0"}  # only `a` has a baseline item
    assert data["baseRows"]["0"]["r1"][0] == "older"
    assert data["baseRows"]["0"]["r0"][0] == 0  # unchanged answers are sent once


def test_dataset_rows_are_sent_once_per_golden_row() -> None:
    shared = [row(f"r{i}", f1=0.5, data={"id": f"r{i}", "context": "long " * 50}) for i in range(3)]
    changed = [*shared[:2], row("r2", f1=0.5, data={"id": "r2", "context": "edited"})]
    results = run(item("bot", "a", rows=shared), item("bot", "b", rows=shared),
                  item("bot", "c", rows=changed))
    data = report_data(results)
    assert len(data["data"]) == 4  # three golden rows, plus the edited one kept apart
    by_item = {(r[0], r[1]): data["data"][r[5]]["context"] for r in data["rows"]}
    assert by_item[(0, "r2")] == by_item[(1, "r2")] == "long " * 50
    assert by_item[(2, "r2")] == "edited"
