"""Conversation rows, the turn-by-turn loop, stubbed tools and the azure agent-message adapter."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest

from pytest_llmgate.conversation import (
    ConversationError,
    Script,
    ToolStubs,
    from_azure_messages,
    parse_arguments,
    run_conversation,
    split_conversation,
    to_azure_messages,
)
from pytest_llmgate.conversation.azure import azure_tool_definitions

ORDER_SCHEMA = {
    "type": "object",
    "required": ["order_id"],
    "properties": {"order_id": {"type": "string", "pattern": "^A[0-9]{4}$"}},
}
TOOLS = {
    "lookup_order": {"returns": {"order_id": "A1001", "total": 40}, "parameters": ORDER_SCHEMA},
    "check_refund_eligibility": {
        "cases": [{"when": {"order_id": "A1001"}, "returns": {"eligible": True}}],
        "returns": {"eligible": False},
    },
}


def _call(name: str, call_id: str, **arguments: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def _run(step: Any, conversation: Any, tools: Any = TOOLS, max_turns: int = 10, own: bool = False):
    history, pending = split_conversation(conversation, "conversation")
    stubs = ToolStubs.from_row(tools, "tools")

    async def call(messages: list[dict[str, Any]]) -> Any:
        return step(messages, stubs)

    return asyncio.run(
        run_conversation(
            call, history, Script(pending), stubs, max_turns=max_turns, records_own_calls=own
        )
    )


# --- rows --------------------------------------------------------------------------------------


def test_strings_are_scripted_user_turns() -> None:
    history, pending = split_conversation(["hi", "refund A1001"], "conversation")
    assert history == []
    assert pending == [
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "refund A1001"}],
    ]


def test_messages_up_to_the_last_assistant_reply_are_history() -> None:
    rows = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "I need a refund"},
        {"role": "assistant", "content": "Which order?"},
        {"role": "user", "content": "A1001"},
        "and quickly please",
    ]
    history, pending = split_conversation(rows, "conversation")
    assert [m["role"] for m in history] == ["system", "user", "assistant"]
    assert [[m["content"] for m in turn] for turn in pending] == [["A1001"], ["and quickly please"]]


def test_csv_cells_with_json_lists_are_read() -> None:
    _, pending = split_conversation('["hello", "bye"]', "conversation")
    assert len(pending) == 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "just a string",
            "conversation: expected a list of user turns or OpenAI messages, got str",
        ),
        (
            {"role": "user"},
            "conversation: expected a list of user turns or OpenAI messages, got dict",
        ),
        ([], "conversation: the conversation is empty"),
        ([{"role": "robot", "content": "x"}], "conversation[0].role: 'robot' is not one of"),
        (["hi", 3], "conversation[1]: expected a user turn (text) or an OpenAI message"),
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            "conversation: no user turn left to answer after the history",
        ),
        (["hi", {"role": "system", "content": "x"}], "conversation: ends with a system message"),
        ('["broken', "conversation: not valid JSON"),
    ],
)
def test_bad_conversations_are_one_line(value: Any, message: str) -> None:
    with pytest.raises(ConversationError) as info:
        split_conversation(value, "conversation")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_arguments_must_be_a_json_object() -> None:
    assert parse_arguments('{"a": 1}', "x") == {"a": 1}
    assert parse_arguments("", "x") == {}
    with pytest.raises(ConversationError, match=r"^call: arguments are not valid JSON"):
        parse_arguments('{"order_id": A1001}', "call")
    with pytest.raises(ConversationError, match="must be a JSON object, got list"):
        parse_arguments("[1, 2]", "call")


# --- stubs -------------------------------------------------------------------------------------


def test_stub_cases_default_and_schema_errors() -> None:
    stubs = ToolStubs.from_row(TOOLS, "tools")
    assert stubs.call("check_refund_eligibility", {"order_id": "A1001"}, turn=1).result == {
        "eligible": True
    }
    assert stubs.call("check_refund_eligibility", {"order_id": "A2"}, turn=1).result == {
        "eligible": False
    }
    bad = stubs.call("lookup_order", {"order_id": "nope"}, turn=2)
    assert bad.result["error"].startswith("invalid arguments: 'nope' does not match")
    assert [c.turn for c in stubs.calls] == [1, 1, 2]
    assert all(c.latency_ms is not None and c.latency_ms >= 0 for c in stubs.calls)


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (["lookup_order"], "tools: expected a mapping of tool name to {returns: ...}, got list"),
        ({"lookup_order": 5}, "tools.lookup_order: expected {returns: ...}, got int"),
        ({"lookup_order": {"return": 1}}, "tools.lookup_order: unknown key 'return'"),
        ({"t": {"cases": [{"returns": 1}]}}, "tools.t.cases[0]: expected {when: {...}"),
    ],
)
def test_bad_tool_stubs_are_one_line(tools: Any, message: str) -> None:
    with pytest.raises(ConversationError, match="^" + re.escape(message)):
        ToolStubs.from_row(tools, "tools")


# --- the loop ----------------------------------------------------------------------------------


def _agent(messages: list[dict[str, Any]], stubs: ToolStubs) -> Any:
    """Looks the order up, checks eligibility, then answers."""
    last = messages[-1]
    if last["role"] == "user":
        if "A1001" not in last["content"]:
            return "Which order?"
        return _call("lookup_order", "c1", order_id="A1001")
    answered = sum(1 for m in messages if m["role"] == "tool")
    if answered == 1:
        return _call("check_refund_eligibility", "c2", order_id="A1001")
    return {"content": "You can have a refund."}


def test_tool_calls_are_answered_by_stubs_and_recorded_per_turn() -> None:
    transcript = _run(_agent, ["hello", "refund A1001"]).as_output()
    assert [t["response"] for t in transcript["turns"]] == [
        "Which order?",
        "You can have a refund.",
    ]
    assert transcript["turns"][1]["tool_calls"] == ["lookup_order", "check_refund_eligibility"]
    calls = transcript["tool_calls"]
    assert [(c["turn"], c["name"], c["arguments"], c["id"]) for c in calls] == [
        (2, "lookup_order", {"order_id": "A1001"}, "c1"),
        (2, "check_refund_eligibility", {"order_id": "A1001"}, "c2"),
    ]
    assert calls[1]["result"] == {"eligible": True}
    assert all(isinstance(c["latency_ms"], float) for c in calls)
    tool_messages = [m for m in transcript["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["c1", "c2"]
    assert json.loads(tool_messages[0]["content"]) == {"order_id": "A1001", "total": 40}
    assert transcript["response"] == "You can have a refund."
    assert transcript["steps"] == 4
    assert transcript["stop"] == "script_end"


def test_unknown_tool_names_the_turn_and_the_known_tools() -> None:
    def agent(messages: list[dict[str, Any]], stubs: ToolStubs) -> Any:
        return _call("cancel_order", "c1", order_id="A1001")

    with pytest.raises(ConversationError) as info:
        _run(agent, ["cancel A1001"])
    assert str(info.value) == (
        "turn 1: unknown tool 'cancel_order' (row tools: check_refund_eligibility, lookup_order)"
    )


def test_malformed_tool_arguments_name_turn_step_and_tool() -> None:
    def agent(messages: list[dict[str, Any]], stubs: ToolStubs) -> Any:
        message = _call("lookup_order", "c1")
        message["tool_calls"][0]["function"]["arguments"] = "{order_id: A1001"
        return message

    with pytest.raises(ConversationError) as info:
        _run(agent, ["where is A1001"])
    assert str(info.value).startswith(
        "turn 1, step 1: tool_calls[0] lookup_order: arguments are not valid JSON"
    )


def test_a_subject_that_loops_fails_at_max_turns() -> None:
    def agent(messages: list[dict[str, Any]], stubs: ToolStubs) -> Any:
        return _call("lookup_order", f"c{len(messages)}", order_id="A1001")

    with pytest.raises(ConversationError) as info:
        _run(agent, ["where is A1001"], max_turns=3)
    assert str(info.value) == (
        "turn 1: the subject went past max_turns=3 steps (still calling tools: lookup_order); "
        "it loops, or the conversation needs a larger max_turns"
    )


def test_an_agent_running_its_own_tools_is_recorded_once() -> None:
    def agent(messages: list[dict[str, Any]], stubs: ToolStubs) -> Any:
        tools = stubs.callables()
        found = tools["lookup_order"](order_id="A1001")
        call = _call("lookup_order", "own1", order_id="A1001")
        result = {"role": "tool", "tool_call_id": "own1", "content": json.dumps(found)}
        return [call, result, {"role": "assistant", "content": f"Total {found['total']}"}]

    out = _run(agent, ["A1001?"], own=True).as_output()
    assert [c["name"] for c in out["tool_calls"]] == ["lookup_order"]
    assert out["tool_calls"][0]["latency_ms"] is not None
    assert out["response"] == "Total 40"


def test_a_replayed_trace_records_its_tool_calls_from_the_messages() -> None:
    def agent(messages: list[dict[str, Any]], stubs: ToolStubs) -> Any:
        call = _call("search", "t1", q="refunds")
        result = {"role": "tool", "tool_call_id": "t1", "content": "3 hits"}
        return [call, result, "Here is what I found."]

    out = _run(agent, ["find refunds"], tools=None).as_output()
    assert out["tool_calls"] == [
        {
            "turn": 1,
            "name": "search",
            "arguments": {"q": "refunds"},
            "id": "t1",
            "result": "3 hits",
            "latency_ms": None,
        }
    ]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (None, "turn 1, step 1: the subject returned None"),
        ([], "turn 1, step 1: the subject returned no messages"),
        (42, "turn 1, step 1: expected text, an assistant message or a list of messages, got int"),
        ({"role": "user", "content": "x"}, "turn 1, step 1.role: a reply is an assistant or tool"),
        ({"role": "assistant"}, "turn 1, step 1: an assistant message with no content"),
    ],
)
def test_bad_replies_are_one_line(reply: Any, message: str) -> None:
    with pytest.raises(ConversationError) as info:
        _run(lambda messages, stubs: reply, ["hi"])
    assert str(info.value).startswith(message)


# --- azure's agent message format ---------------------------------------------------------------

# the shape azure-ai-evaluation's AIAgentConverter writes (azure/ai/evaluation/_converters/_models.py)
AZURE_THREAD = [
    {"role": "system", "content": [{"type": "text", "text": "You are a support agent."}]},
    {"role": "user", "content": [{"type": "text", "text": "Refund A1001"}]},
    {
        "role": "assistant",
        "content": [
            {
                "type": "tool_call",
                "tool_call_id": "call_1",
                "name": "lookup_order",
                "arguments": {"order_id": "A1001"},
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": [{"type": "tool_result", "tool_result": {"total": 40}}],
    },
    {"role": "assistant", "content": [{"type": "text", "text": "Refunded 40."}]},
]


def test_azure_agent_messages_convert_to_openai_and_back() -> None:
    openai = from_azure_messages(AZURE_THREAD)
    assert openai[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order_id": "A1001"}'},
            }
        ],
    }
    assert openai[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"total": 40}'}
    assert to_azure_messages(openai) == AZURE_THREAD


def test_a_converted_azure_thread_runs_as_a_replayed_subject() -> None:
    def agent(messages: list[dict[str, Any]], stubs: ToolStubs) -> Any:
        return from_azure_messages(AZURE_THREAD[2:])

    out = _run(agent, ["Refund A1001"], tools=None).as_output()
    assert [(c["name"], c["result"]) for c in out["tool_calls"]] == [
        ("lookup_order", '{"total": 40}')
    ]
    assert out["response"] == "Refunded 40."


def test_tool_definitions_for_azure() -> None:
    stubs = ToolStubs.from_row(TOOLS, "tools")
    definitions = azure_tool_definitions(stubs.openai_tools())
    assert definitions[0] == {
        "name": "lookup_order",
        "description": "",
        "parameters": ORDER_SCHEMA,
    }
