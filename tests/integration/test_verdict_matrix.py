"""One matrix: the same scenarios, every surface, one verdict.

Each scenario is run for real (pytester, in process, no xdist: the xdist modes are covered by the
tests of each feature). Then every surface is read back and must agree with the others: the
terminal's `llm-gate:` line, pytest's exit code, the results JSON, our JUnit XML, the Markdown
comment, the HTML report's data, `llmgate diff` (against the scenario's baseline, when it has one),
`llmgate merge` of the same run in two shards, and the Python API on the same subject, data,
evaluators and thresholds.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_llmgate.cli.main import main as llmgate
from tests.conftest import ROWS, Project

ARTIFACTS = ["--llm-gate-junit", "out/gate.xml", "--llm-gate-md", "out/comment.md",
             "--llm-gate-html", "out/report.html"]

SUITE = """
suite: matrix
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer:
    target: {target}
evaluators:
{evaluators}
"""

EXTRA_EVALUATORS = """
import math


class WholeItemExits:
    outputs = ("row_ok",)

    def __call__(self, *, response):
        return {"row_ok": 1.0}

    def aggregate(self, rows, prefix=""):
        raise SystemExit(3)
"""


@dataclass
class Scenario:
    name: str
    verdict: str  # what every surface must say: passed | failed
    target: str = "demo_app:answer"
    evaluators: tuple[str, ...] = ('"evaluators.custom:word_overlap"',)
    thresholds: str = "metrics:\n  word_overlap: {min: 0.5}\n"
    baseline_target: str | None = None  # run this first and compare with it
    env: dict[str, str] = field(default_factory=dict)
    api: bool = True  # the Python API can express the scenario
    # run pytest in a child process: azure-ai-evaluation, once imported, keeps promptflow's
    # telemetry threads alive, and CPython 3.11's ast module is not thread safe (tracebacks
    # formatted in those threads race pytest's assertion rewriting in later in-process runs)
    subprocess: bool = False


SCENARIOS = [
    Scenario("pass", "passed"),
    Scenario("threshold-breach", "failed", target="demo_app:first_sentence",
             thresholds="metrics:\n  word_overlap: {min: 0.9}\n"),
    Scenario("error-row", "failed",
             evaluators=('"evaluators.custom:word_overlap"', '"evaluators.custom:nan_score"')),
    Scenario("crashing-item", "failed",
             evaluators=('"evaluators.extra:WholeItemExits"',),
             thresholds="metrics:\n  row_ok: {min: 0.5}\n", api=False),
    Scenario("missing-model-local", "passed", evaluators=("groundedness",),
             thresholds="metrics:\n  groundedness: {min: 3}\n", api=False, subprocess=True),
    Scenario("missing-model-in-ci", "failed", evaluators=("groundedness",),
             thresholds="metrics:\n  groundedness: {min: 3}\n", env={"CI": "true"}, api=False,
             subprocess=True),
    Scenario("regression", "failed", baseline_target="demo_app:answer", api=False,
             target="demo_app:first_sentence",
             thresholds="metrics:\n  word_overlap: {min: 0.1}\n"
             "regression:\n  word_overlap: {max_drop: 0.05, literal: true}\n"),
    Scenario("identical-rerun", "passed", baseline_target="demo_app:answer", api=False,
             thresholds="metrics:\n  word_overlap: {min: 0.1}\n"
             "regression:\n  word_overlap: {max_drop: 0.0}\n"
             "  latency_ms: {aggregate: p95, max_rise_pct: 5}\n"),
]

FIRST = """

def first_sentence(question, context):
    return answer(question, context, strategy="first")
"""


def _setup(project: Project, scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY",
                 "OPENAI_BASE_URL", "LLMGATE_JUDGE", "LLMGATE_JUDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    project.write("demo_app.py", (project.path / "demo_app.py").read_text() + FIRST)
    project.write("evaluators/extra.py", EXTRA_EVALUATORS)
    project.rows([dict(ROWS[i % 4], id=f"r{i}") for i in range(12)])
    project.write("thresholds.yaml", scenario.thresholds)


def _suite(project: Project, scenario: Scenario, target: str) -> None:
    evaluators = "\n".join(f"  - {e}" for e in scenario.evaluators)
    project.write("suites/support.yaml", SUITE.format(target=target, evaluators=evaluators))


def _terminal_verdict(out: str) -> str:
    found = re.findall(r"llm-gate: (PASSED|FAILED)", out)
    assert found, out
    return found[-1].lower()


def _html_verdict(path: Path) -> str:
    html = path.read_text("utf-8")
    match = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)
    assert match is not None
    verdict = json.loads(match.group(1))["verdict"]
    return "failed" if verdict == "incomplete" else str(verdict)


def _markdown_verdict(path: Path) -> str:
    head = next(line for line in path.read_text("utf-8").splitlines()
                if line.strip() and not line.startswith("<!--"))
    return "passed" if "passed" in head.lower() else "failed"


def _junit_verdict(path: Path) -> str:
    root = ET.parse(path).getroot()
    return "failed" if int(root.get("failures") or 0) + int(root.get("errors") or 0) else "passed"


def _api_verdict(project: Project, scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> str:
    import sys

    import pytest_llmgate

    monkeypatch.syspath_prepend(str(project.path))
    before = set(sys.modules)
    for name in [m for m in sys.modules if m == "demo_app" or m.startswith("evaluators")]:
        monkeypatch.delitem(sys.modules, name)
    import yaml

    try:
        rules = yaml.safe_load(scenario.thresholds)["metrics"]
        module, _, attr = scenario.target.partition(":")
        subject = getattr(__import__(module), attr)
        evaluation = pytest_llmgate.evaluate(
            subject, project.path / "golden_datasets" / "qa.jsonl",
            evaluators=[e.strip('"') for e in scenario.evaluators],
            thresholds=rules, base_dir=project.path,
        )
    finally:  # this project's modules must not leak into the next test's in-process runs
        for name in set(sys.modules) - before:
            if name == "demo_app" or name.startswith("evaluators"):
                del sys.modules[name]
    return "passed" if evaluation.passed else "failed"


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_surface_gives_the_same_verdict(
    project: Project, scenario: Scenario, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _setup(project, scenario, monkeypatch)
    pytester = project.pytester
    base_args: list[str] = []
    if scenario.baseline_target is not None:
        _suite(project, scenario, scenario.baseline_target)
        first = pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-json", "base.json")
        assert first.ret == 0, first.stdout.str()
        base_args = ["--llm-gate-baseline", "base.json"]
    _suite(project, scenario, scenario.target)
    for key, value in scenario.env.items():
        monkeypatch.setenv(key, value)

    run = pytester.runpytest_subprocess if scenario.subprocess else pytester.runpytest
    result = run("--llm-gate", "-p", "no:xdist", *base_args, *ARTIFACTS)
    out = result.stdout.str()
    surfaces: dict[str, str] = {
        "exit code": "passed" if result.ret == 0 else "failed",
        "terminal": _terminal_verdict(out),
        "results JSON": project.results()["verdict"],
        "JUnit": _junit_verdict(project.path / "out" / "gate.xml"),
        "Markdown": _markdown_verdict(project.path / "out" / "comment.md"),
        "HTML data": _html_verdict(project.path / "out" / "report.html"),
    }
    head = project.path / ".llmgate" / "results.json"
    if scenario.baseline_target is not None:
        monkeypatch.chdir(project.path)
        code = llmgate(["diff", str(project.path / "base.json"), str(head),
                        "--fail-on-regression"])
        surfaces["llmgate diff"] = "failed" if code == 1 else "passed"
        assert code in (0, 1), capsys.readouterr().err

    # the same run in two shards, merged, decides the same
    parts = []
    for index in (1, 2):
        run("--llm-gate", "-p", "no:xdist", *base_args,
            "--llm-gate-shard", f"{index}/2", "--llm-gate-json", f"s{index}.json")
        parts.append(str(project.path / f"s{index}.json"))
    merged = project.path / "merged.json"
    merge_args = ["merge", *parts, "-o", str(merged), "--fail-on-breach"]
    if scenario.baseline_target is not None:
        merge_args += ["--baseline", str(project.path / "base.json")]
    code = llmgate(merge_args)
    assert code in (0, 1), capsys.readouterr().err
    surfaces["llmgate merge"] = "failed" if code == 1 else "passed"
    assert json.loads(merged.read_text("utf-8"))["verdict"] == surfaces["llmgate merge"]

    if scenario.api:
        surfaces["Python API"] = _api_verdict(project, scenario, monkeypatch)

    assert surfaces == dict.fromkeys(surfaces, scenario.verdict), out


def test_an_identical_rerun_with_noisy_timings_is_no_regression(tmp_path: Path) -> None:
    """Same rows and scores, latencies jittered by up to +40% per row: not a regression for the
    gate's noise-aware timing rule, in `llmgate diff` and in the reports it writes."""
    import random

    from pytest_llmgate.config.thresholds import Policy, RegressionRule
    from pytest_llmgate.results.io import write_results
    from pytest_llmgate.results.model import ItemResult, RowResult, RunResult
    from pytest_llmgate.verdict.policy_data import policy_to_dict

    rng = random.Random(7)
    policy = policy_to_dict(Policy(regression={
        "latency_ms": RegressionRule("latency_ms", aggregate="p95", max_rise_pct=5),
        "score": RegressionRule("score", max_drop=0.0),
    }))

    def run(jitter: float) -> RunResult:
        rows = tuple(
            RowResult(id=f"r{i}", line=i + 1, data={"q": i}, inputs={}, output="a",
                      metrics={"score": 0.8, "latency_ms": 100 * (1 + jitter * rng.random())})
            for i in range(30)
        )
        item = ItemResult(nodeid="suites/s.yaml::bot[v-qa]", suite="s", subject="bot",
                          variant="v", dataset="qa", verdict="passed", rows=rows,
                          dataset_sha256="a" * 64, policy=policy)
        return RunResult(items=(item,), meta={"kind": "run", "git": {"commit": "c" * 40}})

    write_results(run(0.1), tmp_path / "base.json")
    write_results(run(0.4), tmp_path / "head.json")
    code = llmgate(["diff", str(tmp_path / "base.json"), str(tmp_path / "head.json"),
                    "--fail-on-regression", "--md", str(tmp_path / "d.md")])
    assert code == 0
    assert "\U0001f534" not in (tmp_path / "d.md").read_text("utf-8")
