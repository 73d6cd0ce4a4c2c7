"""JUnit XML of gate items for CI test reporters (GitHub, Azure DevOps, Jenkins, GitLab).

Valid against the Jenkins xunit `junit-10.xsd` that pytest itself tests against: one `<testsuite>`
per suite, one `<testcase>` per item, `<failure>`/`<error>`/`<skipped>` for the verdict. That schema
allows no `<properties>` inside a `<testcase>` (which is why pytest warns about record_property
under xunit2), so metrics are suite-level `<property name="<case>.<metric>.<aggregate>">` entries
and, for people, a metric table in each case's `<system-out>`.

Written to its own file from the merged `RunResult`, so it is right under xdist and never touches
pytest's own `--junitxml`; the case names carry an `llm_gate` class prefix so a report that shows
both files side by side does not merge them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from pytest_llmgate.reporting._common import findings, fmt, fmt_delta, printable
from pytest_llmgate.reporting.text import render_item_failure, table
from pytest_llmgate.results.model import ERROR, FAILED, SKIPPED, ItemResult, RunResult
from pytest_llmgate.verdict.compare import ItemDiff, RunDiff, diff_runs

__all__ = ["render_junit", "xml_text"]

# characters XML 1.0 cannot carry at all (ElementTree would write them and break the file)
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
MAX_TEXT = 20_000


def xml_text(value: object, limit: int = MAX_TEXT) -> str:
    text = _ILLEGAL.sub("\ufffd", str(value))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _time(seconds: float) -> str:
    # junit-10.xsd's SUREFIRE_TIME: at most three decimals, no exponent
    return f"{max(0.0, seconds):.3f}"


def breach_summary(item: ItemResult) -> str:
    """`2 breaches: <most severe first>; ...` for `<failure message>`, what CI reporters show
    on one line: every failing, erroring or inconclusive check (and the item's own error)."""
    found = [f for f in findings(RunResult(items=(item,)), warnings=False)
             if f.blocking and f.check is not None]
    texts = [printable(f.message() or f"{f.check.metric if f.check else 'item'} {f.verdict}")
             for f in found]
    if not texts:
        return printable(item.message or item.verdict)
    if item.message and item.verdict == ERROR:
        texts.insert(0, printable(item.message))
    noun = "breach" if len(texts) == 1 else "breaches"
    return f"{len(texts)} {noun}: " + "; ".join(texts)


def case_name(item: ItemResult) -> str:
    return f"{item.subject}[{item.variant}-{item.dataset}]"


def _classname(item: ItemResult) -> str:
    return f"llm_gate.{item.suite}"


def _properties(item: ItemResult, diff: ItemDiff | None) -> Iterable[tuple[str, str]]:
    prefix = case_name(item)
    yield f"{prefix}.nodeid", item.nodeid
    yield f"{prefix}.verdict", item.verdict
    yield f"{prefix}.rows", str(len(item.rows))
    yield f"{prefix}.errored_rows", str(item.error_count)
    if item.dataset_sha256:
        yield f"{prefix}.dataset_sha256", item.dataset_sha256
    for metric, aggs in item.aggregates.items():
        if "mean" in aggs:
            yield f"{prefix}.{metric}.mean", fmt(aggs["mean"], 6)
    for check in item.checks:
        if check.kind == "regression" and check.metric == "dataset":
            continue
        key = f"{prefix}.{check.kind}.{check.metric}.{check.aggregate}"
        yield f"{key}.value", fmt(check.value, 6)
        if check.bound != "-":
            yield f"{key}.bound", check.bound
        yield f"{key}.verdict", check.verdict
        if check.ci_low is not None and check.ci_high is not None:
            yield f"{key}.ci_low", fmt(check.ci_low, 6)
            yield f"{key}.ci_high", fmt(check.ci_high, 6)
        if check.p_value is not None:
            yield f"{key}.p_value", fmt(check.p_value, 6)
        if check.baseline is not None:
            yield f"{key}.baseline", fmt(check.baseline, 6)
    for role, usage in item.usage.items():
        cost = usage.get("cost_usd")
        if cost is not None:
            yield f"{prefix}.cost_usd.{role}", f"{cost:.6f}"
    if diff is not None:
        yield f"{prefix}.baseline", diff.status
        for change in diff.metrics:
            if change.delta is not None:
                yield f"{prefix}.{change.metric}.{change.aggregate}.delta", fmt(change.delta, 6)


def _metric_table(item: ItemResult, diff: ItemDiff | None) -> str:
    if diff is not None and diff.metrics:
        rows = [[m.metric, m.aggregate, fmt(m.baseline), fmt(m.current), fmt_delta(m),
                 m.verdict or ""] for m in diff.metrics]
        text = table(["metric", "aggregate", "baseline", "current", "delta", "verdict"], rows)
    else:
        rows = [[m, "mean", fmt(a.get("mean"))] for m, a in item.aggregates.items()]
        text = table(["metric", "aggregate", "value"], rows) if rows else ""
    notes = [f"note: {n}" for n in (diff.notes if diff is not None else ())]
    warns = [f"warning: {c.message}" for c in item.checks if c.verdict == "warn" and c.message]
    return "\n".join([text, *notes, *warns]).strip()


def _suite_element(name: str, items: list[ItemResult], diff: RunDiff | None,
                   timestamp: str) -> ET.Element:
    suite = ET.Element("testsuite")
    failures = sum(1 for i in items if i.verdict == FAILED)
    errors = sum(1 for i in items if i.verdict == ERROR)
    skipped = sum(1 for i in items if i.verdict == SKIPPED)
    suite.attrib.update({
        "name": xml_text(f"llm-gate: {name}", 500),
        "tests": str(len(items)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": _time(sum(i.duration_s for i in items)),
    })
    if timestamp:
        suite.set("timestamp", xml_text(timestamp, 64))
    if items and items[0].suite_path:
        suite.set("file", xml_text(items[0].suite_path, 500))
    props = ET.SubElement(suite, "properties")
    for item in items:
        item_diff = diff.item(item.nodeid) if diff is not None else None
        for key, value in _properties(item, item_diff):
            ET.SubElement(props, "property", name=xml_text(key, 500), value=xml_text(value, 2000))
    for item in items:
        item_diff = diff.item(item.nodeid) if diff is not None else None
        case = ET.SubElement(suite, "testcase", classname=xml_text(_classname(item), 500),
                             name=xml_text(case_name(item), 500), time=_time(item.duration_s))
        if item.verdict == SKIPPED:
            ET.SubElement(case, "skipped", message=xml_text(item.message or "skipped", 2000))
        elif item.verdict in (FAILED, ERROR):
            message = breach_summary(item)
            tag = "error" if item.verdict == ERROR else "failure"
            element = ET.SubElement(case, tag, message=xml_text(message, 2000),
                                    type=f"llm_gate.{item.verdict}")
            element.text = xml_text(render_item_failure(item))
        out = _metric_table(item, item_diff)
        if out:
            ET.SubElement(case, "system-out").text = xml_text(out)
    return suite


def render_junit(run: RunResult, baseline: RunResult | None = None, *,
                 diff: RunDiff | None = None) -> str:
    """The JUnit XML document for `run` (with baseline deltas when `baseline` is given)."""
    if diff is None and baseline is not None:
        diff = diff_runs(run, baseline)
    by_suite: dict[str, list[ItemResult]] = {}
    for item in run.items:
        by_suite.setdefault(item.suite or "suite", []).append(item)
    root = ET.Element("testsuites")
    items = run.items
    root.attrib.update({
        "name": "llm-gate",
        "tests": str(len(items)),
        "failures": str(sum(1 for i in items if i.verdict == FAILED)),
        "errors": str(sum(1 for i in items if i.verdict == ERROR)),
        "time": _time(sum(i.duration_s for i in items)),
    })
    timestamp = str(run.meta.get("started_at") or "")
    for name, suite_items in by_suite.items():
        root.append(_suite_element(name, suite_items, diff, timestamp))
    if run.incomplete:
        # make an interrupted run visible to reporters that only count testcases
        suite = ET.SubElement(root, "testsuite", name="llm-gate: run", tests="1", failures="0",
                              errors="1", skipped="0", time="0.000")
        case = ET.SubElement(suite, "testcase", classname="llm_gate.run", name="complete",
                             time="0.000")
        ET.SubElement(case, "error", message="the run is incomplete (interrupted or workers lost)",
                      type="llm_gate.incomplete")
        root.set("tests", str(len(items) + 1))
        root.set("errors", str(int(root.get("errors", "0")) + 1))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
