"""`--llm-gate-shard I/N` splits items and the rows of large items; `llmgate merge` joins the
slices and decides as the unsharded run did (same results, verdict and reports)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_llmgate.cli.main import main
from tests.conftest import ROWS, Project
from tests.integration.test_xdist import decided

SUITE = """
suite: support
datasets:
  qa: ../golden_datasets/qa.jsonl
  big: ../golden_datasets/big.jsonl
subjects:
  answer:
    target: demo_app:answer
    variants:
      overlap: {strategy: overlap}
      first: {strategy: first}
evaluators:
  - "evaluators.custom:word_overlap"
  - f1_score
  - length
"""
THRESHOLDS = """
metrics:
  word_overlap: {min: 0.8}
  f1_score:
    - {aggregate: pass_rate, row: {min: 0.5}, min: 0.6}
    - {aggregate: p10, min: 0.1, severity: warn}
"""


def big_rows(n: int) -> list[dict[str, str]]:
    return [dict(ROWS[i % len(ROWS)], id=f"b{i:03d}") for i in range(n)]


@pytest.fixture
def sharded(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("LLMGATE_SHARD_SPLIT_ROWS", "10")
    project.write("suites/support.yaml", SUITE)
    project.write("thresholds.yaml", THRESHOLDS)
    project.rows(big_rows(37), "golden_datasets/big.jsonl")
    return project


def _report(path: Path, out: Path) -> str:
    assert main(["report", str(path), "--md", str(out)]) == 0
    return "\n".join(
        line for line in out.read_text("utf-8").splitlines()
        if not any(w in line for w in ("latency", "duration", "Artifacts"))
    )


def test_merged_shards_equal_the_unsharded_run(sharded: Project) -> None:
    pytester = sharded.pytester
    pytester.runpytest("--llm-gate", "suites", "--llm-gate-json", "full.json")
    full = json.loads((sharded.path / "full.json").read_text("utf-8"))
    assert len(full["items"]) == 4
    parts = []
    ran: dict[str, list[int]] = {}
    for index in (1, 2, 3):
        name = f"shard{index}.json"
        pytester.runpytest("--llm-gate", "suites", "--llm-gate-shard", f"{index}/3",
                           "--llm-gate-json", name)
        data = json.loads((sharded.path / name).read_text("utf-8"))
        for item in data["items"]:
            ran.setdefault(item["nodeid"], []).append(len(item["rows"]))
        parts.append(str(sharded.path / name))
    # the two 37-row items ran on every shard (12 + 12 + 13 rows); the 4-row ones on one each
    assert sorted(ran.items()) == [
        ("suites/support.yaml::answer[first-big]", [12, 12, 13]),
        ("suites/support.yaml::answer[first-qa]", [4]),
        ("suites/support.yaml::answer[overlap-big]", [12, 12, 13]),
        ("suites/support.yaml::answer[overlap-qa]", [4]),
    ]
    out = sharded.path / "merged.json"
    assert main(["merge", *parts, "-o", str(out)]) == 0
    merged = json.loads(out.read_text("utf-8"))
    assert merged["verdict"] == full["verdict"] == "failed"
    assert merged["counts"] == full["counts"]
    assert merged["incomplete"] is False
    assert {i["nodeid"] for i in merged["items"]} == {i["nodeid"] for i in full["items"]}
    assert decided(merged) == decided(full)
    assert all("part" not in i for i in merged["items"])
    assert _report(out, sharded.path / "m.md") == _report(sharded.path / "full.json",
                                                          sharded.path / "f.md")
    assert main(["merge", *parts, "-o", str(out), "--fail-on-breach"]) == 1


def test_a_missing_shard_is_refused(sharded: Project, capsys: pytest.CaptureFixture[str]) -> None:
    pytester = sharded.pytester
    for index in (1, 3):
        pytester.runpytest("--llm-gate", "suites", "--llm-gate-shard", f"{index}/3",
                           "--llm-gate-json", f"s{index}.json")
    code = main(["merge", str(sharded.path / "s1.json"), str(sharded.path / "s3.json"),
                 "-o", str(sharded.path / "m.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "shard(s) 2/3 missing: a merge needs every shard of the run" in err
    assert not (sharded.path / "m.json").exists()


def test_small_items_are_dealt_round_robin(project: Project) -> None:
    result = project.pytester.runpytest("--llm-gate", "suites", "--llm-gate-shard", "2/2")
    result.assert_outcomes(passed=1, deselected=1)
    assert "part" not in project.results()["items"][0]
