"""The gate loop after Ctrl-C, and its thread pool: an interrupt that lands in any task (a row's,
or one a client library started) leaves no "Task exception was never retrieved" behind, and the
pool's threads never keep the process alive."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap
import threading

import pytest

from pytest_llmgate.engine.loop import close_loop, run_sync
from pytest_llmgate.errors import EvaluationError
from pytest_llmgate.evaluators.base import normalize_output
from pytest_llmgate.pipeline.runner import DEFAULT_TIMEOUT_S as ENGINE_DEFAULT
from pytest_llmgate.plugin.options import DEFAULT_TIMEOUT_S
from pytest_llmgate.util.threads import DaemonThreads


def test_an_interrupt_inside_a_background_task_leaves_no_unretrieved_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    async def background() -> None:  # a task a client library started and nobody awaits
        started.set()
        raise KeyboardInterrupt

    async def main() -> None:
        asyncio.get_running_loop().create_task(background())
        await started.wait()
        await asyncio.sleep(3600)

    with pytest.raises(KeyboardInterrupt):
        run_sync(main())
    close_loop()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


def test_an_interrupted_run_cancels_the_rows_in_flight() -> None:
    cancelled: list[str] = []

    async def row(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    async def interrupt() -> None:
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    async def main() -> None:
        await asyncio.gather(row("a"), row("b"), interrupt())

    with pytest.raises(KeyboardInterrupt):
        run_sync(main())
    close_loop()
    assert sorted(cancelled) == ["a", "b"]


def test_daemon_threads_run_calls_and_carry_any_exception_back() -> None:
    pool = DaemonThreads(4, "test")
    try:
        assert pool.submit(sum, [1, 2, 3]).result(10) == 6
        with pytest.raises(SystemExit):
            pool.submit(sys.exit, 3).result(10)
        assert all(t.daemon for t in threading.enumerate() if t.name.startswith("test_"))
    finally:
        pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(sum, [])


def test_a_thread_stuck_in_user_code_does_not_hold_the_process() -> None:
    script = textwrap.dedent(
        """
        import asyncio, threading
        from pytest_llmgate.engine.loop import close_loop, run_sync

        async def main():
            loop = asyncio.get_running_loop()
            stuck = loop.run_in_executor(None, threading.Event().wait)
            await asyncio.wait({stuck}, timeout=0.1)

        run_sync(main())
        close_loop()
        print("exited")
        """
    )
    # a generous outer limit: a process held open by its thread never reaches "exited" + exit
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exited"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10**400, "is an integer too large for a float (1329 bits)"),
        ({"score": 10**400}, "is an integer too large for a float (1329 bits)"),
        (float("nan"), "is nan, not a finite number"),
        ({"score": float("-inf")}, "is -inf, not a finite number"),
        ({"score": None}, "is None, not a number"),
    ],
)
def test_unconvertible_scores_are_evaluation_errors(value: object, problem: str) -> None:
    with pytest.raises(EvaluationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        normalize_output("judge", value)


def test_the_engine_and_the_options_share_the_default_time_limit() -> None:
    assert ENGINE_DEFAULT == DEFAULT_TIMEOUT_S


class SlowToBuild:
    """A class subject whose constructor blocks (loading a model, a stuck socket)."""

    release = threading.Event()

    def __init__(self) -> None:
        self.release.wait(10)

    def __call__(self, question: str) -> str:
        return question


def test_a_class_subject_is_built_off_the_loop_and_inside_the_time_limit() -> None:
    from pathlib import Path

    from pytest_llmgate.config.datasets import Row
    from pytest_llmgate.pipeline.runner import RunOptions, run_rows_sync
    from pytest_llmgate.subjects.base import SubjectSpec
    from pytest_llmgate.subjects.python import PythonSubject

    spec = SubjectSpec(
        name="slow", type="python", raw={"target": SlowToBuild}, variants={"default": {}},
        datasets=None, evaluators=None, suite_dir=Path(), rootdir=Path(),
    )
    rows = [Row(id=f"r{i}", line=i + 1, data={"question": f"q{i}"}) for i in range(3)]
    try:
        results = run_rows_sync(
            rows, PythonSubject(spec), "default", [], RunOptions(concurrency=3, timeout_s=0.2)
        )
    finally:
        SlowToBuild.release.set()
        close_loop()
    assert [r.errors for r in results] == [
        ("subject: TimeoutError: no answer within 0.2 s (its timeout: 0.2)",)
    ] * 3
