"""Offline, deterministic evaluators for conversation and agent subjects.

They read the transcript a conversation subject records (`tool_calls`, `turns`, `messages`,
`response`) and golden columns (`expected_tool_calls`, `expected_trajectory`, `tools`):

- `tool_call_match`: each golden call matched to at most one actual call (name, then arguments
  `equal` / `subset` / `schema` / `ignore`; `ordered` or not) -> precision, recall, F1, exact;
- `trajectory`: tool names in `strict` / `unordered` / `subset` / `superset` mode;
- `turn_count`: turns, subject steps and tool calls.

Per-turn format checks and the final-state hook live in `turns.py`.

A mismatch is explained in one line naming the turn and the expected versus actual call.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmgate.errors import EvaluationError

__all__ = ["ToolCallMatch", "Trajectory", "TurnCount", "calls_of"]

ARGUMENT_MODES = ("equal", "subset", "schema", "ignore")
TRAJECTORY_MODES = ("strict", "unordered", "subset", "superset")


def _show(call: Mapping[str, Any]) -> str:
    args = call.get("arguments")
    shown = json.dumps(args, ensure_ascii=False, sort_keys=True) if args is not None else ""
    return f"{call.get('name')}({shown})"


def calls_of(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise EvaluationError(f"{where}: not a JSON list of calls") from None
    if not isinstance(value, list):
        raise EvaluationError(f"{where}: expected a list of calls, got {type(value).__name__}")
    calls = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise EvaluationError(f"{where}[{index}]: a call needs a name")
        call = dict(item)
        if isinstance(call.get("arguments"), str):
            try:
                call["arguments"] = json.loads(call["arguments"])
            except ValueError:
                raise EvaluationError(f"{where}[{index}].arguments: not valid JSON") from None
        calls.append(call)
    return calls


def _last_turn(actual: Sequence[Mapping[str, Any]], turns: Any) -> int:
    if isinstance(turns, list) and turns:
        return int(turns[-1].get("turn", len(turns)))
    return int(actual[-1].get("turn", 1)) if actual else 1


class ToolCallMatch:
    """Golden tool calls versus the calls the agent made."""

    outputs = ("tool_call_precision", "tool_call_recall", "tool_call_f1", "tool_call_exact")

    def __init__(self, *, arguments: str = "equal", ordered: bool = True) -> None:
        if arguments not in ARGUMENT_MODES:
            raise ValueError(f"arguments: {arguments!r} is not one of {', '.join(ARGUMENT_MODES)}")
        self.arguments = arguments
        self.ordered = bool(ordered)

    def _schema_ok(self, actual: Mapping[str, Any], schema: Any) -> bool:
        if not schema:
            return True
        from pytest_llmgate.conversation._tools import _validator

        validator = _validator(json.dumps(schema, sort_keys=True))
        return bool(validator.is_valid(actual.get("arguments") or {}))

    def matches(
        self, expected: Mapping[str, Any], actual: Mapping[str, Any], tools: Mapping[str, Any]
    ) -> bool:
        if expected["name"] != actual.get("name"):
            return False
        if "turn" in expected and expected["turn"] != actual.get("turn"):
            return False
        want = expected.get("arguments")
        got = actual.get("arguments") or {}
        if self.arguments == "ignore":
            return True
        if self.arguments == "schema":
            spec = tools.get(expected["name"]) if isinstance(tools, Mapping) else None
            schema = expected.get("schema") or (spec or {}).get("parameters")
            return self._schema_ok(actual, schema)
        if want is None:
            return True
        if self.arguments == "equal":
            return bool(want == got)
        return all(key in got and got[key] == value for key, value in want.items())

    def _pairs(
        self, expected: list[dict[str, Any]], actual: list[dict[str, Any]], tools: Any
    ) -> list[tuple[int, int]]:
        if self.ordered:  # longest common subsequence under the match predicate
            n, m = len(expected), len(actual)
            best = [[0] * (m + 1) for _ in range(n + 1)]
            for i in range(n - 1, -1, -1):
                for j in range(m - 1, -1, -1):
                    if self.matches(expected[i], actual[j], tools):
                        best[i][j] = best[i + 1][j + 1] + 1
                    else:
                        best[i][j] = max(best[i + 1][j], best[i][j + 1])
            pairs, i, j = [], 0, 0
            while i < n and j < m:
                if self.matches(expected[i], actual[j], tools) and (
                    best[i][j] == best[i + 1][j + 1] + 1
                ):
                    pairs.append((i, j))
                    i, j = i + 1, j + 1
                elif best[i + 1][j] >= best[i][j + 1]:
                    i += 1
                else:
                    j += 1
            return pairs
        owner: dict[int, int] = {}  # bipartite matching with augmenting paths

        def assign(i: int, seen: set[int]) -> bool:
            for j, call in enumerate(actual):
                if j in seen or not self.matches(expected[i], call, tools):
                    continue
                seen.add(j)
                if j not in owner or assign(owner[j], seen):
                    owner[j] = i
                    return True
            return False

        for i in range(len(expected)):
            assign(i, set())
        return sorted((i, j) for j, i in owner.items())

    def __call__(
        self,
        *,
        tool_calls: Any,
        expected_tool_calls: Any,
        tools: Any = None,
        turns: Any = None,
    ) -> dict[str, Any]:
        actual = calls_of(tool_calls, "tool_calls")
        expected = calls_of(expected_tool_calls, "expected_tool_calls")
        pairs = self._pairs(expected, actual, tools or {})
        matched = len(pairs)
        precision = matched / len(actual) if actual else (1.0 if not expected else 0.0)
        recall = matched / len(expected) if expected else (1.0 if not actual else 0.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out: dict[str, Any] = {
            "tool_call_precision": precision,
            "tool_call_recall": recall,
            "tool_call_f1": f1,
            "tool_call_exact": float(matched == len(expected) == len(actual)),
        }
        mismatch = self._explain(expected, actual, pairs, turns)
        if mismatch:
            out["tool_call_reason"] = mismatch
        return out

    def _explain(
        self,
        expected: list[dict[str, Any]],
        actual: list[dict[str, Any]],
        pairs: list[tuple[int, int]],
        turns: Any,
    ) -> str:
        done_e = {i for i, _ in pairs}
        done_a = {j for _, j in pairs}
        missing = [i for i in range(len(expected)) if i not in done_e]
        extra = [j for j in range(len(actual)) if j not in done_a]
        if not missing and not extra:
            return ""
        if missing:
            i = missing[0]
            # the actual call in the place of the missing one: the first unmatched call after the
            # last match before it
            before = [j for e, j in pairs if e < i]
            start = before[-1] + 1 if before else 0
            got = next((actual[j] for j in extra if j >= start), None)
            if got is None and start < len(actual):
                got = actual[start]  # what the agent did instead, at that point
            turn = (got or {}).get("turn") or expected[i].get("turn") or _last_turn(actual, turns)
            shown = _show(got) if got else "no call"
            return f"turn {turn}: expected {_show(expected[i])}, got {shown}"
        call = actual[extra[0]]
        return f"turn {call.get('turn', '?')}: unexpected call {_show(call)}"


def _names(value: Any, where: str) -> list[str]:
    return [c["name"] for c in calls_of(value, where)]


class Trajectory:
    """The sequence of tool names, compared in one of four modes (metric `trajectory_<mode>`)."""

    def __init__(self, *, mode: str = "strict") -> None:
        if mode not in TRAJECTORY_MODES:
            raise ValueError(f"mode: {mode!r} is not one of {', '.join(TRAJECTORY_MODES)}")
        self.mode = mode
        self.metric = f"trajectory_{mode}"
        self.outputs = (self.metric,)

    def __call__(
        self,
        *,
        tool_calls: Any,
        expected_trajectory: Any = None,
        expected_tool_calls: Any = None,
    ) -> dict[str, Any]:
        if expected_trajectory is None and expected_tool_calls is None:
            raise EvaluationError(
                "trajectory needs an expected_trajectory or expected_tool_calls column"
            )
        actual_calls = calls_of(tool_calls, "tool_calls")
        actual = [c["name"] for c in actual_calls]
        expected = (
            _names(expected_trajectory, "expected_trajectory")
            if expected_trajectory is not None
            else _names(expected_tool_calls, "expected_tool_calls")
        )
        have, want = Counter(actual), Counter(expected)
        if self.mode == "strict":
            ok = actual == expected
        elif self.mode == "unordered":
            ok = have == want
        elif self.mode == "subset":  # only expected tools (each at most as often as expected)
            ok = not (have - want)
        else:  # superset: every expected call made, extras allowed
            ok = not (want - have)
        out: dict[str, Any] = {self.metric: float(ok)}
        if not ok:
            out[f"{self.metric}_reason"] = self._explain(actual_calls, expected, have, want)
        return out

    def _explain(
        self,
        actual: list[dict[str, Any]],
        expected: list[str],
        have: Counter[str],
        want: Counter[str],
    ) -> str:
        names = [c["name"] for c in actual]
        if self.mode == "strict":
            for index, (got, exp) in enumerate(zip(names, expected, strict=False)):
                if got != exp:
                    return (
                        f"turn {actual[index].get('turn', '?')}: step {index + 1}: "
                        f"expected {exp}, got {got} "
                        f"(expected {' > '.join(expected)}; got {' > '.join(names)})"
                    )
            if len(names) > len(expected):
                call = actual[len(expected)]
                return f"turn {call.get('turn', '?')}: unexpected call {call['name']}"
            after = " > ".join(names) or "no call"
            return f"missing {', '.join(expected[len(names) :])} after {after}"
        extra, missing = have - want, want - have
        parts = []
        if missing and self.mode in ("unordered", "superset"):
            parts.append(f"missing {', '.join(sorted(missing.elements()))}")
        if extra and self.mode in ("unordered", "subset"):
            first = next(c for c in actual if c["name"] in extra)
            parts.append(
                f"turn {first.get('turn', '?')}: unexpected {', '.join(sorted(extra.elements()))}"
            )
        return "; ".join(parts)


class TurnCount:
    """How long the conversation took: user turns answered, subject steps, tool calls."""

    outputs = ("turn_count", "step_count", "tool_call_count")

    def __call__(self, *, turns: Any, tool_calls: Any = None, steps: Any = None) -> dict[str, Any]:
        if not isinstance(turns, list):
            raise EvaluationError("turn_count needs a conversation subject's transcript (turns)")
        return {
            "turn_count": float(len(turns)),
            "step_count": float(steps if isinstance(steps, int) else len(turns)),
            "tool_call_count": float(len(tool_calls or [])),
        }
