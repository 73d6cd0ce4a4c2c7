"""End to end: conversation subjects with stubbed tools, gated on tool calls and trajectories,
with one-line errors for bad conversation rows (pytester, as the other integration tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_llmgate.reporting.pack import read_embedded
from tests.conftest import Project

AGENT = '''
import json


def _call(name, turn, **arguments):
    return {"role": "assistant", "content": None, "tool_calls": [{
        "id": f"c{turn}_{name}", "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)}}]}


class Agent:
    """Looks an order up, (optionally) checks it, refunds it."""

    def __init__(self, check=True):
        self.plan = ["lookup_order", "check", "refund"] if check else ["lookup_order", "refund"]

    def __call__(self, messages):
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        text, turn = messages[users[-1]]["content"], len(users)
        done = sum(1 for m in messages[users[-1]:] if m["role"] == "tool")
        if "LOOP" in text:
            return _call("lookup_order", done, order_id="A1")
        if "BADARGS" in text:
            message = _call("lookup_order", turn, order_id="A1")
            message["tool_calls"][0]["function"]["arguments"] = "{order_id: A1"
            return message
        if "UNKNOWN" in text:
            return _call("cancel_order", turn, order_id="A1")
        if "A1" not in text:
            return "Which order?"
        if done < len(self.plan):
            return _call(self.plan[done], turn, order_id="A1")
        return "Refunded."
'''

TOOLS = {
    "lookup_order": {"returns": {"order_id": "A1", "total": 5}},
    "check": {"returns": {"eligible": True}},
    "refund": {"returns": {"ok": True}},
}


def expected(turn: int) -> list[dict[str, Any]]:
    return [
        {"name": "lookup_order", "arguments": {"order_id": "A1"}, "turn": turn},
        {"name": "check", "arguments": {"order_id": "A1"}, "turn": turn},
        {"name": "refund", "arguments": {"order_id": "A1"}, "turn": turn},
    ]


ROWS = [
    {
        "id": "one",
        "conversation": ["refund A1"],
        "tools": TOOLS,
        "expected_tool_calls": expected(1),
    },
    {
        "id": "two",
        "conversation": ["refund please", "A1"],
        "tools": TOOLS,
        "expected_tool_calls": expected(2),
    },
    {
        "id": "history",
        "conversation": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "Hi, which order?"},
            {"role": "user", "content": "A1"},
        ],
        "tools": TOOLS,
        "expected_tool_calls": expected(1),
    },
]

SUITE = """
suite: agents
datasets:
  convos: ../golden_datasets/convos.jsonl
subjects:
  agent:
    type: conversation
    target: agent_app:Agent
    conversation: {max_turns: 6}
    variants:
      careful: {}
      hasty: {check: false}
evaluators:
  - tool_call_match
  - {name: traj, use: trajectory, args: {mode: strict}}
  - turn_count
  - {name: ends, use: conversation_regex, args: {pattern: "[.?]$"}}
thresholds:
  overrides:
    - match: {variant: careful}
      metrics:
        tool_call_f1: {aggregate: min, min: 1}
        trajectory_strict: {min: 1}
        regex_match: {per: turn, aggregate: mean, min: 1}
"""

STRICT = """
metrics:
  tool_call_f1: {aggregate: min, min: 1}
"""


@pytest.fixture
def agents(project: Project) -> Project:
    project.write("agent_app.py", AGENT)
    project.rows(ROWS, "golden_datasets/convos.jsonl")
    project.write("suites/agent.yaml", SUITE)
    project.write("suites/support.yaml", "not_a_suite: true\n")
    project.write("thresholds.yaml", "metrics: {}\n")
    project.write("strict.yaml", STRICT)
    return project


def test_good_variant_passes_and_the_planted_mistake_is_only_shown(
    agents: Project, xdist_args: list[str]
) -> None:
    result = agents.pytester.runpytest("--llm-gate", "suites", *xdist_args)
    result.assert_outcomes(passed=2)
    data = agents.results()
    by_variant = {i["variant"]: i for i in data["items"]}
    careful, hasty = by_variant["careful"], by_variant["hasty"]
    assert careful["aggregates"]["tool_call_f1"]["min"] == 1.0
    assert hasty["aggregates"]["tool_call_f1"]["min"] == pytest.approx(0.8)
    row = next(r for r in careful["rows"] if r["id"] == "two")
    output = row["output"]
    assert [t["response"] for t in output["turns"]] == ["Which order?", "Refunded."]
    assert [(c["turn"], c["name"], c["arguments"]) for c in output["tool_calls"]] == [
        (2, "lookup_order", {"order_id": "A1"}),
        (2, "check", {"order_id": "A1"}),
        (2, "refund", {"order_id": "A1"}),
    ]
    assert all(isinstance(c["latency_ms"], float) for c in output["tool_calls"])
    assert row["details"]["regex_match_turns"] == {"values": [1.0, 1.0], "turns": [1, 2]}
    checks = {c["metric"]: c for c in careful["checks"]}
    assert checks["regex_match"]["aggregate"] == "mean per turn"
    history = next(r for r in careful["rows"] if r["id"] == "history")
    assert history["output"]["history"] == 2
    assert history["metrics"]["turn_count"] == 1.0


def test_strict_policy_fails_the_planted_mistake_naming_turn_and_calls(agents: Project) -> None:
    md = agents.path / "gate.md"
    html = agents.path / "gate.html"
    junit = agents.path / "gate.xml"
    result = agents.pytester.runpytest(
        "--llm-gate",
        "suites",
        "--llm-gate-thresholds",
        "strict.yaml",
        f"--llm-gate-md={md}",
        f"--llm-gate-html={html}",
        f"--llm-gate-junit={junit}",
    )
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "Traceback" not in out
    result.stdout.fnmatch_lines(
        [
            "*suites/agent.yaml::agent[[]hasty-convos[]] FAILED*",
            "*tool_call_f1*min*>= 1*FAIL*",
            "*two*tool_call_f1*",  # the worst row, then the turn where it went wrong
            '*went wrong*turn 2: expected check({"order_id": "A1"}), got refund({"order_id": "A1"})*',
        ]
    )
    text = md.read_text("utf-8")
    assert "turn 2: expected check" in text
    assert 'turn 2: expected check({"order_id": "A1"}), got refund' in junit.read_text("utf-8")
    rows = read_embedded(html.read_text("utf-8"))["rows"]
    transcript = next(
        r[8]["transcript"] for r in rows if r[1] == "two" and r[8].get("tool_call_reason")
    )
    assert transcript.splitlines()[:4] == [
        "[turn 1] user: refund please",
        "  assistant: Which order?",
        "    scores: regex_match=1",
        "[turn 2] user: A1",
    ]
    assert '  assistant -> lookup_order({"order_id": "A1"})' in transcript
    assert '  tool <- {"order_id": "A1", "total": 5}' in transcript


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (
            {"conversation": "refund A1"},
            "subject: ConversationError: conversation: expected a list of user turns or "
            "OpenAI messages, got str",
        ),
        ({"conversation": ["UNKNOWN A1"]}, "turn 1: unknown tool 'cancel_order' (row tools: "),
        (
            {"conversation": ["BADARGS A1"]},
            "turn 1, step 1: tool_calls[0] lookup_order: arguments are not valid JSON",
        ),
        ({"conversation": ["LOOP A1"]}, "turn 1: the subject went past max_turns=6 steps"),
        (
            {"conversation": ["A1"], "tools": ["lookup_order"]},
            "tools: expected a mapping of tool name to {returns: ...}, got list",
        ),
    ],
    ids=["not-a-list", "unknown-tool", "malformed-arguments", "loop", "bad-tools"],
)
def test_bad_conversation_rows_fail_with_one_line(
    agents: Project, row: dict[str, Any], error: str
) -> None:
    bad = {"id": "bad", "tools": TOOLS, "expected_tool_calls": [], **row}
    agents.rows([ROWS[0], bad], "golden_datasets/convos.jsonl")
    result = agents.pytester.runpytest("--llm-gate", "suites", "-k", "careful")
    result.assert_outcomes(failed=1, deselected=1)
    out = result.stdout.str()
    assert "Traceback" not in out
    result.stdout.fnmatch_lines(
        ["*1 of 2 rows errored*", "*bad*" + error.replace("[", "[[]")[:70] + "*"]
    )
    data = agents.results()
    errored = next(r for r in data["items"][0]["rows"] if r["id"] == "bad")
    assert len(errored["errors"]) == 1 and error in errored["errors"][0]


def test_a_conversation_subject_without_a_history_parameter_is_a_collection_error(
    agents: Project,
) -> None:
    agents.write("agent_app.py", "def Agent(question, check=True):\n    return 'x'\n")
    result = agents.pytester.runpytest("--llm-gate", "suites")
    out = result.stdout.str()
    assert "Traceback" not in out
    assert "takes no history parameter (name one of: messages, history, chat_history" in out
    assert result.ret != 0


def test_conversation_option_typos_are_one_line(agents: Project) -> None:
    agents.write("suites/agent.yaml", SUITE.replace("max_turns: 6", "max_turn: 6"))
    result = agents.pytester.runpytest("--llm-gate", "suites")
    assert "conversation: unknown option 'max_turn'" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()
    assert result.ret != 0


def test_the_results_json_round_trips_the_transcript(agents: Project) -> None:
    from pytest_llmgate.results.io import load_results

    agents.pytester.runpytest("--llm-gate", "suites", "-k", "careful")
    run = load_results(agents.path / ".llmgate/results.json")
    row = run.items[0].rows[0]
    assert json.loads(json.dumps(row.output))["tool_calls"][0]["name"] == "lookup_order"
