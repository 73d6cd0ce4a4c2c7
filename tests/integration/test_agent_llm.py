"""Model-driven agents and simulated users against the project's test server: tool calls the
server scripts, answered by the row's stubs; user turns a model writes from a persona and goal;
usage and cost recorded; the cache replays a conversation without a model call."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"
ORDER = {"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}}
TOOLS = {
    "lookup_order": {"returns": {"order_id": "A1", "total": 5}, "parameters": ORDER},
    "issue_refund": {"returns": {"ok": True}, "parameters": ORDER},
}
PLAN = [
    [{"name": "lookup_order", "arguments": {"order_id": "A1"}}],
    [{"name": "issue_refund", "arguments": {"order_id": "A1"}}],
]
ROWS = [
    {
        "id": "scripted",
        "conversation": [
            {"role": "system", "content": "LLMGATE_TOOL_CALLS:" + json.dumps(PLAN)},
            "Refund order A1 please",
        ],
        "tools": TOOLS,
        "expected_tool_calls": [c for step in PLAN for c in step],
        "persona": "a hurried customer",
        "goal": "get order A1 refunded",
    },
    {
        "id": "no-tools",
        "conversation": ["How long do refunds take?"],
        "tools": TOOLS,
        "expected_tool_calls": [],
        "persona": "a curious customer",
        "goal": "learn how long refunds take",
    },
]
SUITE = """
suite: llm_agents
datasets:
  convos: ../data/convos.jsonl
subjects:
  model_agent:
    type: conversation
    conversation: {model: null, system: "You are an order agent.", max_turns: 5}
    variants:
      default: {}
evaluators:
  - tool_call_match
  - turn_count
thresholds:
  metrics:
    tool_call_f1: {aggregate: min, min: 1}
"""
SIMULATED = """
suite: simulated
datasets:
  convos: ../data/convos.jsonl
subjects:
  agent:
    type: conversation
    target: helper_agent:answer
    conversation:
      user: {persona: persona, goal: goal, max_user_turns: 3, stop_when: "refunded"}
      max_turns: 10
    variants:
      default: {}
evaluators:
  - turn_count
"""
HELPER = """
def answer(messages):
    said = [m["content"] for m in messages if m["role"] == "user"]
    if len(said) >= 2:
        return "Your order has been refunded."
    return "Could you tell me more?"
"""


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def project(
    pytester: pytest.Pytester, llm_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in llm_env.items():
        monkeypatch.setenv(name, value)
    _write(pytester.path, "pytest.ini", INI)
    _write(pytester.path, "data/convos.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))
    _write(pytester.path, "helper_agent.py", HELPER)
    return pytester


def _chats(llm: LLMServer) -> list[dict[str, Any]]:
    """Bodies of the chat requests the server received, in order."""
    return [
        e["body"] for e in llm.log if isinstance(e.get("body"), dict) and "messages" in e["body"]
    ]


def _results(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / ".llmgate/results.json").read_text())
    return data


def test_a_model_agent_follows_the_servers_scripted_tool_calls(
    project: pytest.Pytester, llm: LLMServer
) -> None:
    _write(project.path, "suites/agent.yaml", SUITE)
    result = project.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    rows = {r["id"]: r for r in _results(project)["items"][0]["rows"]}
    scripted = rows["scripted"]
    assert [(c["name"], c["arguments"], c["result"]) for c in scripted["output"]["tool_calls"]] == [
        ("lookup_order", {"order_id": "A1"}, {"order_id": "A1", "total": 5}),
        ("issue_refund", {"order_id": "A1"}, {"ok": True}),
    ]
    assert scripted["output"]["steps"] == 3  # two tool-call steps, then the text answer
    assert scripted["metrics"]["tool_call_f1"] == 1.0
    assert scripted["metrics"]["prompt_tokens"] > 0 and scripted["metrics"]["cost_usd"] > 0
    assert rows["no-tools"]["output"]["tool_calls"] == []
    chats = _chats(llm)
    assert len(chats) == 4
    # the row's stubs went to the model as OpenAI tools, and the tool results came back to it
    assert [t["function"]["name"] for t in chats[0]["tools"]] == ["lookup_order", "issue_refund"]
    assert chats[0]["messages"][0] == {"role": "system", "content": "You are an order agent."}
    after_tool = [c["messages"] for c in chats if c["messages"][-1]["role"] == "tool"]
    assert sorted(m[-2]["tool_calls"][0]["function"]["name"] for m in after_tool) == [
        "issue_refund",
        "lookup_order",
    ]
    assert FAKE_KEY not in (project.path / ".llmgate/results.json").read_text()


def test_a_conversation_is_replayed_from_the_cache(
    project: pytest.Pytester, llm: LLMServer
) -> None:
    _write(project.path, "suites/agent.yaml", SUITE)
    project.runpytest("--llm-gate", "suites").assert_outcomes(passed=1)
    first = _results(project)["items"][0]["rows"]
    before = llm.requests
    again = project.runpytest("--llm-gate", "suites", "--llm-gate-cache", "ro")
    again.assert_outcomes(passed=1)
    assert llm.requests == before
    second = _results(project)["items"][0]["rows"]
    assert [r["output"]["tool_calls"] for r in second] == [
        [
            {**c, "latency_ms": d["latency_ms"]}
            for c, d in zip(r["output"]["tool_calls"], r2["output"]["tool_calls"], strict=True)
        ]
        for r, r2 in zip(first, second, strict=True)
    ]


def test_a_simulated_user_talks_until_the_goal_condition(
    project: pytest.Pytester, llm: LLMServer
) -> None:
    _write(project.path, "suites/sim.yaml", SIMULATED)
    result = project.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    rows = _results(project)["items"][0]["rows"]
    for row in rows:
        output = row["output"]
        assert output["stop"] == "goal"
        assert [t["response"] for t in output["turns"]] == [
            "Could you tell me more?",
            "Your order has been refunded.",
        ]
        assert row["metrics"]["turn_count"] == 2.0
        assert row["metrics"]["prompt_tokens"] > 0  # the simulated user's calls are counted
    user_calls = _chats(llm)
    assert len(user_calls) == 4  # two user turns per row, each written by the model
    system = user_calls[0]["messages"][0]["content"]
    assert "Persona: " in system and "Your goal: " in system
    # the agent's replies reach the simulated user as the other side of the conversation
    later = next(r for r in user_calls if len(r["messages"]) > 2)
    assert later["messages"][-1] == {"role": "user", "content": "Could you tell me more?"}


def test_the_simulated_user_stops_when_it_says_the_goal_is_done(
    project: pytest.Pytester, llm: LLMServer
) -> None:
    llm.scripted = {"Could you tell me more?": "GOAL_DONE"}
    _write(project.path, "suites/sim.yaml", SIMULATED.replace(', stop_when: "refunded"', ""))
    result = project.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    for row in _results(project)["items"][0]["rows"]:
        assert row["output"]["stop"] == "goal"
        assert row["metrics"]["turn_count"] == 1.0


def test_simulated_user_option_typos_are_one_line(project: pytest.Pytester) -> None:
    _write(project.path, "suites/sim.yaml", SIMULATED.replace("max_user_turns", "max_user_turn"))
    result = project.runpytest("--llm-gate", "suites")
    out = result.stdout.str()
    assert "conversation.user: unknown option 'max_user_turn'" in out
    assert "Traceback" not in out and result.ret != 0
