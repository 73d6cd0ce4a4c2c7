"""Every surface renders the verdict the decision made, never one of its own.

Property: for random runs (items with random rows, checks and verdicts, some incomplete, some with
a baseline) the results JSON, the terminal summary, the JUnit XML, the Markdown comment and the
HTML report's data all say the same thing: passed exactly when the run passed, and every failed or
errored item is failing in JUnit."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_llmgate.reporting.html import render_html
from pytest_llmgate.reporting.junit import render_junit
from pytest_llmgate.reporting.markdown import render_markdown
from pytest_llmgate.reporting.text import render_summary
from pytest_llmgate.results.model import Check, ItemResult, RowResult, RunResult, results_text
from pytest_llmgate.verdict.decision import decide_run, item_verdict

CHECK_VERDICTS = ("pass", "fail", "warn", "error", "inconclusive")


@st.composite
def checks(draw: st.DrawFn) -> Check:
    verdict = draw(st.sampled_from(CHECK_VERDICTS))
    value = draw(st.one_of(st.none(), st.floats(0, 1)))
    return Check(kind=draw(st.sampled_from(("threshold", "errors"))), metric="m",
                 aggregate="mean", value=value, verdict=verdict, min=0.5,
                 message="" if verdict == "pass" else f"m mean = {value}, needs >= 0.5")


@st.composite
def items(draw: st.DrawFn, index: int) -> ItemResult:
    kind = draw(st.sampled_from(("decided", "skipped", "error")))
    rows = tuple(
        RowResult(id=f"r{i}", line=i + 1, data={"q": f"q{i}"}, inputs={}, output=f"a{i}",
                  metrics={"m": draw(st.floats(0, 1))},
                  errors=("boom",) if draw(st.booleans()) and kind == "decided" else ())
        for i in range(draw(st.integers(0 if kind != "decided" else 1, 4)))
    )
    found = tuple(draw(st.lists(checks(), max_size=4))) if kind == "decided" else ()
    base = ItemResult(nodeid=f"suites/s.yaml::bot[v{index}-qa]", suite="s", subject="bot",
                      variant=f"v{index}", dataset="qa", verdict="passed", rows=rows,
                      checks=found, message="why" if kind != "decided" else "")
    verdict = {"skipped": "skipped", "error": "error"}.get(kind) or item_verdict(base, found)
    return ItemResult(**{**base.__dict__, "verdict": verdict})


@st.composite
def runs(draw: st.DrawFn) -> RunResult:
    n = draw(st.integers(1, 5))
    return RunResult(items=tuple(draw(items(i)) for i in range(n)),
                     meta={"kind": "run", "git": {"commit": "c" * 40, "branch": "main"}},
                     incomplete=draw(st.booleans()))


def _html_verdict(html: str) -> str:
    match = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return str(data["verdict"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=runs())
def test_every_surface_renders_the_decided_verdict(run: RunResult) -> None:
    run = decide_run(run, None)
    expected = run.verdict
    assert expected == ("failed" if run.incomplete or any(
        i.verdict in ("failed", "error") for i in run.items) else "passed")

    assert json.loads(results_text(run))["verdict"] == expected

    summary = render_summary(run)
    assert f"llm-gate: {expected.upper()}" in summary or (
        run.incomplete and "INCOMPLETE" in summary.upper()
    )
    assert ("llm-gate: PASSED" in summary) == (expected == "passed")

    junit = ET.fromstring(render_junit(run))
    bad = int(junit.get("failures") or 0) + int(junit.get("errors") or 0)
    failing_items = sum(1 for i in run.items if i.verdict in ("failed", "error"))
    assert bad >= failing_items
    if expected == "passed":
        assert bad == 0

    headline = next(line for line in render_markdown(run).splitlines()
                    if line.strip() and not line.startswith("<!--"))
    if expected == "passed":
        assert "passed" in headline.lower()
    else:
        assert "passed" not in headline.lower()

    shown = _html_verdict(render_html(run))
    assert shown == ("incomplete" if run.incomplete else expected)
