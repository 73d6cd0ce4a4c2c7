"""azure's agent evaluators and conversation mode through the gate's engine, against azure's own
classes on the test server: identical requests (messages and parameters), identical results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_llmgate.conversation import to_azure_messages
from pytest_llmgate.conversation.azure import azure_tool_definitions
from pytest_llmgate.engine import runtime
from pytest_llmgate.engine.loop import run_sync
from pytest_llmgate.errors import EvaluationError
from pytest_llmgate.evaluators import agent_judges
from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY

evaluation = pytest.importorskip("azure.ai.evaluation")

ORDER = {"type": "object", "properties": {"order_id": {"type": "string"}}}
TOOLS = {
    "lookup_order": {"returns": {"total": 40}, "parameters": ORDER, "description": "Find an order"},
    "issue_refund": {"returns": {"ok": True}, "parameters": ORDER, "description": "Refund it"},
}
MESSAGES = [
    {"role": "system", "content": "You are Acme's order agent."},
    {"role": "user", "content": "I want a refund."},
    {"role": "assistant", "content": "Which order?"},
    {"role": "user", "content": "Order A1001, please refund it."},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order_id": "A1001"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": '{"total": 40}'},
    {"role": "assistant", "content": "I refunded 40 for order A1001."},
]
VERDICT = json.dumps({"reason": "The agent resolved it.", "score": 4, "status": "completed"})
_TOKEN_METADATA = {
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "finish_reason",
    "model",
    "sample_input",
    "sample_output",
}


@pytest.fixture
def session(llm: LLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMGATE_JUDGE_BASE_URL", llm.base_url)
    monkeypatch.setenv("LLMGATE_JUDGE_MODEL", "gpt-4o")
    monkeypatch.setenv("LLMGATE_JUDGE_API_KEY", FAKE_KEY)
    runtime.reset()
    runtime.prepare(
        SimpleNamespace(
            rootdir=tmp_path, thresholds_path=None, concurrency=8, cache_mode="off", cache_dir=None
        )
    )
    yield
    runtime.finish()


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    from openai.resources.chat.completions import AsyncCompletions

    seen: list[dict[str, Any]] = []
    original = AsyncCompletions.create

    async def create(self: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return await original(self, **kwargs)

    monkeypatch.setattr(AsyncCompletions, "create", create)
    return seen


def _config(llm: LLMServer) -> Any:
    return evaluation.OpenAIModelConfiguration(
        type="openai", base_url=llm.base_url, api_key="x", model="gpt-4o"
    )


def _same(ours: dict[str, Any], theirs: dict[str, Any], skip: set[str] = frozenset()) -> None:
    for key, value in theirs.items():
        if key in skip:
            continue
        if key.endswith("_properties") and isinstance(value, dict):
            assert ours[key] == {k: v for k, v in value.items() if k not in _TOKEN_METADATA}
        else:
            assert ours[key] == value, key


def _requests_equal(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    ignored = {"model", "extra_headers", "timeout"}
    assert len(ours) == len(theirs) > 0
    for mine, azure in zip(ours, theirs, strict=True):
        assert {k: v for k, v in mine.items() if k not in ignored} == {
            k: v for k, v in azure.items() if k not in ignored
        }


@pytest.mark.filterwarnings("ignore")  # the SDK's experimental-class notices
@pytest.mark.parametrize(
    ("ours", "azure_class", "key"),
    [
        (agent_judges.IntentResolution, "IntentResolutionEvaluator", "intent_resolution"),
        (agent_judges.TaskAdherence, "TaskAdherenceEvaluator", "task_adherence"),
        (agent_judges.ToolCallAccuracy, "ToolCallAccuracyEvaluator", "tool_call_accuracy"),
    ],
)
def test_agent_evaluators_equal_azures_own_classes(
    session: None,
    llm: LLMServer,
    requests: list[dict[str, Any]],
    ours: Any,
    azure_class: str,
    key: str,
) -> None:
    llm.scripted = {"": VERDICT}  # every judge prompt gets a valid verdict
    query, response = to_azure_messages(MESSAGES[:4]), to_azure_messages(MESSAGES[4:])
    from pytest_llmgate.conversation import ToolStubs

    definitions = azure_tool_definitions(ToolStubs.from_row(TOOLS, "tools").openai_tools())
    theirs = getattr(evaluation, azure_class)(_config(llm))(
        query=query, response=response, tool_definitions=definitions
    )
    azure_requests = list(requests)
    requests.clear()
    mine = run_sync(ours()(messages=MESSAGES, tools=TOOLS))
    _requests_equal(requests, azure_requests)
    _same(mine, theirs)
    assert isinstance(mine[key], float)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("ours", "azure_class", "key", "extra"),
    [
        (
            agent_judges.ConversationGroundedness,
            "GroundednessEvaluator",
            "groundedness",
            {"context": "Order A1001 costs 40. Refunds are issued to the original card."},
        ),
        (agent_judges.ConversationRelevance, "RelevanceEvaluator", "relevance", {}),
        (agent_judges.ConversationCoherence, "CoherenceEvaluator", "coherence", {}),
        (agent_judges.ConversationFluency, "FluencyEvaluator", "fluency", {}),
    ],
)
def test_conversation_mode_equals_azure_and_records_turns(
    session: None,
    llm: LLMServer,
    requests: list[dict[str, Any]],
    ours: Any,
    azure_class: str,
    key: str,
    extra: dict[str, Any],
) -> None:
    turns = []
    for message in MESSAGES:
        if message["role"] == "user" or (message["role"] == "assistant" and message["content"]):
            entry = {"role": message["role"], "content": message["content"]}
            if message["role"] == "assistant" and extra:
                entry["context"] = extra["context"]
            turns.append(entry)
    theirs = getattr(evaluation, azure_class)(_config(llm))(conversation={"messages": turns})
    azure_requests = list(requests)
    requests.clear()
    mine = run_sync(ours()(messages=MESSAGES, **extra))
    _requests_equal(requests, azure_requests)
    _same(mine, theirs, skip={"evaluation_per_turn"})
    per_turn = theirs["evaluation_per_turn"]
    assert mine[f"{key}_turns"] == {"values": per_turn[key], "turns": [1, 2]}
    assert mine[key] == pytest.approx(sum(per_turn[key]) / 2)


@pytest.mark.filterwarnings("ignore")
def test_an_unparseable_agent_judge_answer_is_an_error(session: None, llm: LLMServer) -> None:
    llm.scripted = {"": "not json at all"}
    with pytest.raises(EvaluationError):
        run_sync(agent_judges.IntentResolution()(messages=MESSAGES, tools=TOOLS))


def test_agent_judges_are_registered_and_need_a_model() -> None:
    from pytest_llmgate.evaluators.registry import resolve_evaluator

    for name in (
        "intent_resolution",
        "task_adherence",
        "tool_call_accuracy",
        "conversation_groundedness",
        "conversation_relevance",
        "conversation_coherence",
        "conversation_fluency",
    ):
        bound = resolve_evaluator(name=name, use=name)
        assert bound.needs_model
        assert "messages" in bound.signature.params
