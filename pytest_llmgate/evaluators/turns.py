"""Turn-level and end-state evaluators for conversation subjects.

- `conversation_contains` / `_regex` / `_json_schema`: a format check on the final answer or on
  every assistant turn (per-turn values recorded as `<metric>_turns`, which `per: turn`
  thresholds gate);
- `final_state`: a user hook given the transcript and the stubbed tools' calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import EvaluationError
from pytest_llmgate.evaluators.agent import calls_of

__all__ = [
    "ConversationCheck",
    "ConversationContains",
    "ConversationJsonSchema",
    "ConversationRegex",
    "FinalState",
    "per_turn",
]


def per_turn(metric: str, values: Sequence[float], turns: Sequence[int]) -> dict[str, Any]:
    """The detail entry that records a metric's value per turn (read by `per: turn` rules)."""
    return {f"{metric}_turns": {"values": [float(v) for v in values], "turns": list(turns)}}


_CHECKS = {
    "contains": "pytest_llmgate.evaluators.format:Contains",
    "regex": "pytest_llmgate.evaluators.format:Regex",
    "json_schema": "pytest_llmgate.evaluators.format:JsonSchema",
}


class ConversationCheck:
    """A format check (`contains`, `regex`, `json_schema`) on the final answer or every turn.

    `on: every_turn` scores each assistant reply; the conversation's value is the worst turn
    (`reduce: min`, every turn must pass) or the mean, and each turn's value is recorded.
    """

    check: str = "contains"

    def __init__(
        self,
        *,
        on: str = "every_turn",
        reduce: str = "min",
        base_dir: str | None = None,
        **args: Any,
    ) -> None:
        from pytest_llmgate.util.importing import import_target

        if on not in ("final", "every_turn"):
            raise ValueError(f"on: {on!r} is not final or every_turn")
        if reduce not in ("min", "mean"):
            raise ValueError(f"reduce: {reduce!r} is not min or mean")
        self.on, self.reduce = on, reduce
        cls = import_target(_CHECKS[self.check])
        if self.check == "json_schema":
            args["base_dir"] = base_dir
        self.inner: Callable[..., Any] = cls(**args)
        # the inner check's metric names, so a policy on them is checked before the run
        self.outputs: tuple[str, ...] = tuple(getattr(self.inner, "outputs", None) or ())

    def __call__(self, *, turns: Any, response: Any = None) -> dict[str, Any]:
        if not isinstance(turns, list) or not turns:
            raise EvaluationError(f"conversation_{self.check} needs a conversation transcript")
        if self.on == "final":
            return dict(self.inner(response=turns[-1]["response"]))
        values: dict[str, list[float]] = {}
        reasons: dict[str, str] = {}
        for turn in turns:
            got = self.inner(response=turn["response"])
            for key, value in got.items():
                if isinstance(value, (int, float)):
                    values.setdefault(key, []).append(float(value))
                elif key.endswith("_reason") and key not in reasons:
                    reasons[key] = f"turn {turn['turn']}: {value}"
        out: dict[str, Any] = {}
        numbers = [int(t["turn"]) for t in turns]
        for key, series in values.items():
            out[key] = min(series) if self.reduce == "min" else sum(series) / len(series)
            out.update(per_turn(key, series, numbers))
            if out[key] < 1.0 and f"{key}_reason" not in reasons:
                failing = next(n for n, v in zip(numbers, series, strict=True) if v < 1.0)
                out[f"{key}_reason"] = f"turn {failing}: check failed"
        out.update(reasons)
        return out


class ConversationContains(ConversationCheck):
    check = "contains"


class ConversationRegex(ConversationCheck):
    check = "regex"


class ConversationJsonSchema(ConversationCheck):
    check = "json_schema"


_OFFERED = ("transcript", "tool_calls", "calls", "tools", "response", "messages", "turns")


class FinalState:
    """Runs a user hook (`check: module:attr`) on the end state of a conversation.

    The hook takes any of: `transcript` (the recorded output), `tool_calls`, `calls` (tool name ->
    list of argument dicts, from the stubbed tools), `tools` (the row's stubs), `response`,
    `messages`, `turns`, and any row column it names; it returns a bool, a number or a dict of
    metrics (`final_state` by default).
    """

    def __new__(cls, *, check: str, base_dir: str | None = None, name: str = "final_state") -> Any:
        import inspect

        from pytest_llmgate.evaluators.base import signature_of
        from pytest_llmgate.util.importing import import_target

        hook = import_target(check, (), Path(base_dir) if base_dir else None)
        if not callable(hook):
            raise ValueError(f"check: {check} is not callable")
        hook_sig = signature_of(hook)
        own = [p for p in hook_sig.params if p not in _OFFERED]
        wanted = ("tool_calls", "messages", "response", "tools", "turns", *own)
        params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
            inspect.Parameter(
                p,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty
                if p == "tool_calls" or (p in hook_sig.required and p not in _OFFERED)
                else None,
            )
            for p in wanted
        ]

        def __call__(self: FinalState, **kwargs: Any) -> Any:
            return self.evaluate(kwargs)

        __call__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        bound = type(cls.__name__, (cls,), {"__call__": __call__})
        instance: FinalState = object.__new__(bound)
        instance.hook, instance.hook_params = hook, set(hook_sig.params)
        instance.metric = name
        instance.outputs = (name,)
        return instance

    hook: Callable[..., Any]
    hook_params: set[str]
    metric: str
    outputs: tuple[str, ...]

    def evaluate(self, values: dict[str, Any]) -> Any:
        calls: dict[str, list[dict[str, Any]]] = {}
        for call in calls_of(values.get("tool_calls"), "tool_calls"):
            calls.setdefault(call["name"], []).append(dict(call.get("arguments") or {}))
        offered: dict[str, Any] = {
            **values,
            "transcript": {
                "messages": values.get("messages"),
                "turns": values.get("turns"),
                "response": values.get("response"),
                "tool_calls": values.get("tool_calls"),
            },
            "calls": calls,
        }
        result = self.hook(**{k: v for k, v in offered.items() if k in self.hook_params})
        if isinstance(result, bool | int | float):
            return {self.metric: float(result)}
        return result
