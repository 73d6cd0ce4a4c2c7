"""JUnit XML: structure, verdict elements, properties with deltas, and validity against the Jenkins
xunit junit-10.xsd that pytest's own test-suite validates its --junitxml with.

The XSD (MIT, by Gregory Boissinot) ships in pytest's sdist on PyPI; the fixture fetches that sdist
once with pip and caches the schema (set LLMGATE_JUNIT_XSD to use a local copy instead).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from llmgate_runs import PAYLOAD, item, row, run, scored, threshold

from pytest_llmgate.reporting.junit import render_junit
from pytest_llmgate.results.model import Check
from tests.conftest import OUTER_CI

XSD_MEMBER = "testing/example_scripts/junit-10.xsd"
FALLBACK_PYTEST = "8.3.5"


def _fetch_xsd(directory: Path) -> bytes | None:
    for version in dict.fromkeys((pytest.__version__, FALLBACK_PYTEST)):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "-q", "-d", str(directory), f"pytest=={version}"],
            capture_output=True, text=True, timeout=300, check=False,
        )
        tarballs = sorted(directory.glob(f"pytest-{version}.tar.gz"))
        if proc.returncode != 0 or not tarballs:
            continue
        with tarfile.open(tarballs[0]) as archive:
            for member in archive.getmembers():
                if member.name.endswith(XSD_MEMBER):
                    handle = archive.extractfile(member)
                    if handle is not None:
                        return handle.read()
    return None


@pytest.fixture(scope="session")
def junit_xsd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    local = os.environ.get("LLMGATE_JUNIT_XSD")
    if local:
        return Path(local)
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cached = cache_root / "pytest-llmgate" / "junit-10.xsd"
    if cached.is_file():
        return cached
    data = _fetch_xsd(tmp_path_factory.mktemp("pytest-sdist"))
    if data is None:
        if OUTER_CI:
            pytest.fail("could not fetch junit-10.xsd from pytest's sdist on PyPI")
        pytest.skip("junit-10.xsd not available (no package index reachable)")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return cached


def _sample_run():
    regression = Check(kind="regression", metric="f1", aggregate="mean", value=0.4,
                       verdict="fail", min=0.75, baseline=0.8, message="regression: f1 fell")
    return run(
        item("bot", "good", rows=scored("r", [0.9, 0.8], cost_usd=0.01),
             checks=[threshold("f1", 0.85, 0.5)], usage={"subject": {"cost_usd": 0.02}}),
        item("bot", "bad", rows=[row("x", output=PAYLOAD + "\x00\x1b\ud800", f1=0.4),
                                 row("y", errors=["timeout \x07 after 30s"])],
             checks=[threshold("f1", 0.4, 0.5), regression]),
        item("bot", "skip", verdict="skipped", message="no model configured (set OPENAI_API_KEY)"),
        item("other", "v", verdict="error", message="subject exploded", suite="second"),
    )


def test_structure_and_verdicts() -> None:
    root = ET.fromstring(render_junit(_sample_run()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["llm-gate: demo", "llm-gate: second"]
    demo = suites[0]
    assert (demo.get("tests"), demo.get("failures"), demo.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in demo.iter("testcase")}
    assert set(cases) == {"bot[good-qa]", "bot[bad-qa]", "bot[skip-qa]"}
    assert all(c.get("classname") == "llm_gate.demo" for c in cases.values())
    assert cases["bot[good-qa]"].find("failure") is None
    failure = cases["bot[bad-qa]"].find("failure")
    assert failure is not None
    assert failure.get("type") == "llm_gate.failed"
    # the breach summary: every failing check on one line, regressions first
    assert failure.get("message") == "2 breaches: regression: f1 fell; f1 mean = 0.4, needs >= 0.5"
    assert "f1" in (failure.text or "")
    skipped = cases["bot[skip-qa]"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "no model configured (set OPENAI_API_KEY)"
    error = suites[1].find("testcase/error")
    assert error is not None
    assert error.get("message") == "subject exploded"
    for case in root.iter("testcase"):
        assert case.get("time") is not None
        assert len(case.get("time", "").split(".")[1]) == 3


def test_metrics_are_suite_properties() -> None:
    root = ET.fromstring(render_junit(_sample_run()))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["bot[good-qa].nodeid"] == "suites/demo.yaml::bot[good-qa]"
    assert props["bot[good-qa].f1.mean"] == "0.85"
    assert props["bot[good-qa].threshold.f1.mean.bound"] == ">= 0.5"
    assert props["bot[good-qa].threshold.f1.mean.verdict"] == "pass"
    assert props["bot[good-qa].cost_usd.subject"] == "0.020000"
    assert props["bot[bad-qa].regression.f1.mean.baseline"] == "0.8"
    assert props["bot[bad-qa].errored_rows"] == "1"


def test_baseline_deltas() -> None:
    base = run(item("bot", "good", rows=scored("r", [0.5, 0.5])))
    head = run(item("bot", "good", rows=scored("r", [0.9, 0.8])))
    root = ET.fromstring(render_junit(head, base))
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["bot[good-qa].baseline"] == "matched"
    assert props["bot[good-qa].f1.mean.delta"] == "0.35"
    out = root.find(".//testcase/system-out")
    assert out is not None
    assert "▲ +0.35" in (out.text or "")


def test_illegal_xml_characters_are_replaced() -> None:
    text = render_junit(_sample_run())
    ET.fromstring(text)  # parses: no NUL, ESC or lone surrogate made it through
    assert "\x00" not in text
    assert "\x1b" not in text


def test_incomplete_run_is_an_error_case() -> None:
    root = ET.fromstring(render_junit(run(item(rows=scored("r", [1])), incomplete=True)))
    assert root.get("errors") == "1"
    assert root.find(".//testcase[@name='complete']/error") is not None


@pytest.mark.parametrize("with_baseline", [False, True])
def test_valid_against_junit_10_xsd(junit_xsd: Path, with_baseline: bool) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(junit_xsd))
    baseline = run(item("bot", "good", rows=scored("r", [0.5, 0.5]))) if with_baseline else None
    for sample in (_sample_run(), run(), run(item(rows=scored("r", [1])), incomplete=True)):
        schema.validate(render_junit(sample, baseline))
