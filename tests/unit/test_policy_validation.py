"""Policy errors are found when the policy is loaded, as one `file:line: field: problem` line.

NaN/inf bounds, min > max, unknown aggregates and bad override globs in `thresholds.yaml` (and a
suite's `thresholds:`), YAML alias bombs, and special files given as datasets. Each case here
passed silently (or hung) before the load-time checks existed.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.config.thresholds import load_thresholds, thresholds_from
from pytest_llmgate.errors import InputError
from pytest_llmgate.util.yamlio import parse_yaml


def _load(tmp_path: Path, text: str) -> InputError | None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    try:
        load_thresholds(path)
    except InputError as exc:
        return exc
    return None


def _error(tmp_path: Path, text: str) -> str:
    exc = _load(tmp_path, text)
    assert exc is not None, "the policy was accepted"
    line = str(exc)
    assert "\n" not in line
    return line


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf", "+.inf"])
@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("metrics:\n  f1: {min: V}\n", "metrics.f1.min", 2),
        ("metrics:\n  f1: {max: V}\n", "metrics.f1.max", 2),
        ("metrics:\n  f1:\n    - {min: 0.1}\n    - {max: V}\n", "metrics.f1[1].max", 4),
        (
            "metrics:\n  f1:\n    aggregate: pass_rate\n    min: 0.5\n    row:\n      min: V\n",
            "metrics.f1.row.min",
            6,
        ),
        ("regression:\n  f1: {max_drop: V}\n", "regression.f1.max_drop", 2),
        ("regression:\n  f1: {max_drop: 0.1, min_effect: V}\n", "regression.f1.min_effect", 2),
        (
            "defaults:\n  max_error_rate: V\nmetrics:\n  f1: {min: 0}\n",
            "defaults.max_error_rate",
            2,
        ),
        (
            "overrides:\n  - match: {suite: s}\n    metrics:\n      f1: {min: V}\n",
            "overrides[0].metrics.f1.min",
            4,
        ),
    ],
)
def test_non_finite_numbers_are_refused(
    tmp_path: Path, value: str, text: str, field: str, line: int
) -> None:
    message = _error(tmp_path, text.replace("V", value))
    assert f"thresholds.yaml:{line}: {field}: " in message
    assert "finite" in message


def test_row_bound_min_greater_than_max_is_refused(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        """
        metrics:
          f1:
            aggregate: pass_rate
            min: 0.5
            row: {min: 5, max: 1}
        """,
    )
    assert ":5: metrics.f1.row: " in message
    assert "min 5 is greater than max 1" in message


def test_rule_min_greater_than_max_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, "metrics:\n  f1: {min: 0.9, max: 0.1}\n")
    assert ":2: metrics.f1: min 0.9 is greater than max 0.1" in message


def test_regression_aggregate_must_be_known(tmp_path: Path) -> None:
    message = _error(tmp_path, "regression:\n  f1: {aggregate: p101, max_drop: 0.1}\n")
    assert ":2: regression.f1.aggregate: " in message


def test_default_aggregate_must_be_known(tmp_path: Path) -> None:
    message = _error(tmp_path, "defaults:\n  aggregate: p250\nmetrics:\n  f1: {min: 0}\n")
    assert ":2: defaults.aggregate: " in message


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [("answer[", "unclosed '['"), ("", "empty pattern"), ("[]", "unclosed '['")],
)
def test_invalid_override_globs_are_refused(tmp_path: Path, pattern: str, problem: str) -> None:
    message = _error(
        tmp_path,
        f"""
        overrides:
          - match: {{subject: "{pattern}"}}
            metrics: {{f1: {{min: 0}}}}
        """,
    )
    assert ":2: overrides[0].match.subject: " in message
    assert problem in message


def test_valid_globs_are_accepted(tmp_path: Path) -> None:
    assert (
        _load(
            tmp_path,
            """
            overrides:
              - match: {subject: "ans[wW]er*", dataset: "[!s]*", variant: "?"}
                metrics: {f1: {min: 0}}
            """,
        )
        is None
    )


def test_suite_block_reports_the_suite_field(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    doc = parse_yaml("suite: s\nthresholds:\n  metrics:\n    f1: {min: .nan}\n", path)
    with pytest.raises(InputError) as info:
        thresholds_from(doc, ("thresholds",), strict=True)
    assert ":4: thresholds.metrics.f1.min: " in str(info.value)


# ---- property tests ---------------------------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=60, deadline=None)
@given(low=finite, high=finite)
def test_bounds_are_accepted_exactly_when_ordered(low: float, high: float) -> None:
    text = f"metrics:\n  m: {{min: {low!r}, max: {high!r}}}\n"
    try:
        thresholds = thresholds_from(parse_yaml(text, Path("thresholds.yaml")))
    except InputError as exc:
        assert low > high
        assert ":2: metrics.m: min " in str(exc)
        assert "is greater than max" in str(exc)
        return
    assert low <= high
    rule = thresholds.layers[0].metrics["m"][0]
    assert (rule.min, rule.max) == (low, high)


@settings(max_examples=60, deadline=None)
@given(
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
    where=st.sampled_from(["min", "max"]),
    depth=st.integers(min_value=0, max_value=3),
)
def test_any_non_finite_bound_is_one_line_with_its_line(
    value: float, where: str, depth: int
) -> None:
    text = "metrics:\n" + "".join(f"  m{i}: {{min: {i}}}\n" for i in range(depth))
    text += f"  bad: {{{where}: {value!r}}}\n".replace("nan", ".nan").replace("inf", ".inf")
    with pytest.raises(InputError) as info:
        thresholds_from(parse_yaml(text, Path("thresholds.yaml")))
    assert info.value.line == depth + 2
    assert info.value.field == f"metrics.bad.{where}"


# ---- YAML aliases ----------------------------------------------------------------------------
def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"suite: {{boom: *a{levels - 1}}}")
    return "\n".join(lines) + "\n"


BOMB_SCRIPT = """
import sys
from pathlib import Path
from pytest_llmgate.errors import InputError
from pytest_llmgate.util.yamlio import parse_yaml

try:
    parse_yaml(sys.stdin.read(), Path("suite.yaml"))
except InputError as exc:
    print(exc.line, exc)
    sys.exit(3)
print("loaded")
"""


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def test_alias_bomb_is_refused_with_its_line(tmp_path: Path) -> None:
    """Nine levels of ten aliases: 10**9 strings once walked (a subprocess with a memory cap and a
    timeout, so a regression fails instead of eating the machine)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", BOMB_SCRIPT],
            input=_bomb(9),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
            cwd=tmp_path,
            preexec_fn=_limit_memory if sys.platform != "win32" else None,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("loading an alias bomb did not stop")
    assert done.returncode == 3, (done.stdout, done.stderr[-500:])
    line, message = done.stdout.strip().split(" ", 1)
    assert message.startswith(f"suite.yaml:{line}: ")
    assert 1 <= int(line) <= 10
    assert "alias" in message
    assert "more than" in message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        parse_yaml("a: &a\n  b: *a\n", tmp_path / "suite.yaml")
    assert "alias" in str(info.value)


def test_small_aliases_still_work(tmp_path: Path) -> None:
    doc = parse_yaml(
        "base: &base {min: 0.5, severity: warn}\nmetrics:\n  f1: *base\n  bleu:\n    <<: *base\n"
        "    min: 0.1\n",
        tmp_path / "t.yaml",
    )
    assert doc.data["metrics"]["f1"] == {"min": 0.5, "severity": "warn"}
    assert doc.data["metrics"]["bleu"] == {"min": 0.1, "severity": "warn"}
    assert doc.line(("metrics", "bleu", "min")) == 6


# ---- special files -----------------------------------------------------------------------------
SPECIAL_SCRIPT = """
import os, sys
from pathlib import Path
from pytest_llmgate.config.datasets import DatasetSpec, load_dataset
from pytest_llmgate.errors import InputError
from pytest_llmgate.suite.loader import is_suite_file
from pytest_llmgate.config.thresholds import load_thresholds

path = Path(sys.argv[1])
what = sys.argv[2]
try:
    if what == "dataset":
        load_dataset(DatasetSpec(name="qa", path=path))
    elif what == "thresholds":
        load_thresholds(path)
    else:
        print("suite file" if is_suite_file(path) else "not a suite file")
        sys.exit(0)
except InputError as exc:
    print(exc)
    sys.exit(3)
print("loaded")
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize(
    ("name", "what", "code"),
    [
        ("qa.jsonl", "dataset", 3),
        ("qa.csv", "dataset", 3),
        ("thresholds.yaml", "thresholds", 3),
        ("suite.yaml", "suite", 0),
    ],
)
def test_fifo_is_refused_not_read(tmp_path: Path, name: str, what: str, code: int) -> None:
    """A FIFO blocks a reader until a writer appears: the loader must refuse it, not hang (run in
    a subprocess with a timeout so a regression fails instead of hanging the suite)."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    try:
        done = subprocess.run(
            [sys.executable, "-c", SPECIAL_SCRIPT, str(fifo), what],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading a FIFO as a {what} hung")
    assert done.returncode == code, done.stderr
    out = done.stdout.strip()
    if what == "suite":
        assert out == "not a suite file"
    else:
        assert out.startswith(name + ": ")
        assert "not a regular file" in out
        assert out.count("\n") == 0


def test_device_is_refused_as_dataset() -> None:
    from pytest_llmgate.config.datasets import DatasetSpec, load_dataset

    with pytest.raises(InputError) as info:
        load_dataset(DatasetSpec(name="qa", path=Path("/dev/null"), format="jsonl"))
    assert "not a regular file" in str(info.value)
