"""A row never vanishes and a run never hangs: whatever user code does on one row (SystemExit, a
custom BaseException, a score that overflows a float, never answering), that row is an error row
naming the call and the problem, the item fails and shows in every artifact, and the process exits.

Each run is a subprocess (user code calls sys.exit or hangs a thread), with a generous outer timeout:
a run that does not exit fails the test instead of hanging it; no test asserts on elapsed time.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROWS = 100
BAD = "evaluator judge: EvaluationError: metric "
OUTER_TIMEOUT_S = 120  # far above a healthy run (a few seconds): only a hang reaches it

APP = '''
import asyncio
import threading


def exits(question):
    if question == "q037":
        raise SystemExit(3)
    return "answer to " + question


def generator_exit(question):
    if question == "q011":
        raise GeneratorExit
    return "answer to " + question


def never(question):
    if question == "q002":
        threading.Event().wait()  # a blocking call that never returns (a stuck socket)
    return "answer to " + question


async def never_async(question):
    if question == "q002":
        await asyncio.Event().wait()
    return "answer to " + question


def interrupted(question, stop=False):
    if stop and question == "q005":
        raise KeyboardInterrupt
    return "answer to " + question


async def interrupted_async(question, stop=False):
    await asyncio.sleep(0)
    if stop and question == "q005":
        raise KeyboardInterrupt
    return "answer to " + question
'''

EVALUATORS = '''
import threading


class JudgeGaveUp(BaseException):
    """A BaseException that is not an Exception (some frameworks raise their own)."""


def gives_up(*, response):
    if response == "answer to q003":
        raise JudgeGaveUp("the judge gave up")
    return 1.0


def huge(*, response):
    return 10**400 if response == "answer to q003" else 1.0


def huge_in_dict(*, response):
    return {"score": 10**400 if response == "answer to q003" else 1.0}


def infinite(*, response):
    return float("inf") if response == "answer to q003" else 1.0


def none_in_dict(*, response):
    return {"score": None if response == "answer to q003" else 1.0}


def hangs(*, response):
    if response == "answer to q004":
        threading.Event().wait()
    return 1.0


def scores(*, response):
    return 1.0
'''


def _project(root: Path, subject: str, evaluator: str = "scores", extra: str = "") -> None:
    def write(relative: str, text: str) -> None:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    write("demo_app.py", APP)
    write("evaluators/__init__.py", "")
    write("evaluators/custom.py", EVALUATORS)
    rows = [{"id": f"r{i:03d}", "question": f"q{i:03d}"} for i in range(ROWS)]
    write("golden_datasets/qa.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    suite = textwrap.dedent(
        f"""
        suite: limits
        datasets: {{qa: ../golden_datasets/qa.jsonl}}
        subjects:
          answer:
            target: {subject}
        evaluators:
          - use: "evaluators.custom:{evaluator}"
            name: judge
        """
    )
    write("suites/limits.yaml", suite + textwrap.dedent(extra))
    write("thresholds.yaml", "metrics:\n  judge: {min: 0.5}\n")
    write(
        "pytest.ini",
        "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest -p no:xdist\n"
        "pythonpath = .\n",
    )


def _run(
    pytester: pytest.Pytester, *args: str, timeout: float = OUTER_TIMEOUT_S
) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--llm-gate", "suites", "--llm-gate-junit", "junit.xml", *args, timeout=timeout
    )


def _results(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".llmgate/results.json").read_text("utf-8"))
    return data


def _one_failed_item(pytester: pytest.Pytester, result: pytest.RunResult) -> dict[str, Any]:
    """The run failed on the gate (exit 1), its one item is recorded, failed, with every row."""
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "llm-gate: FAILED" in out, out
    assert "Traceback" not in out, out
    data = _results(pytester.path)
    assert data["verdict"] == "failed"
    assert data["incomplete"] is False
    (item,) = data["items"]
    assert item["verdict"] == "failed"
    assert len(item["rows"]) == ROWS
    assert 'failures="1"' in (pytester.path / "junit.xml").read_text("utf-8")
    return item


def _errors(item: dict[str, Any]) -> dict[str, list[str]]:
    return {row["id"]: row["errors"] for row in item["rows"] if row.get("errors")}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "row", "message"),
    [
        ("demo_app:exits", "r037", "subject: SystemExit: 3"),
        ("demo_app:generator_exit", "r011", "subject: GeneratorExit"),
    ],
    ids=["SystemExit", "GeneratorExit"],
)
def test_a_base_exception_in_a_subject_is_one_error_row(
    pytester: pytest.Pytester, target: str, row: str, message: str
) -> None:
    _project(pytester.path, target)
    item = _one_failed_item(pytester, _run(pytester))
    errors = _errors(item)
    assert list(errors) == [row]
    assert errors[row][0].startswith(message), errors


@pytest.mark.slow
@pytest.mark.parametrize(
    ("evaluator", "message"),
    [
        ("gives_up", "evaluator judge: JudgeGaveUp: the judge gave up"),
        ("huge", f"{BAD}'judge' is an integer too large for a float (1329 bits)"),
        ("huge_in_dict", f"{BAD}'score' is an integer too large for a float (1329 bits)"),
        ("infinite", f"{BAD}'judge' is inf, not a finite number"),
        ("none_in_dict", f"{BAD}'score' is None, not a number"),
    ],
)
def test_an_evaluator_that_cannot_score_is_one_error_row(
    pytester: pytest.Pytester, evaluator: str, message: str
) -> None:
    _project(pytester.path, "demo_app:exits", evaluator)
    if evaluator.endswith("_in_dict"):  # these name their metric `score`: gate that one
        (pytester.path / "thresholds.yaml").write_text("metrics:\n  score: {min: 0.5}\n")
    item = _one_failed_item(pytester, _run(pytester))
    errors = _errors(item)
    assert errors.keys() == {"r003", "r037"}
    assert errors["r003"] == [message], errors
    assert errors["r037"] == ["subject: SystemExit: 3"]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["demo_app:never", "demo_app:never_async"])
def test_a_subject_past_its_timeout_is_an_error_row_and_the_process_exits(
    pytester: pytest.Pytester, target: str
) -> None:
    _project(pytester.path, target, extra="timeout: 1\n")
    item = _one_failed_item(pytester, _run(pytester))
    assert _errors(item) == {
        "r002": ["subject: TimeoutError: no answer within 1 s (its timeout: 1)"]
    }


@pytest.mark.slow
def test_the_default_timeout_applies_when_none_is_configured(pytester: pytest.Pytester) -> None:
    _project(pytester.path, "demo_app:never")
    item = _one_failed_item(pytester, _run(pytester, "--llm-gate-timeout", "1", timeout=120))
    assert _errors(item) == {
        "r002": ["subject: TimeoutError: no answer within 1 s (the default --llm-gate-timeout)"]
    }


@pytest.mark.slow
def test_an_evaluator_past_its_timeout_is_an_error_row_and_the_process_exits(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester.path, "demo_app:exits", "hangs")
    suite = pytester.path / "suites/limits.yaml"
    suite.write_text(suite.read_text("utf-8").replace("name: judge", "name: judge\n    timeout: 1"))
    item = _one_failed_item(pytester, _run(pytester))
    assert _errors(item) == {
        "r004": ["evaluator judge: TimeoutError: no answer within 1 s (its timeout: 1)"],
        "r037": ["subject: SystemExit: 3"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("target", ["demo_app:interrupted", "demo_app:interrupted_async"])
def test_keyboard_interrupt_in_a_subject_stops_the_run_and_keeps_partial_results(
    pytester: pytest.Pytester, target: str
) -> None:
    _project(pytester.path, target, extra="concurrency: 4\n")
    # collect garbage once pytest is done, while stderr is the terminal again: an interrupted
    # task whose exception nobody retrieved is then reported for sure, not only when the
    # interpreter happens to collect it before exiting
    (pytester.path / "conftest.py").write_text(
        "import gc\n\n\ndef pytest_unconfigure(config):\n    gc.collect()\n", "utf-8"
    )
    suite = pytester.path / "suites/limits.yaml"
    suite.write_text(
        suite.read_text("utf-8").replace(
            f"target: {target}", f"target: {target}\n    variants: {{a: {{}}, b: {{stop: true}}}}"
        )
    )
    result = _run(pytester)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    assert "Traceback" not in out, out
    assert "never retrieved" not in out and "was destroyed" not in out, out
    assert "llm-gate: INCOMPLETE" in out, out
    data = _results(pytester.path)
    assert data["incomplete"] is True and data["verdict"] == "failed"
    # the item that was running is recorded as interrupted: an item that started is never absent
    assert [item["variant"] for item in data["items"]] == ["a", "b"]
    assert len(data["items"][0]["rows"]) == ROWS
    assert data["items"][1]["verdict"] == "error"
    assert data["items"][1]["message"] == "interrupted while running"
