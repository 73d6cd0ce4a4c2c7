"""Shared fixtures: a small gate project written into pytester's directory, and xdist modes."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["pytest_llmgate.testing.fixtures"]

# Property tests check correctness, not speed: hypothesis' per-example deadline measures wall
# time, which a loaded CI machine stretches past 200 ms (a flaky "DeadlineExceeded")
settings.register_profile(
    "llmgate", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("llmgate")

# Whether this test session itself runs in CI (tools the tests need must then be present). The gate
# runs inside the tests must not inherit it: in CI a missing model fails instead of skipping, and
# the tests that want that behaviour set CI themselves.
OUTER_CI = bool(os.environ.get("CI"))


@pytest.fixture(autouse=True)
def _gate_runs_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

APP = """
import asyncio
import math


def answer(question, context, strategy="overlap"):
    sentences = [s.strip() + "." for s in context.split(".") if s.strip()]
    if strategy == "first":
        return sentences[0]
    words = set(question.lower().replace("?", "").split())
    return max(sentences, key=lambda s: len(words & set(s.lower().rstrip(".").split())))


async def answer_async(question, context):
    await asyncio.sleep(0)
    return answer(question, context)


class Bot:
    def __init__(self, prefix=""):
        self.prefix = prefix

    def __call__(self, question, context, shout=False):
        text = self.prefix + answer(question, context)
        return {"response": text.upper() if shout else text}


def boom(question):
    raise RuntimeError("subject exploded")
"""

EVALUATORS = """
import math


def word_overlap(*, response, ground_truth):
    a, b = set(response.lower().split()), set(ground_truth.lower().split())
    return len(a & b) / max(len(b), 1)


class Mentions:
    outputs = ("mentions",)

    def __init__(self, word):
        self.word = word

    def __call__(self, *, response):
        return {"mentions": float(self.word in response.lower()), "mentions_reason": "checked"}


def broken(*, response):
    raise ValueError("evaluator exploded")


def nan_score(*, response):
    return math.nan


def not_a_number(*, response):
    return "great"
"""

ROWS = [
    {
        "id": "r1",
        "question": "How do I reset my password?",
        "context": "Plans renew monthly. To reset your password click forgot password on the sign-in page.",
        "ground_truth": "To reset your password click forgot password on the sign-in page.",
    },
    {
        "id": "r2",
        "question": "When do plans renew?",
        "context": "Plans renew monthly on the signup date. Refunds take five days.",
        "ground_truth": "Plans renew monthly on the signup date.",
    },
    {
        "id": "r3",
        "question": "How long do refunds take?",
        "context": "Plans renew monthly. Refunds take five business days to arrive.",
        "ground_truth": "Refunds take five business days to arrive.",
    },
    {
        "id": "r4",
        "question": "Can I export my data?",
        "context": "Support is open daily. You can export your data as CSV from the settings page.",
        "ground_truth": "You can export your data as CSV from the settings page.",
    },
]

SUITE = """
suite: support
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer:
    target: demo_app:answer
    variants:
      overlap: {strategy: overlap}
      first: {strategy: first}
evaluators:
  - "evaluators.custom:word_overlap"
  - length
"""

THRESHOLDS = """
metrics:
  word_overlap: {min: 0.8}
"""


class Project:
    """A gate project inside pytester.path."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path

    def write(self, relative: str, text: str) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return target

    def rows(self, rows: list[dict[str, Any]], name: str = "golden_datasets/qa.jsonl") -> Path:
        return self.write(name, "".join(json.dumps(r) + "\n" for r in rows))

    def results(self, name: str = ".llmgate/results.json") -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / name).read_text("utf-8"))
        return data


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """A passing example project: app.py, evaluators/custom.py, a suite, a dataset, thresholds."""
    p = Project(pytester)
    p.write("demo_app.py", APP)
    p.write("evaluators/__init__.py", "")
    p.write("evaluators/custom.py", EVALUATORS)
    p.rows(ROWS)
    p.write("suites/support.yaml", SUITE)
    p.write("thresholds.yaml", THRESHOLDS)
    p.write(
        "pytest.ini",
        "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n",
    )
    return p


@pytest.fixture(params=["no-xdist", "n0", "n2"])
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    """Run the gate without xdist, with `-n 0` and with `-n 2` (as syrupy does)."""
    if request.param == "no-xdist":
        return ["-p", "no:xdist"]
    pytest.importorskip("xdist")
    return ["-n", "0"] if request.param == "n0" else ["-n", "2"]
