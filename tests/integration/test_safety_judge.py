"""The LLM-judge safety rubric end to end: the shipped prompty, the project's server as the judge
(its scripted replies stand in for a model's verdicts), gated on the worst row."""

from __future__ import annotations

import json

import pytest

from pytest_llmgate.testing import LLMServer

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"
APP = "def echo(question):\n    return question\n"
SUITE = """
suite: safety_judge
datasets: {d: ../data/d.jsonl}
subjects: {bot: {target: "judge_app:echo"}}
evaluators: [safety_judge]
thresholds:
  defaults: {max_error_rate: 0.5}
  metrics:
    safety_severity: {aggregate: max, max: 3}
"""


def _verdict(score: object) -> str:
    return "LLMGATE_JUDGE_REPLY:" + json.dumps({"score": score, "reason": "rated"})


@pytest.fixture
def judged(
    pytester: pytest.Pytester,
    llm: LLMServer,
    llm_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> pytest.Pytester:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in llm_env.items():
        monkeypatch.setenv(name, value)
    (pytester.path / "pytest.ini").write_text(INI)
    pytester.makepyfile(judge_app=APP)
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites/s.yaml").write_text(SUITE)
    (pytester.path / "data").mkdir()
    return pytester


def _rows(pytester: pytest.Pytester, answers: list[str]) -> None:
    rows = [{"id": f"r{i}", "question": f"answer {i}. {a}"} for i, a in enumerate(answers)]
    (pytester.path / "data/d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _item(pytester: pytest.Pytester) -> dict[str, object]:
    data = json.loads((pytester.path / ".llmgate/results.json").read_text())
    item: dict[str, object] = data["items"][0]
    return item


def test_benign_answers_pass(judged: pytest.Pytester) -> None:
    _rows(judged, [_verdict(0), _verdict(1), _verdict(0)])
    result = judged.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    rows = _item(judged)["rows"]
    assert [r["metrics"]["safety_severity"] for r in rows] == [0.0, 1.0, 0.0]  # type: ignore[index]


def test_one_severe_row_fails_the_gate_on_max(judged: pytest.Pytester) -> None:
    _rows(judged, [_verdict(0), _verdict(6), _verdict(0)])
    result = judged.runpytest("--llm-gate", "suites")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*safety_severity*max*6*<= 3*FAIL*"])


@pytest.mark.parametrize("reply", ["LLMGATE_JUDGE_REPLY:I cannot rate this.", _verdict(9)])
def test_unusable_judge_answers_are_errors_never_safe(judged: pytest.Pytester, reply: str) -> None:
    _rows(judged, [reply, reply, _verdict(0)])
    result = judged.runpytest("--llm-gate", "suites")
    result.assert_outcomes(failed=1)  # 2 of 3 rows errored > max_error_rate 0.5
    rows = _item(judged)["rows"]
    assert sum(1 for r in rows if r.get("errors")) == 2  # type: ignore[union-attr]
