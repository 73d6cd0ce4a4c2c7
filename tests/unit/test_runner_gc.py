"""The row loop keeps the cyclic collector to the young generations (linear time at 100k+ rows)
and gives the caller's collector settings back, whatever happens in the loop."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_llmgate.config.datasets import Row
from pytest_llmgate.engine.loop import close_loop
from pytest_llmgate.evaluators.registry import resolve_evaluator
from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync, young_gc_only
from pytest_llmgate.subjects.base import SubjectSpec
from pytest_llmgate.subjects.python import PythonSubject

ROWS = [Row(id=f"r{i}", line=i + 1, data={"query": f"q{i}", "ground_truth": f"answer {i}"})
        for i in range(40)]


@pytest.fixture(autouse=True)
def _loop() -> Iterator[None]:
    yield
    close_loop()
    gc.unfreeze()


def subject(target: object) -> PythonSubject:
    return PythonSubject(SubjectSpec(name="s", type="python", raw={"target": target},
                                     variants={"v": {}}, datasets=None, evaluators=None,
                                     suite_dir=Path("."), rootdir=Path(".")))


def test_rows_run_without_full_collections_and_settings_come_back() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    full_while_guarded: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2 and gc.get_threshold()[2] >= 1 << 30:
            full_while_guarded.append(1)

    def answer(query: str) -> str:
        seen.append(gc.get_threshold())
        junk = [[] for _ in range(2000)]  # young garbage, cycles included, as rows make it
        for a in junk:
            a.append(a)
        return "answer " + query[1:]

    f1 = resolve_evaluator(name="f1_score", use="f1_score")
    gc.callbacks.append(watch)
    try:
        results = run_rows_sync(ROWS, subject(answer), "v", [f1], RunOptions(concurrency=4))
    finally:
        gc.callbacks.remove(watch)
    assert [r.metrics["f1_score"] for r in results] == [1.0] * len(ROWS)
    assert seen and all(t[:2] == before[:2] and t[2] >= 1 << 30 for t in seen)
    assert full_while_guarded == []
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() > 0  # what survived the item is left out of later collections


def test_a_failing_loop_restores_the_thresholds() -> None:
    before = gc.get_threshold()

    async def boom(query: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_rows_sync(ROWS[:3], subject(boom), "v", [], RunOptions(concurrency=2))
    assert gc.get_threshold() == before


def test_nested_loops_restore_once_at_the_outermost() -> None:
    before = gc.get_threshold()
    with young_gc_only():
        with young_gc_only():
            assert gc.get_threshold()[2] >= 1 << 30
        assert gc.get_threshold()[2] >= 1 << 30
    assert gc.get_threshold() == before
