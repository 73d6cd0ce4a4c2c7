"""Policy errors stop the run before any row: one `file:line: field: problem` line each, once,
with a non-zero exit, and `llmgate validate` prints the same lines.

Before the load-time check, a misspelt metric in thresholds.yaml silently removed its gate (exit
0 and one warning at the bottom), in a suite's `thresholds:` it errored every item after all rows
were scored, and NaN bounds passed everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project

CALLS = "calls.log"
COUNTING_APP = """
from pathlib import Path


def answer(question, context, strategy="overlap"):
    with Path(__file__).with_name("calls.log").open("a") as log:
        log.write(question + "\\n")
    return context.split(". ")[0]
"""


def _run(project: Project, *args: str) -> pytest.RunResult:
    return project.pytester.runpytest("--llm-gate", "suites", *args)


def _error_lines(result: pytest.RunResult) -> list[str]:
    return [line for line in result.errlines if line.startswith("ERROR: ")]


def _no_row_ran(project: Project) -> None:
    assert not (project.path / CALLS).exists(), "a row ran before the policy error"
    assert not (project.path / ".llmgate/results.json").exists()


def _refused(project: Project, *expected: str) -> pytest.RunResult:
    """Runs the gate, which must stop with a usage error whose ERROR lines are `expected`,
    before any row ran."""
    result = _run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert _error_lines(result) == list(expected)
    _no_row_ran(project)
    return result


def _append(project: Project, relative: str, text: str) -> None:
    project.write(relative, (project.path / relative).read_text("utf-8") + text)


# an evaluator returning a dict built step by step: its names cannot be read from the source
OVERLAP_PAIR = """

def overlap_pair(*, response, ground_truth):
    scores = {}
    scores['overlap_a'], scores['overlap_b'] = 1.0, 0.5
    return scores
"""


def _validate(project: Project) -> subprocess.CompletedProcess[str]:
    """`llmgate validate` in the project, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_llmgate", "validate"],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(project.path), _repo()])},
    )


@pytest.fixture
def counting(project: Project) -> Project:
    project.write("demo_app.py", COUNTING_APP)
    return project


def test_misspelt_metric_in_thresholds_stops_the_run(counting: Project) -> None:
    counting.write(
        "thresholds.yaml", "metrics:\n  length_words: {max: 90}\n  word_overlp: {min: 0.8}\n"
    )
    _refused(
        counting,
        "ERROR: thresholds.yaml:3: metrics.word_overlp: no evaluator of the project's suites "
        "produces metric 'word_overlp'; did you mean 'word_overlap'?",
    )


def test_misspelt_metric_in_a_suite_is_reported_once(counting: Project) -> None:
    _append(
        counting, "suites/support.yaml", "thresholds:\n  metrics:\n    lenght_chars: {max: 900}\n"
    )
    result = _run(counting)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.outlines + result.errlines if "lenght_chars" in line]
    assert lines == [
        "ERROR: suites/support.yaml:15: thresholds.metrics.lenght_chars: no evaluator of suite "
        "'support' produces metric 'lenght_chars'; did you mean 'length_chars'?"
    ]
    _no_row_ran(counting)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "metrics:\n  word_overlap: {min: .nan}\n",
            "ERROR: thresholds.yaml:2: metrics.word_overlap.min: must be a finite number, got nan",
        ),
        (
            "metrics:\n  word_overlap: {max: .inf}\n",
            "ERROR: thresholds.yaml:2: metrics.word_overlap.max: must be a finite number, got inf",
        ),
        (
            "metrics:\n  word_overlap: {min: 0.9, max: 0.1}\n",
            "ERROR: thresholds.yaml:2: metrics.word_overlap: min 0.9 is greater than max 0.1",
        ),
        (
            "metrics:\n  word_overlap:\n    aggregate: pass_rate\n    min: 0.5\n"
            "    row: {min: 5, max: 1}\n",
            "ERROR: thresholds.yaml:5: metrics.word_overlap.row: min 5 is greater than max 1",
        ),
        (
            "overrides:\n  - match: {variant: fist}\n    metrics: {word_overlap: {min: 0.1}}\n",
            "ERROR: thresholds.yaml:2: overrides[0].match: matches no item of the project's "
            "suites (variants: first, overlap)",
        ),
        (
            "overrides:\n  - match: {variant: 'first['}\n    metrics: {word_overlap: {min: 0.1}}\n",
            "ERROR: thresholds.yaml:2: overrides[0].match.variant: unclosed '[' in glob 'first['"
            " (write '[[]' for a literal '[')",
        ),
    ],
    ids=["nan", "inf", "min-gt-max", "row-min-gt-max", "override-matches-nothing", "bad-glob"],
)
def test_bad_policy_is_one_line_before_any_row(
    counting: Project, policy: str, expected: str
) -> None:
    counting.write("thresholds.yaml", policy)
    result = _refused(counting, expected)
    assert "Traceback" not in "\n".join(result.outlines + result.errlines)


def test_a_rule_for_a_suite_outside_the_run_is_not_an_error(project: Project) -> None:
    """`pytest suites/other.yaml` must not flag the project rules meant for support.yaml."""
    project.write(
        "suites/other.yaml",
        """
        suite: other
        datasets:
          qa: ../golden_datasets/qa.jsonl
        subjects:
          answer: {target: "demo_app:answer"}
        evaluators: [length]
        """,
    )
    project.write(
        "thresholds.yaml",
        "metrics:\n  word_overlap: {min: 0.1}\noverrides:\n  - match: {suite: support}\n"
        "    metrics: {word_overlap: {min: 0.2}}\n",
    )
    result = project.pytester.runpytest("--llm-gate", "suites/other.yaml")
    assert result.ret == 0, result.errlines
    assert _error_lines(result) == []


def test_an_undeclared_evaluator_is_not_a_false_error(project: Project) -> None:
    """A callable returning an unannotated dict cannot say its names before it runs: a rule on
    one of them is not refused, and the run says it was not checked before the run."""
    _append(project, "evaluators/custom.py", OVERLAP_PAIR)
    _append(project, "suites/support.yaml", '  - "evaluators.custom:overlap_pair"\n')
    project.write(
        "thresholds.yaml", "metrics:\n  overlap_b: {min: 0.4}\n  word_overlap: {min: 0.1}\n"
    )
    result = _run(project)
    assert result.ret == 0, result.errlines
    warnings = project.results()["warnings"]
    assert any(
        "thresholds.yaml:2: metrics.overlap_b: metric 'overlap_b' not checked before the run: "
        "evaluator 'overlap_pair' does not declare its outputs" in w
        for w in warnings
    ), warnings


def test_declared_outputs_in_the_suite_make_the_check_static(counting: Project) -> None:
    _append(counting, "evaluators/custom.py", OVERLAP_PAIR)
    _append(
        counting,
        "suites/support.yaml",
        '  - {use: "evaluators.custom:overlap_pair", outputs: [overlap_a, overlap_b]}\n',
    )
    counting.write("thresholds.yaml", "metrics:\n  overlap_c: {min: 0.4}\n")
    _refused(
        counting,
        "ERROR: thresholds.yaml:2: metrics.overlap_c: no evaluator of the project's suites "
        "produces metric 'overlap_c'; did you mean 'overlap_b'?",
    )


def test_returned_dict_keys_are_read_from_the_source(counting: Project) -> None:
    """`return {"overlap_a": ..., "overlap_b": ...}` declares its names: a typo is caught."""
    _append(
        counting,
        "evaluators/custom.py",
        "\n\ndef overlap_pair(*, response, ground_truth):\n"
        "    return {'overlap_a': 1.0, 'overlap_b': 0.5}\n",
    )
    _append(counting, "suites/support.yaml", '  - "evaluators.custom:overlap_pair"\n')
    counting.write("thresholds.yaml", "metrics:\n  overlap_bb: {min: 0.4}\n")
    _refused(
        counting,
        "ERROR: thresholds.yaml:2: metrics.overlap_bb: no evaluator of the project's suites "
        "produces metric 'overlap_bb'; did you mean 'overlap_b'?",
    )


def test_row_metrics_are_always_known(project: Project) -> None:
    project.write(
        "thresholds.yaml",
        "metrics:\n  latency_ms: {aggregate: p95, max: 60000}\n  word_overlap: {min: 0.1}\n",
    )
    result = _run(project)
    assert result.ret == 0, result.errlines


def test_validate_prints_the_same_lines(project: Project) -> None:
    project.write(
        "thresholds.yaml",
        "metrics:\n  word_overlp: {min: 0.8}\noverrides:\n  - match: {dataset: qaa}\n"
        "    metrics: {length_words: {max: 50}}\n",
    )
    gate = _run(project)
    assert gate.ret == pytest.ExitCode.USAGE_ERROR
    expected = [line.removeprefix("ERROR: ") for line in _error_lines(gate)]
    assert len(expected) == 2
    done = _validate(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.splitlines() == expected


def test_validate_refuses_nan_like_the_gate(project: Project) -> None:
    project.write("thresholds.yaml", "metrics:\n  word_overlap: {min: .nan}\n")
    done = _validate(project)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "thresholds.yaml:2: metrics.word_overlap.min: must be a finite number, got nan"
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_dataset_is_one_line_not_a_hang(project: Project) -> None:
    dataset = project.path / "golden_datasets/qa.jsonl"
    dataset.unlink()
    os.mkfifo(dataset)
    result = project.pytester.runpytest_subprocess("--llm-gate", "suites", timeout=120)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*golden_datasets/qa.jsonl: is a FIFO, not a regular file (refused: reading it could block)*"
        ]
    )


def _repo() -> str:
    return str(Path(__file__).resolve().parents[2])
