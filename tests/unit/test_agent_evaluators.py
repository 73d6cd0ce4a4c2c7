"""Offline agent evaluators: tool-call match, trajectory modes, turn count, per-turn checks,
final-state hooks, and `per: turn` thresholds in the gate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.config.thresholds import Policy, Rule
from pytest_llmgate.errors import EvaluationError
from pytest_llmgate.evaluators.agent import ToolCallMatch, Trajectory, TurnCount
from pytest_llmgate.evaluators.base import normalize_output
from pytest_llmgate.evaluators.registry import resolve_evaluator
from pytest_llmgate.evaluators.turns import ConversationContains, ConversationRegex
from pytest_llmgate.results.model import RowResult
from pytest_llmgate.verdict.gate import judge


def call(name: str, turn: int = 1, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, "turn": turn}


LOOKUP = call("lookup_order", order_id="A1")
CHECK = call("check_refund_eligibility", order_id="A1")
REFUND = call("issue_refund", order_id="A1", amount=40)


def test_exact_calls_score_one() -> None:
    out = ToolCallMatch()(
        tool_calls=[LOOKUP, CHECK, REFUND], expected_tool_calls=[LOOKUP, CHECK, REFUND]
    )
    assert out == {
        "tool_call_precision": 1.0,
        "tool_call_recall": 1.0,
        "tool_call_f1": 1.0,
        "tool_call_exact": 1.0,
    }


def test_a_skipped_step_names_the_turn_and_the_expected_versus_actual_call() -> None:
    out = ToolCallMatch()(tool_calls=[LOOKUP, REFUND], expected_tool_calls=[LOOKUP, CHECK, REFUND])
    assert out["tool_call_precision"] == 1.0
    assert out["tool_call_recall"] == pytest.approx(2 / 3)
    assert out["tool_call_f1"] == pytest.approx(0.8)
    assert out["tool_call_exact"] == 0.0
    assert out["tool_call_reason"] == (
        'turn 1: expected check_refund_eligibility({"order_id": "A1"}), '
        'got issue_refund({"amount": 40, "order_id": "A1"})'
    )


def test_an_extra_call_lowers_precision_and_is_named() -> None:
    out = ToolCallMatch()(
        tool_calls=[LOOKUP, call("issue_refund", 2, order_id="A1", amount=1)],
        expected_tool_calls=[LOOKUP],
    )
    assert (out["tool_call_precision"], out["tool_call_recall"]) == (0.5, 1.0)
    assert out["tool_call_reason"] == (
        'turn 2: unexpected call issue_refund({"amount": 1, "order_id": "A1"})'
    )


def test_no_calls_expected_and_none_made_is_a_match() -> None:
    out = ToolCallMatch()(tool_calls=[], expected_tool_calls=[])
    assert out["tool_call_f1"] == 1.0 and "tool_call_reason" not in out
    no_turn = {"name": "lookup_order", "arguments": {"order_id": "A1"}}
    missed = ToolCallMatch()(tool_calls=[], expected_tool_calls=[no_turn], turns=[{"turn": 3}])
    assert missed["tool_call_recall"] == 0.0 and missed["tool_call_f1"] == 0.0
    assert (
        missed["tool_call_reason"]
        == 'turn 3: expected lookup_order({"order_id": "A1"}), got no call'
    )


@pytest.mark.parametrize(
    ("mode", "actual_args", "matched"),
    [
        ("equal", {"order_id": "A1", "amount": 40}, True),
        ("equal", {"order_id": "A1", "amount": 40, "note": "x"}, False),
        ("subset", {"order_id": "A1", "amount": 40, "note": "x"}, True),
        ("subset", {"order_id": "A1", "amount": 41}, False),
        ("ignore", {"whatever": 1}, True),
        ("schema", {"order_id": "A1", "amount": 40}, True),
        ("schema", {"order_id": "A1", "amount": -5}, False),
        ("schema", {"order_id": "A1"}, False),
    ],
)
def test_argument_modes(mode: str, actual_args: dict[str, Any], matched: bool) -> None:
    tools = {
        "issue_refund": {
            "parameters": {
                "type": "object",
                "required": ["order_id", "amount"],
                "properties": {"amount": {"type": "number", "exclusiveMinimum": 0}},
            }
        }
    }
    out = ToolCallMatch(arguments=mode)(
        tool_calls=[{"name": "issue_refund", "arguments": actual_args, "turn": 1}],
        expected_tool_calls=[REFUND],
        tools=tools,
    )
    assert out["tool_call_recall"] == (1.0 if matched else 0.0)


def test_ordered_versus_unordered() -> None:
    swapped = [CHECK, LOOKUP]
    ordered = ToolCallMatch(ordered=True)(tool_calls=swapped, expected_tool_calls=[LOOKUP, CHECK])
    unordered = ToolCallMatch(ordered=False)(
        tool_calls=swapped, expected_tool_calls=[LOOKUP, CHECK]
    )
    assert ordered["tool_call_recall"] == 0.5
    assert unordered["tool_call_recall"] == 1.0 and unordered["tool_call_exact"] == 1.0


def test_expected_turn_must_match_when_given() -> None:
    out = ToolCallMatch()(
        tool_calls=[call("lookup_order", 1, order_id="A1")],
        expected_tool_calls=[call("lookup_order", 2, order_id="A1")],
    )
    assert out["tool_call_recall"] == 0.0


def test_json_string_arguments_and_names_only() -> None:
    out = ToolCallMatch()(
        tool_calls=[{"name": "lookup_order", "arguments": '{"order_id": "A1"}'}],
        expected_tool_calls=["lookup_order"],
    )
    assert out["tool_call_exact"] == 1.0
    with pytest.raises(EvaluationError, match=r"expected_tool_calls\[0\]: a call needs a name"):
        ToolCallMatch()(tool_calls=[], expected_tool_calls=[{"arguments": {}}])
    with pytest.raises(ValueError, match="arguments: 'fuzzy' is not one of"):
        ToolCallMatch(arguments="fuzzy")


names = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=6)


@given(names, names)
def test_match_scores_are_bounded_and_unordered_never_matches_less(
    actual: list[str], expected: list[str]
) -> None:
    ordered = ToolCallMatch(arguments="ignore", ordered=True)(
        tool_calls=actual, expected_tool_calls=expected
    )
    unordered = ToolCallMatch(arguments="ignore", ordered=False)(
        tool_calls=actual, expected_tool_calls=expected
    )
    for out in (ordered, unordered):
        for key in ("tool_call_precision", "tool_call_recall", "tool_call_f1"):
            assert 0.0 <= out[key] <= 1.0
    assert unordered["tool_call_recall"] >= ordered["tool_call_recall"]
    # unordered matching counts the multiset intersection exactly
    common = sum(min(actual.count(n), expected.count(n)) for n in set(actual))
    if expected:
        assert unordered["tool_call_recall"] == pytest.approx(common / len(expected))
    assert (ordered["tool_call_exact"] == 1.0) == (actual == expected)


@given(names)
def test_unordered_match_ignores_order(actual: list[str]) -> None:
    forward = ToolCallMatch(arguments="ignore", ordered=False)(
        tool_calls=actual, expected_tool_calls=sorted(actual)
    )
    assert forward["tool_call_exact"] == 1.0


@pytest.mark.parametrize(
    ("actual", "strict", "unordered", "subset", "superset"),
    [
        (["lookup", "check", "refund"], 1, 1, 1, 1),
        (["check", "lookup", "refund"], 0, 1, 1, 1),
        (["lookup", "refund"], 0, 0, 1, 0),
        (["lookup", "check", "refund", "email"], 0, 0, 0, 1),
        (["lookup", "lookup", "check", "refund"], 0, 0, 0, 1),
        ([], 0, 0, 1, 0),
    ],
)
def test_trajectory_modes(
    actual: list[str], strict: int, unordered: int, subset: int, superset: int
) -> None:
    expected = ["lookup", "check", "refund"]
    calls = [{"name": n, "turn": 1} for n in actual]
    got = {
        mode: Trajectory(mode=mode)(tool_calls=calls, expected_trajectory=expected)[
            f"trajectory_{mode}"
        ]
        for mode in ("strict", "unordered", "subset", "superset")
    }
    assert got == {
        "strict": strict,
        "unordered": unordered,
        "subset": subset,
        "superset": superset,
    }


def test_trajectory_reasons_name_the_turn() -> None:
    calls = [{"name": "lookup", "turn": 1}, {"name": "refund", "turn": 2}]
    out = Trajectory(mode="strict")(
        tool_calls=calls, expected_tool_calls=["lookup", "check", "refund"]
    )
    assert out["trajectory_strict_reason"] == (
        "turn 2: step 2: expected check, got refund (expected lookup > check > refund; "
        "got lookup > refund)"
    )
    out = Trajectory(mode="subset")(tool_calls=calls, expected_trajectory=["lookup"])
    assert out["trajectory_subset_reason"] == "turn 2: unexpected refund"
    out = Trajectory(mode="superset")(tool_calls=calls, expected_trajectory=["lookup", "check"])
    assert out["trajectory_superset_reason"] == "missing check"
    with pytest.raises(EvaluationError, match="needs an expected_trajectory"):
        Trajectory()(tool_calls=calls)


TURNS = [
    {"turn": 1, "user": "hi", "response": "Which order?", "tool_calls": []},
    {"turn": 2, "user": "A1", "response": "Refunded", "tool_calls": ["lookup"]},
]


def test_turn_count() -> None:
    out = TurnCount()(turns=TURNS, tool_calls=[LOOKUP], steps=3)
    assert out == {"turn_count": 2.0, "step_count": 3.0, "tool_call_count": 1.0}


def test_every_turn_checks_record_per_turn_values() -> None:
    out = ConversationRegex(pattern=r"[.?!]$")(turns=TURNS)
    assert out["regex_match"] == 0.0
    assert out["regex_match_turns"] == {"values": [1.0, 0.0], "turns": [1, 2]}
    assert out["regex_match_reason"] == "turn 2: check failed"
    mean = ConversationContains(value="order", reduce="mean")(turns=TURNS)
    assert mean["contains"] == 0.5
    final = ConversationContains(value="Refunded", on="final")(turns=TURNS)
    assert final == {"contains": 1.0}
    metrics, details = normalize_output("x", out)
    assert metrics == {"regex_match": 0.0}
    assert details["regex_match_turns"]["values"] == [1.0, 0.0]


def test_final_state_hook_sees_calls_and_row_columns(tmp_path: Any) -> None:
    (tmp_path / "hooks.py").write_text(
        "def refunded(calls, expected_refund):\n"
        "    got = [c['amount'] for c in calls.get('issue_refund', [])]\n"
        "    return got == ([] if expected_refund is None else [expected_refund])\n",
        encoding="utf-8",
    )
    ev = resolve_evaluator(
        name="state", use="final_state", args={"check": "hooks.py:refunded"}, base_dir=tmp_path
    )
    assert "expected_refund" in ev.signature.params
    assert ev.fn(tool_calls=[LOOKUP, REFUND], expected_refund=40) == {"final_state": 1.0}
    assert ev.fn(tool_calls=[LOOKUP, REFUND], expected_refund=None) == {"final_state": 0.0}
    assert ev.fn(tool_calls=[LOOKUP], expected_refund=None) == {"final_state": 1.0}


def test_agent_evaluators_are_registered_builtins() -> None:
    for name in (
        "tool_call_match",
        "trajectory",
        "turn_count",
        "conversation_contains",
        "conversation_regex",
        "conversation_json_schema",
    ):
        args = {"pattern": "x"} if name == "conversation_regex" else {}
        if name == "conversation_json_schema":
            args = {"schema": {"type": "object"}}
        if name == "conversation_contains":
            args = {"value": "x"}
        assert resolve_evaluator(name=name, use=name, args=args).inline


# --- per: turn thresholds ----------------------------------------------------------------------


def _row(row_id: str, value: float, turns: list[float]) -> RowResult:
    return RowResult(
        id=row_id,
        line=1,
        data={},
        inputs={},
        output={},
        metrics={"regex_match": value},
        details={"regex_match_turns": {"values": turns, "turns": list(range(1, len(turns) + 1))}},
        errors=(),
        latency_ms=1.0,
    )


def test_per_turn_rules_count_turns_not_conversations() -> None:
    rows = [_row("a", 0.0, [1.0, 1.0, 1.0, 0.0]), _row("b", 1.0, [1.0])]
    per_conversation = Rule(metric="regex_match", aggregate="mean", min=0.75)
    per_turn = Rule(metric="regex_match", aggregate="mean", min=0.75, per="turn")
    conv = judge(rows, Policy(rules={"regex_match": (per_conversation,)}))
    turn = judge(rows, Policy(rules={"regex_match": (per_turn,)}))
    assert conv.checks[0].value == 0.5 and conv.verdict == "failed"
    assert turn.checks[0].value == pytest.approx(0.8) and turn.verdict == "passed"
    assert turn.checks[0].aggregate == "mean per turn"
    rate = Rule(metric="regex_match", aggregate="pass_rate", row_min=1.0, min=0.9, per="turn")
    failed = judge(rows, Policy(rules={"regex_match": (rate,)}))
    assert failed.checks[0].value == pytest.approx(0.8) and failed.verdict == "failed"
    assert "per turn" in failed.checks[0].message or failed.checks[0].aggregate.endswith("per turn")
