"""azure's agent evaluators and conversation mode through the gate's engine, against azure's own
classes on the test server: identical requests (messages and parameters), identical results."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmgate.conversation import to_azure_messages
from pytest_llmgate.conversation.azure import azure_tool_definitions
from pytest_llmgate.engine.loop import run_sync
from pytest_llmgate.errors import EvaluationError
from pytest_llmgate.evaluators import agent_judges
from pytest_llmgate.testing import LLMServer
from tests.integration.conftest import (
    ChatRequests,
    assert_same_requests,
    assert_same_result,
    azure_model_config,
)

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
    judge_session: None,
    llm: LLMServer,
    chat_requests: ChatRequests,
    ours: Any,
    azure_class: str,
    key: str,
) -> None:
    llm.scripted = {"": VERDICT}  # every judge prompt gets a valid verdict
    query, response = to_azure_messages(MESSAGES[:4]), to_azure_messages(MESSAGES[4:])
    from pytest_llmgate.conversation import ToolStubs

    definitions = azure_tool_definitions(ToolStubs.from_row(TOOLS, "tools").openai_tools())
    theirs = getattr(evaluation, azure_class)(azure_model_config(llm))(
        query=query, response=response, tool_definitions=definitions
    )
    azure_requests = list(chat_requests)
    chat_requests.clear()
    mine = run_sync(ours()(messages=MESSAGES, tools=TOOLS))
    assert_same_requests(chat_requests, azure_requests)
    assert_same_result(mine, theirs)
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
    judge_session: None,
    llm: LLMServer,
    chat_requests: ChatRequests,
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
    evaluator = getattr(evaluation, azure_class)(azure_model_config(llm))
    theirs = evaluator(conversation={"messages": turns})
    azure_requests = list(chat_requests)
    chat_requests.clear()
    mine = run_sync(ours()(messages=MESSAGES, **extra))
    assert_same_requests(chat_requests, azure_requests)
    assert_same_result(mine, theirs, skip=frozenset({"evaluation_per_turn"}))
    per_turn = theirs["evaluation_per_turn"]
    assert mine[f"{key}_turns"] == {"values": per_turn[key], "turns": [1, 2]}
    assert mine[key] == pytest.approx(sum(per_turn[key]) / 2)


@pytest.mark.filterwarnings("ignore")
def test_an_unparseable_agent_judge_answer_is_an_error(judge_session: None, llm: LLMServer) -> None:
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
