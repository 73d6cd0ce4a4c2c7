"""The built-in judges against azure-ai-evaluation's own evaluator classes, on the test server.

For each of the seven judges the same inputs go through (a) the azure evaluator class called
directly and (b) our judge driven through the gate's engine; the server answers deterministically,
so equal requests get equal answers. Asserted: identical requests (messages and parameters), and
identical output names, scores, verdict fields and reasons. Then the fail-closed cases: unparseable
answers, refusals, skipped answers, out-of-scale scores and calls failing after retries raise.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.engine.loop import run_sync
from pytest_llmgate.errors import EvaluationError, ModelCallError
from pytest_llmgate.evaluators import judge as judges
from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY
from tests.integration.conftest import (
    ChatRequests,
    assert_same_requests,
    assert_same_result,
    azure_model_config,
)

CONTEXT = "The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall."
QUERY = "When was the Eiffel Tower completed?"
TRUTH = "The Eiffel Tower was completed in 1889."
GOOD = "The Eiffel Tower was completed in 1889, which makes it well over a century old."
BAD = "Bananas are an excellent source of potassium."

CASES: list[tuple[str, dict[str, str]]] = [
    ("groundedness", {"query": QUERY, "response": GOOD, "context": CONTEXT}),
    ("groundedness", {"response": BAD, "context": CONTEXT}),  # the no-query prompt
    ("relevance", {"query": QUERY, "response": GOOD}),
    ("relevance", {"query": QUERY, "response": BAD}),
    ("coherence", {"query": QUERY, "response": GOOD}),
    ("fluency", {"response": GOOD}),
    ("similarity", {"query": QUERY, "response": GOOD, "ground_truth": TRUTH}),
    ("similarity", {"query": QUERY, "response": BAD, "ground_truth": TRUTH}),
    ("retrieval", {"query": QUERY, "context": CONTEXT}),
    ("retrieval", {"query": QUERY, "context": BAD}),
    ("response_completeness", {"response": GOOD, "ground_truth": TRUTH}),
    ("response_completeness", {"response": BAD, "ground_truth": TRUTH}),
]

def _ours(name: str, inputs: dict[str, str], **args: Any) -> dict[str, Any]:
    cls = judges.AZURE_JUDGES[name][0]
    return dict(run_sync(cls(**args)(**inputs)))


@pytest.mark.filterwarnings("ignore")  # the SDK's experimental-class notices
@pytest.mark.parametrize(("name", "inputs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_same_request_same_result_as_azure(
    judge_session: None, llm: LLMServer, chat_requests: ChatRequests, name: str,
    inputs: dict[str, str]
) -> None:
    evaluation = pytest.importorskip("azure.ai.evaluation")
    config = azure_model_config(llm)
    theirs = getattr(evaluation, judges.AZURE_JUDGES[name][1])(model_config=config)(**inputs)
    ours = _ours(name, inputs)
    assert len(chat_requests) == 2
    azure_request, our_request = chat_requests
    assert our_request["messages"] == azure_request["messages"]
    assert_same_requests([our_request], [azure_request])
    assert list(ours) == list(theirs)  # same output names, same order
    assert_same_result(ours, theirs)
    assert isinstance(ours[name], float) and 1 <= ours[name] <= 5


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("4", "no groundedness score"),  # a bare number: azure gives NaN
        ("<S2>4</S2>", "not JSON"),
        ("```json\n{\"score\": 4}\n```", "not JSON"),
        ('{"reason": "fine"}', "no groundedness score"),
        ('{"score": "high", "reason": "x"}', "not a number"),
        ('{"score": 9, "reason": "x"}', "outside 1-5"),
        ('{"score": null, "reason": "empty input", "status": "skipped"}', "skipped"),
        ("I'm sorry, I can't help with that.", "not JSON"),
    ],
)
def test_unusable_answers_raise(
    judge_session: None, llm: LLMServer, reply: str, message: str
) -> None:
    llm.scripted = {"**Groundedness** refers to": reply}
    with pytest.raises(EvaluationError, match=message):
        _ours("groundedness", {"query": QUERY, "response": GOOD, "context": CONTEXT})


def test_dict_only_judges_reject_non_objects(judge_session: None, llm: LLMServer) -> None:
    llm.scripted = {"Relevance-Judge": "[4]"}
    with pytest.raises(EvaluationError, match="not a JSON object"):
        _ours("relevance", {"query": QUERY, "response": GOOD})


def test_parse_matches_azure_on_edge_answers() -> None:
    # the parse reproduces azure's NaN / string-score behaviour (the judge then raises on NaN)
    assert math.isnan(judges.parse_answer("fluency", "4")["fluency"])
    assert judges.parse_answer("fluency", '"<S2>4</S2><S1>ok</S1>"')["fluency"] == 4.0
    assert judges.parse_answer("fluency", '{"score": "3", "reason": "r"}')["fluency_score"] == 3.0
    out = judges.parse_answer("fluency", '{"score": 2, "reason": "r"}', threshold=3)
    assert (out["fluency_result"], out["fluency_passed"]) == ("fail", False)


def test_call_failing_after_retries_raises(judge_session: None, llm: LLMServer) -> None:
    llm.error_rate_500 = 1.0
    llm.retry_after = 0
    with pytest.raises(ModelCallError, match="HTTP 500"):
        _ours("fluency", {"response": GOOD})


def test_retries_give_the_fault_free_answer(judge_session: None, llm: LLMServer) -> None:
    rows = [{"query": QUERY, "response": f"{GOOD} Note {i}."} for i in range(12)]
    clean = [_ours("coherence", row) for row in rows]
    llm.configure(error_rate_429=0.2, error_rate_500=0.2, retry_after=0, seed=5)
    faulty = [_ours("coherence", row) for row in rows]
    assert llm.faults["429"] and llm.faults["500"]  # faults really happened
    assert faulty == clean


def test_custom_prompty_judge(judge_session: None, tmp_path: Path, llm: LLMServer) -> None:
    path = tmp_path / "politeness-check.prompty"
    path.write_text(
        "---\nname: politeness\nmodel:\n  parameters: {temperature: 0, max_tokens: 100}\n"
        "inputs:\n  response: {type: string}\n  tone: {type: string, default: friendly}\n---\n"
        "system:\nRate politeness with a score between 1 and 5, answer as a JSON object.\n"
        "user:\nTone: {{ tone }}\nResponse: {{ response }}\n",
        encoding="utf-8",
    )
    cls = judges.prompty_judge_factory(path)
    judge = cls(min=1, max=5)
    assert judge.outputs == ("politeness_check",)
    out = run_sync(judge(response=GOOD))
    assert set(out) == {"politeness_check", "politeness_check_reason"}
    assert 1 <= out["politeness_check"] <= 5
    llm.scripted = {"Rate politeness": '{"score": "n/a"}'}
    with pytest.raises(EvaluationError, match="no numeric score"):
        run_sync(judge(response=GOOD))


@pytest.mark.filterwarnings("ignore")
def test_azure_class_by_import_path_gets_the_judge(judge_session: None, llm: LLMServer) -> None:
    evaluation = pytest.importorskip("azure.ai.evaluation")
    adapted, needs_model = judges.adapt_model_evaluator(
        evaluation.FluencyEvaluator, {"model_config": "${judge}"}
    )
    assert needs_model
    instance = adapted(model_config="${judge}")
    out = instance(response=GOOD)
    assert out["fluency"] == _ours("fluency", {"response": GOOD})["fluency"]
    assert "prompt_tokens" not in out["fluency_properties"]
    assert FAKE_KEY not in repr(instance.args)

