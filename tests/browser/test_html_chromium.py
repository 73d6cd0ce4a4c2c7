"""The HTML report in a real headless Chromium (Debian's `chromium`), driven over the DevTools
protocol, for the three runs a reviewer meets: a passing run, a failing run with a baseline, and a
two-variant run. Each page renders without a console error, hostile dataset text and model output
stay text, the "what failed" summary lists exactly the breaches of the results JSON, and the
variant matrix, its filters, the row filter, search, drill-down and deep links work. Screenshots
go to test-artifacts/ (uploaded by CI, and the README's picture).

The reports come from real gate runs, so the page shows what a reviewer would see.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.reporting.html import render_html
from pytest_llmgate.results.io import load_results
from tests.conftest import OUTER_CI

pytestmark = pytest.mark.browser

HOSTILE = ("<script>document.title='pwned';window.__pwned=1</script>"
           "<img src=x onerror=\"document.title='pwned';window.__pwned=1\">"
           "<svg onload=\"window.__pwned=1\"></svg>")
HOSTILE_ID = "<img src=y onerror=window.__pwned=1>"

APP = '''
def reply(question, context, strategy="quote"):
    if strategy == "quote":
        return context
    return context.split(" ")[0]
'''

SUITE = """
suite: browser
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  bot:
    target: echo_app:reply
    variants:
      quote: {strategy: quote}
evaluators:
  - "evaluators.custom:word_overlap"
  - length
thresholds:
  metrics:
    word_overlap:
      - {min: 0.5}
      - {aggregate: pass_rate, row: {min: 0.5}, min: 0.75}
"""

TWO_VARIANTS = SUITE.replace("quote: {strategy: quote}",
                             "quote: {strategy: quote}\n      short: {strategy: short}")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                  "--window-size=1400,1000", "--remote-debugging-port=0"]


def _chromium() -> str:
    for name in (os.environ.get("LLMGATE_CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome"):
        found = shutil.which(name) if name else None
        if found:
            return found
    message = "chromium not installed: apt-get install -y chromium"
    if OUTER_CI:
        pytest.fail(message)
    pytest.skip(message)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str) -> None:
        websocket = pytest.importorskip("websocket")  # websocket-client
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions and browser log errors seen so far."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning",
                                                                                 "assert"):
                out.append(f"console.{params.get('type')}: {params.get('args')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in (
                    "error", "warning"):
                out.append(f"log: {params['entry'].get('text')}")
        return out

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    """A fresh headless Chromium with its own profile and log under its own temporary folder;
    every file it opens is closed whatever happens (a leaked log file handle is a
    ResourceWarning in some later test)."""
    chromium = _chromium()
    home = tmp_path_factory.mktemp("chromium")
    profile = home / "profile"
    with (home / "chromium.log").open("w") as log:
        proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                 "about:blank"], stdout=log, stderr=log)
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not port_file.is_file() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("chromium did not start: " + (home / "chromium.log").read_text())
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
            with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
                targets = json.loads(answer.read())
            page = next(t for t in targets if t.get("type") == "page")
            tools = DevTools(page["webSocketDebuggerUrl"])
            try:
                for domain in ("Page", "Runtime", "Log"):
                    tools.call(f"{domain}.enable")
                yield tools
            finally:
                tools.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _rows() -> list[dict[str, str]]:
    return [
        {"id": "r1", "question": "How do I reset my password?",
         "context": "Click forgot password on the sign-in page.",
         "ground_truth": "Click forgot password on the sign-in page."},
        {"id": "r2", "question": "When do plans renew?",
         "context": "Plans renew monthly on the signup date.",
         "ground_truth": "Plans renew monthly on the signup date."},
        {"id": "r3", "question": "How long do refunds take?",
         "context": "Refunds take five business days.",
         "ground_truth": "Refunds take five business days."},
        {"id": HOSTILE_ID, "question": HOSTILE, "context": HOSTILE,
         "ground_truth": "Plans renew monthly."},
    ]


def _gate(project: Any, *args: str, suite: str = SUITE, expect: int = 0) -> dict[str, Any]:
    project.write("suites/support.yaml", suite)
    result = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", *args)
    assert result.ret == expect, result.stdout.str()
    return project.results()


@pytest.fixture
def gate_project(project: Any) -> Any:
    project.write("echo_app.py", APP)
    project.write("thresholds.yaml", "metrics: {}\n")
    project.rows(_rows())
    return project


@pytest.fixture(params=["plain", "gzip"])
def html_report(gate_project: Any, request: pytest.FixtureRequest) -> Path:
    """A failing run with a baseline: the baseline ran `quote`; this run adds `short`, which
    fails its thresholds. `gzip`: the same run rendered with its data gzipped, as a big run's is
    (the page inflates it with the browser's DecompressionStream)."""
    _gate(gate_project, "--llm-gate-save", "base.json")
    _gate(gate_project, "--llm-gate-baseline", "base.json", "--llm-gate-html", "report.html",
          suite=TWO_VARIANTS, expect=pytest.ExitCode.TESTS_FAILED)
    path: Path = gate_project.path / "report.html"
    if request.param == "gzip":
        run = load_results(gate_project.path / ".llmgate" / "results.json")
        page = render_html(run, load_results(gate_project.path / "base.json"), compress=True)
        assert '<script type="application/json" id="llmgate-data">{"gzip": "' in page
        path.write_text(page, encoding="utf-8")
    return path


def _screenshot(tools: DevTools, request: pytest.FixtureRequest, name: str) -> Path:
    import base64

    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    target = Path(str(request.config.rootpath)) / "test-artifacts" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


VISIBLE_ROWS = "document.querySelectorAll('#rows-body tr.row-line').length"
MATRIX_ROWS = "document.querySelectorAll('#matrix-body tr.matrix-row').length"


def _open(tools: DevTools, page: Path, fragment: str = "") -> None:
    if fragment:  # a fresh load, not a same-document hash change
        tools.call("Page.navigate", url="about:blank")
        tools.wait_for("Page.loadEventFired")
    tools.call("Page.navigate", url=page.as_uri() + fragment)
    tools.wait_for("Page.loadEventFired")
    _until(tools, "document.body.dataset.rendered", "true")  # gzipped data renders async


def _set(tools: DevTools, element: str, value: str, event: str = "change") -> None:
    tools.js(f"var e = document.getElementById({element!r}); e.value = {value!r};"
             f"e.dispatchEvent(new Event({event!r}))")


def _until(tools: DevTools, expression: str, expected: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while tools.js(expression) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tools.js(expression) == expected, expression


def _breaches(results: dict[str, Any]) -> set[tuple[str, str]]:
    """(item, metric) of every check that did not pass, as the summary table names them."""
    out = set()
    for item in results["items"]:
        for c in item["checks"]:
            if c["verdict"] != "pass":
                metric = f"{c['metric']} {c['aggregate']}"
                out.add((item["nodeid"].split("::")[1],
                         metric + (" (regression)" if c["kind"] == "regression" else "")))
        if item["verdict"] in ("failed", "error") and not any(
                c["verdict"] in ("fail", "error", "inconclusive") for c in item["checks"]):
            out.add((item["nodeid"].split("::")[1], "item"))
    return out


SUMMARY = ("Array.from(document.querySelectorAll('#findings-body tr'))"
           ".map(r => [r.cells[1].textContent, r.cells[2].textContent])")


def test_failing_run_with_baseline(browser: DevTools, html_report: Path,
                                   request: pytest.FixtureRequest) -> None:
    tools = browser
    _open(tools, html_report)
    results = json.loads((html_report.parent / ".llmgate" / "results.json").read_text("utf-8"))

    # the hostile row is on the page as text, and nothing of it ran
    assert tools.js("document.title") == "LLM gate report"
    assert tools.js("typeof window.__pwned") == "undefined"
    assert tools.js("document.querySelectorAll('img').length") == 0
    assert tools.js("document.scripts.length") == 2
    assert tools.js("document.querySelectorAll('[onerror],[onload]').length") == 0
    assert "<script>document.title='pwned'" in tools.js("document.getElementById('rows-body')"
                                                        ".textContent")
    assert tools.js("document.querySelector('h1 .badge').textContent") == "FAILED"

    # "what failed" comes first and lists exactly the breaches of the results JSON
    assert tools.js("document.querySelector('main section:not([hidden])').id") == \
        "verdict-section"
    shown = [tuple(r) for r in tools.js(SUMMARY)]
    assert len(shown) == len(set(shown))
    assert set(shown) == _breaches(results) != set()

    # two items x four rows; the per-suite table shows the baseline delta column
    assert tools.js(VISIBLE_ROWS) == 8
    assert tools.js("document.getElementById('row-status').textContent") == "8 of 8 rows"
    assert "Δ" in tools.js("document.querySelector('.suite-table thead').textContent")
    assert tools.js("document.getElementById('baseline-section').hidden") is False
    assert tools.js("document.querySelectorAll('#chart-variants svg rect').length") >= 2
    assert tools.js("document.getElementById('metric-select').value") == "word_overlap"

    # the matrix: golden rows x (quote's baseline, quote, short), diffed against the baseline
    assert tools.js("Array.from(document.querySelectorAll('#matrix-head th'))"
                    ".map(t => t.textContent)") == [
        "row", "question / expected", "quote (baseline) (reference)", "quote", "short"]
    assert tools.js(MATRIX_ROWS) == 4
    assert tools.js("document.querySelectorAll('#matrix-body del.w').length") > 0
    _screenshot(tools, request, "html-report.png")
    _set(tools, "matrix-filter", "changed")
    assert tools.js(MATRIX_ROWS) == 4  # short answers differently on every row
    _set(tools, "matrix-ref", "1")  # against quote of this run: quote itself is unchanged
    assert tools.js(MATRIX_ROWS) == 4
    assert tools.js("document.querySelectorAll('#matrix-body tr td:nth-child(4) del.w,"
                    "#matrix-body tr td:nth-child(4) ins.w').length") == 0
    _set(tools, "matrix-filter", "regressed")
    regressed = tools.js(MATRIX_ROWS)
    assert 1 <= regressed <= 4
    _set(tools, "matrix-filter", "failing")
    failing = tools.js(MATRIX_ROWS)
    assert failing >= 1
    assert tools.js("Array.from(document.querySelectorAll('#matrix-body tr.matrix-row'))"
                    ".every(r => r.querySelector('.c-fail, .c-error') !== null)") is True
    _set(tools, "matrix-filter", "all")
    _set(tools, "matrix-search", "signup", "input")
    _until(tools, MATRIX_ROWS, 1)

    # a matrix cell is a deep link into the rows: the row opens with its expected answer
    tools.js("document.querySelector('#matrix-body tr.matrix-row td:nth-child(5)').click()")
    _until(tools, "document.querySelectorAll('#rows-body tr.target').length", 1)
    assert "short" in tools.js("decodeURIComponent(location.hash)")
    detail = tools.js("document.querySelector('#rows-body tr.detail').textContent")
    assert "expected" in detail
    assert "Plans renew monthly on the signup date." in detail

    # rows filter: failing rows are those under the row-level rule (pass_rate row bound)
    _set(tools, "item-filter", "-1")
    _set(tools, "filter", "failing")
    failing_rows = tools.js(VISIBLE_ROWS)
    assert 1 <= failing_rows < 8
    assert tools.js("Array.from(document.querySelectorAll('#rows-body tr.row-line'))"
                    ".every(r => r.classList.contains('status-failing'))") is True
    _set(tools, "filter", "erroring")
    assert tools.js(VISIBLE_ROWS) == 0

    # search (debounced) finds the hostile row by its text; the drill-down opens on click
    _set(tools, "filter", "all")
    _set(tools, "search", "onerror", "input")
    _until(tools, VISIBLE_ROWS, 2)  # the hostile row under both variants
    tools.js("document.querySelector('#rows-body tr.row-line').click()")
    detail = tools.js("document.querySelector('#rows-body tr.detail').textContent")
    assert "data.question" in detail
    assert HOSTILE in detail
    assert tools.js("typeof window.__pwned") == "undefined"
    assert tools.js("document.title") == "LLM gate report"
    _screenshot(tools, request, "html-report-drilldown.png")

    # a deep link opened from outside (a PR comment) lands on the row, detail open
    quote = next(i["nodeid"] for i in results["items"] if "quote" in i["nodeid"])
    _open(tools, html_report, f"#item={quote}&row=r2")
    _until(tools, "document.querySelector('#rows-body tr.target')?.dataset.row", "r2")
    # on screen, although the rows section is laid out lazily (content-visibility)
    _until(tools, "(() => { const r = document.querySelector('#rows-body tr.target')"
                  ".getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; })()", True)
    assert tools.js("document.getElementById('row-status').textContent") == "4 of 8 rows"
    assert "Plans renew monthly on the signup date." in tools.js(
        "document.querySelector('#rows-body tr.detail').textContent")
    assert tools.problems() == []


def test_passing_run(browser: DevTools, gate_project: Any,
                     request: pytest.FixtureRequest) -> None:
    results = _gate(gate_project, "--llm-gate-html", "report.html")
    assert _breaches(results) == set()
    _open(browser, gate_project.path / "report.html")
    assert browser.js("document.querySelector('h1 .badge').textContent") == "PASSED"
    assert browser.js("document.getElementById('verdict-none').hidden") is False
    assert browser.js("document.getElementById('findings-table').hidden") is True
    assert browser.js(SUMMARY) == []
    assert browser.js("document.getElementById('matrix-section').hidden") is True  # one column
    # a row is labelled failing only under the row-level rule (word_overlap >= 0.5 per row);
    # the item-level mean bar labels none
    below = [r["id"] for i in results["items"] for r in i["rows"]
             if r["metrics"]["word_overlap"] < 0.5]
    _set(browser, "filter", "problems")
    assert browser.js("Array.from(document.querySelectorAll('#rows-body tr.row-line'))"
                      ".map(r => r.dataset.row)") == below
    _screenshot(browser, request, "html-report-passing.png")
    assert browser.problems() == []


def test_two_variant_run(browser: DevTools, gate_project: Any,
                         request: pytest.FixtureRequest) -> None:
    results = _gate(gate_project, "--llm-gate-html", "report.html", suite=TWO_VARIANTS,
                    expect=pytest.ExitCode.TESTS_FAILED)
    page = gate_project.path / "report.html"
    _open(browser, page)
    assert {tuple(r) for r in browser.js(SUMMARY)} == _breaches(results)
    # the A/B verdict: a paired comparison of the two variants on word_overlap
    assert browser.js("document.getElementById('ab-section').hidden") is False
    heading = browser.js("document.querySelector('#ab h3').textContent")
    assert heading.startswith("browser: bot on qa (quote vs short): ")
    row = browser.js("Array.from(document.querySelector('#ab tbody tr').cells)"
                     ".map(c => c.textContent)")
    assert row[:2] == ["word_overlap", "short \u2212 quote"]
    assert row[-1] in ("no significant difference", "quote better")  # 4 rows: little power
    # the matrix: two variant columns, the first is the reference
    assert browser.js("Array.from(document.querySelectorAll('#matrix-head th'))"
                      ".map(t => t.textContent)") == [
        "row", "question / expected", "quote (reference)", "short"]
    assert browser.js(MATRIX_ROWS) == 4
    _set(browser, "matrix-filter", "regressed")
    assert browser.js(MATRIX_ROWS) >= 1
    _set(browser, "matrix-ref", "")  # no reference: nothing is "changed"
    _set(browser, "matrix-filter", "changed")
    assert browser.js(MATRIX_ROWS) == 0
    _set(browser, "matrix-filter", "all")
    assert browser.js("document.querySelectorAll('#matrix-body ins.w, #matrix-body del.w')"
                      ".length") == 0
    # charts open on the failing metric, with labels that tell the variants apart
    assert browser.js("document.getElementById('metric-select').value") == "word_overlap"
    labels = browser.js("Array.from(document.querySelectorAll('#chart-variants svg text'))"
                        ".map(t => t.textContent).filter(t => t.includes('['))")
    assert len(labels) == len(set(labels)) == 2
    _screenshot(browser, request, "html-report-variants.png")
    assert browser.problems() == []


def test_ab_gate_rule(browser: DevTools, gate_project: Any,
                      request: pytest.FixtureRequest) -> None:
    """`compare_variants:` in the suite: `short` must not be worse than `quote`. The breach is in
    "what failed" like any other, and the A/B section says which rule gated the pair."""
    suite = TWO_VARIANTS + ("  compare_variants:\n    - {metric: word_overlap, candidate: short, "
                            "reference: quote, max_drop: 0.05}\n")
    results = _gate(gate_project, "--llm-gate-html", "report.html", suite=suite,
                    expect=pytest.ExitCode.TESTS_FAILED)
    short = next(i for i in results["items"] if "short" in i["nodeid"])
    [check] = [c for c in short["checks"] if c["kind"] == "comparison"]
    assert check["verdict"] == "fail"
    _open(browser, gate_project.path / "report.html")
    shown = {tuple(r) for r in browser.js(SUMMARY)}
    assert shown == _breaches(results)
    assert ("bot[short-qa]", "word_overlap mean vs quote") in shown
    cells = browser.js("Array.from(document.querySelectorAll('#findings-body tr')).filter(r => r"
                       ".cells[2].textContent.includes(' vs ')).map(r => r.cells[4].textContent)")
    [cell] = cells  # the reference's value -> the candidate's, at the metric's precision
    before, after = cell.removesuffix(f" (allowed >= {check['min']:g})").split(" \u2192 ")
    assert float(before) == pytest.approx(check["baseline"], abs=1e-3)
    assert float(after) == pytest.approx(check["value"], abs=1e-3)
    gates = browser.js("Array.from(document.querySelectorAll('#ab .ab-gates li'))"
                       ".map(li => li.textContent)")
    assert len(gates) == 1
    assert gates[0].startswith("FAIL gate: short word_overlap mean vs quote = ")
    assert gates[0].endswith(f", needs >= {check['min']:g} [{check['source']}]")
    assert check["source"].startswith("support.yaml:")
    _screenshot(browser, request, "html-report-ab-gate.png")
    assert browser.problems() == []


def test_a_page_over_its_row_budget_says_what_it_shows(browser: DevTools, gate_project: Any,
                                                       request: pytest.FixtureRequest) -> None:
    """Two 4-row items under a 4-row budget: each shows 2 rows and says which and where the
    rest is; the counts are the run's; a deep link to a row left out says so."""
    from pytest_llmgate.reporting.pack import read_embedded

    _gate(gate_project, "--llm-gate-html", "report.html", "--llm-gate-html-rows", "4",
          suite=TWO_VARIANTS, expect=pytest.ExitCode.TESTS_FAILED)
    page = gate_project.path / "report.html"
    data = read_embedded(page.read_text("utf-8"))
    _open(browser, page)
    assert "8 rows (4 shown in this page)" in browser.js(
        "document.getElementById('summary').textContent")
    notes = browser.js("Array.from(document.querySelectorAll('#rows-notes li'))"
                       ".map(li => li.textContent)")
    assert [n.split(": ", 1)[0] for n in notes] == ["bot[quote-qa]", "bot[short-qa]"]
    assert all(": showing 2 of 4 rows (the page's row budget is 4 rows, 2 for this item)" in n
               and n.endswith("every row is in the results JSON.") for n in notes), notes
    assert browser.js("document.getElementById('rows-notes').hidden") is False
    assert browser.js("document.getElementById('row-status').textContent") == (
        "4 of 4 rows in this page (8 in the run)")
    assert browser.js("Array.from(document.querySelectorAll('#suites td div.muted'))"
                      ".map(d => d.textContent).filter(t => t.startsWith('showing'))") == [
        "showing 2 of 4 rows", "showing 2 of 4 rows"]
    shown = {r[1] for r in data["rows"] if r[0] == 1}
    missing = next(r["id"] for r in _rows() if r["id"] not in shown)
    nodeid = data["items"][1]["nodeid"]
    from urllib.parse import quote

    _open(browser, page, f"#item={quote(nodeid, safe='')}&row={quote(missing, safe='')}")
    status = browser.js("document.getElementById('row-status').textContent")
    assert status.startswith(f"row {missing} is not among the rows this page shows: showing 2 of")
    assert browser.js("window.__pwned") is None and browser.js("document.title") != "pwned"
    _screenshot(browser, request, "html-report-row-budget.png")
    assert browser.problems() == []
