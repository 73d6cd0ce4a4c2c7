"""End to end: a noisy judge (the project's server adds seeded noise to judge scores) against the
paired regression gate. An unchanged subject must pass in >= 95 of 100 seeded runs; a planted real
drop must fail in >= 95 of 100. Real engine, real judge prompts over HTTP, real statistics."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.config.datasets import Row
from pytest_llmgate.config.thresholds import Policy, RegressionRule
from pytest_llmgate.engine import runtime
from pytest_llmgate.engine.loop import close_loop
from pytest_llmgate.evaluators.registry import resolve_evaluator
from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
from pytest_llmgate.results.model import ItemResult
from pytest_llmgate.subjects.base import SubjectSpec
from pytest_llmgate.subjects.python import PythonSubject
from pytest_llmgate.verdict.compare import regression_checks

pytestmark = pytest.mark.slow

CONTEXTS = [
    f"Plan {i} costs {i + 3} dollars per month. Plan {i} includes {i * 10} gigabytes of storage. "
    f"Support for plan {i} answers within {i + 1} hours."
    for i in range(1, 31)
]
GOOD = [c.split(". ")[0] + "." for c in CONTEXTS]
# the planted drop: a third of the answers stop being grounded in their context
BAD = [
    g if i % 3 else "We were founded by two friends who love sailing and jazz."
    for i, g in enumerate(GOOD)
]
# a drop counts when it is significant at 0.05 and at least 0.3 points (on a 1-5 scale)
RULE = RegressionRule(metric="groundedness", aggregate="mean", significance=0.05, min_effect=0.3)


ROWS = [
    Row(id=f"r{i}", line=i + 1, data={"query": f"What does plan {i + 1} cost?", "context": c})
    for i, c in enumerate(CONTEXTS)
]


def _subject(answers: list[str]) -> PythonSubject:
    by_context = dict(zip(CONTEXTS, answers, strict=True))

    def answer(query: str, context: str) -> str:
        return by_context[context]

    return PythonSubject(
        SubjectSpec(
            name="s",
            type="python",
            raw={"target": answer},
            variants={"v": {}},
            datasets=None,
            evaluators=None,
            suite_dir=Path("."),
            rootdir=Path("."),
        )
    )


@pytest.fixture
def judge_session(
    llm: Any, llm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Any:
    for key, value in llm_env.items():
        monkeypatch.setenv(key, value)
    runtime.reset()
    runtime.prepare(
        types.SimpleNamespace(
            rootdir=tmp_path, thresholds_path=None, concurrency=32, cache_mode="off", cache_dir=None
        )
    )
    yield llm
    runtime.finish()
    runtime.reset()
    close_loop()


def test_noise_does_not_flip_the_gate_but_a_real_drop_does(judge_session: Any) -> None:
    server = judge_session
    judge = resolve_evaluator(name="groundedness", use="groundedness")
    policy = Policy(regression={"groundedness": RULE})
    options = RunOptions(concurrency=32)

    def run(answers: list[str], seed: int) -> list[Any]:
        server.configure(judge_noise=0.8, seed=seed)
        results = run_rows_sync(ROWS, _subject(answers), "v", [judge], options)
        assert not any(r.errors for r in results)
        return results

    unchanged_passed = drop_failed = 0
    for seed in range(100):
        baseline_rows = run(GOOD, seed)
        baseline = ItemResult(
            nodeid="x",
            suite="s",
            subject="s",
            variant="v",
            dataset="d",
            verdict="passed",
            rows=tuple(baseline_rows),
            dataset_sha256="h",
        )
        same = regression_checks(run(GOOD, 10_000 + seed), baseline, policy, dataset_sha256="h")
        worse = regression_checks(run(BAD, 20_000 + seed), baseline, policy, dataset_sha256="h")
        assert same and worse, "every run must make a regression check"
        unchanged_passed += all(c.verdict == "pass" for c in same)
        drop_failed += any(c.verdict == "fail" for c in worse)
    print(f"noise gate: unchanged passed {unchanged_passed}/100, drop failed {drop_failed}/100")
    assert unchanged_passed >= 95, unchanged_passed
    assert drop_failed >= 95, drop_failed
