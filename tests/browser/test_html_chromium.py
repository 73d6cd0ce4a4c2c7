"""The HTML report in a real headless Chromium (Debian's `chromium`), driven over the DevTools
protocol: it renders, logs no console error, hostile dataset text and model output stay text, and
the row filter, search and drill-down work. A screenshot goes to test-artifacts/.

The report comes from two real gate runs (a baseline, then a changed variant), so the page shows
deltas as a reviewer would see them.
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
    word_overlap: {min: 0.5}
"""

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
def browser(tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("w")
    proc = subprocess.Popen([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             "about:blank"], stdout=log, stderr=log)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chromium did not start: " + (tmp_path / "chromium.log").read_text())
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
        targets = json.loads(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
        page = next(t for t in targets if t.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            tools.call(f"{domain}.enable")
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


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


@pytest.fixture
def html_report(project: Any) -> Path:
    project.write("echo_app.py", APP)
    project.write("suites/support.yaml", SUITE)
    project.write("thresholds.yaml", "metrics: {}\n")
    project.rows(_rows())
    first = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-save",
                                       "base.json")
    assert first.ret == pytest.ExitCode.OK, first.stdout.str()
    project.write("suites/support.yaml", SUITE.replace(
        "quote: {strategy: quote}", "quote: {strategy: quote}\n      short: {strategy: short}"))
    second = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-baseline",
                                        "base.json", "--llm-gate-html", "report.html")
    assert second.ret == pytest.ExitCode.TESTS_FAILED, second.stdout.str()  # "short" fails
    path: Path = project.path / "report.html"
    return path


def _screenshot(tools: DevTools, request: pytest.FixtureRequest, name: str) -> Path:
    import base64

    shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    target = Path(str(request.config.rootpath)) / "test-artifacts" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


VISIBLE_ROWS = "document.querySelectorAll('#rows-body tr.row-line').length"


def test_report_renders_safely_and_filters(browser: DevTools, html_report: Path,
                                           request: pytest.FixtureRequest) -> None:
    tools = browser
    tools.call("Page.navigate", url=html_report.as_uri())
    tools.wait_for("Page.loadEventFired")
    assert tools.js("document.body.dataset.rendered") == "true"

    # the hostile row is on the page as text, and nothing of it ran
    assert tools.js("document.title") == "LLM gate report"
    assert tools.js("typeof window.__pwned") == "undefined"
    assert tools.js("document.querySelectorAll('img').length") == 0
    assert tools.js("document.scripts.length") == 2
    assert tools.js("document.querySelectorAll('[onerror],[onload]').length") == 0
    assert "<script>document.title='pwned'" in tools.js("document.getElementById('rows-body')"
                                                        ".textContent")
    assert tools.js("document.querySelector('h1 .badge').textContent") == "FAILED"

    # two items x four rows; the per-suite table shows the baseline delta column
    assert tools.js(VISIBLE_ROWS) == 8
    assert tools.js("document.getElementById('row-status').textContent") == "8 of 8 rows"
    assert "Δ" in tools.js("document.querySelector('.suite-table thead').textContent")
    assert tools.js("document.getElementById('baseline-section').hidden") is False
    assert tools.js("document.querySelectorAll('#chart-variants svg rect').length") >= 2
    assert tools.js("document.querySelectorAll('#chart-scatter svg circle').length") == 2
    _screenshot(tools, request, "html-report.png")

    # filter: failing rows only (below the word_overlap bar of 0.5)
    tools.js("var f = document.getElementById('filter'); f.value = 'failing';"
             "f.dispatchEvent(new Event('change'))")
    failing = tools.js(VISIBLE_ROWS)
    assert 1 <= failing < 8
    assert tools.js("Array.from(document.querySelectorAll('#rows-body tr.row-line'))"
                    ".every(r => r.classList.contains('status-failing'))") is True
    assert tools.js("document.getElementById('row-status').textContent") == f"{failing} of 8 rows"
    tools.js("var f = document.getElementById('filter'); f.value = 'erroring';"
             "f.dispatchEvent(new Event('change'))")
    assert tools.js(VISIBLE_ROWS) == 0

    # search (debounced) finds the hostile row by its text; the drill-down opens on click
    tools.js("var f = document.getElementById('filter'); f.value = 'all';"
             "f.dispatchEvent(new Event('change'));"
             "var s = document.getElementById('search'); s.value = 'onerror';"
             "s.dispatchEvent(new Event('input'))")
    deadline = time.monotonic() + 10
    while tools.js(VISIBLE_ROWS) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tools.js(VISIBLE_ROWS) == 2  # the hostile row under both variants
    tools.js("document.querySelector('#rows-body tr.row-line').click()")
    detail = tools.js("document.querySelector('#rows-body tr.detail').textContent")
    assert "data.question" in detail
    assert HOSTILE in detail
    assert tools.js("typeof window.__pwned") == "undefined"
    assert tools.js("document.title") == "LLM gate report"
    _screenshot(tools, request, "html-report-drilldown.png")

    assert tools.problems() == []
