"""Transcripts in reports, and the test server's scripted tool calls."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from pytest_llmgate.reporting.transcript import (
    is_transcript,
    transcript_text,
    went_wrong,
    with_transcript,
)
from pytest_llmgate.testing.answers import scripted_tool_calls

OUTPUT: dict[str, Any] = {
    "response": "Refunded <b>40</b>.",
    "history": 2,
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Which order?"},
        {"role": "user", "content": "A1"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "function": {"name": "lookup", "arguments": '{"id": "A1"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"total": 40}'},
        {"role": "assistant", "content": "Refunded <b>40</b>."},
    ],
    "turns": [
        {"turn": 1, "user": "A1", "response": "Refunded <b>40</b>.", "tool_calls": ["lookup"]}
    ],
    "tool_calls": [],
}
DETAILS = {
    "coherence_turns": {"values": [4.0], "turns": [1]},
    "coherence_turn_reasons": {"values": ["clear and on topic"]},
    "tool_call_reason": "turn 1: expected check({}), got refund({})",
}


def _row(output: Any, details: dict[str, Any]) -> Any:
    return SimpleNamespace(output=output, details=details)


def test_transcript_text_shows_turns_tool_calls_results_and_per_turn_scores() -> None:
    assert transcript_text(OUTPUT, DETAILS).splitlines() == [
        "user: hi",
        "  assistant: Which order?",
        "--- (history above) ---",
        "[turn 1] user: A1",
        '  assistant -> lookup({"id": "A1"})',
        '  tool <- {"total": 40}',
        "  assistant: Refunded <b>40</b>.",
        "    scores: coherence=4 (clear and on topic)",
    ]


def test_went_wrong_prefers_the_failing_metrics_reason() -> None:
    row = _row(OUTPUT, DETAILS)
    assert went_wrong(row, "tool_call_f1") == "turn 1: expected check({}), got refund({})"
    assert went_wrong(_row(OUTPUT, {}), None) == "final answer: Refunded <b>40</b>."
    assert went_wrong(_row("plain text", DETAILS), "x") is None


def test_only_conversation_rows_get_a_transcript() -> None:
    assert is_transcript(OUTPUT) and not is_transcript({"response": "x"})
    assert "transcript" in with_transcript(_row(OUTPUT, {}))
    assert with_transcript(_row({"response": "x"}, {"a": 1})) == {"a": 1}


def test_markdown_escapes_the_transcript_line() -> None:
    from pytest_llmgate.reporting.markdown import md_escape

    line = went_wrong(_row(OUTPUT, {}), None)
    assert line is not None
    assert "<b>" not in md_escape(line, 200)


PLAN = "LLMGATE_TOOL_CALLS:" + json.dumps(
    [[{"name": "a", "arguments": {"x": 1}}], [{"name": "b", "arguments": {}}, {"name": "c"}]]
)


def test_scripted_tool_calls_walk_the_plan_per_user_turn() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": PLAN},
        {"role": "user", "content": "go"},
    ]
    first = scripted_tool_calls(messages, PLAN)
    assert first == [
        {"id": "call_0_0", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}}
    ]
    messages += [{"role": "assistant", "tool_calls": first}, {"role": "tool", "content": "ok"}]
    second = scripted_tool_calls(messages, PLAN)
    assert [c["function"]["name"] for c in second or []] == ["b", "c"]
    messages += [{"role": "assistant", "tool_calls": second}, {"role": "tool", "content": "ok"}]
    assert scripted_tool_calls(messages, PLAN) is None  # script done: answer in text
    messages += [{"role": "assistant", "content": "done"}, {"role": "user", "content": "again"}]
    assert scripted_tool_calls(messages, PLAN) == first  # a new user turn starts over
    assert scripted_tool_calls(messages, "no marker") is None
    assert scripted_tool_calls(messages, "LLMGATE_TOOL_CALLS:{broken") is None
