"""Stubbed tools from a golden row, so an agent runs offline and deterministically.

    tools:
      lookup_order: {returns: {order_id: A1001, total: 40}}
      check_refund_eligibility:
        cases: [{when: {order_id: A1001}, returns: {eligible: true}}]   # first matching case
        returns: {eligible: false}                                       # otherwise
      issue_refund: {returns: {refund_id: R-1}, parameters: {...JSON Schema of the arguments...}}

`when` matches when every key it names equals the call's argument. Arguments that fail a declared
`parameters` schema get `{"error": ...}` back, as a real tool would answer; the agent's mistake
is then visible to the evaluators. Every call is recorded with its arguments, result and latency.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_llmgate.conversation._messages import ConversationError

__all__ = ["ToolCall", "ToolStubs"]

_STUB_KEYS = frozenset({"returns", "cases", "parameters", "description", "error"})


@functools.lru_cache(maxsize=256)
def _validator(schema: str) -> Any:
    """One compiled validator per distinct schema (rows repeat the same tool definitions)."""
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema))


@dataclass
class ToolCall:
    """One recorded tool call."""

    turn: int
    name: str
    arguments: dict[str, Any]
    result: Any = None
    latency_ms: float | None = None
    id: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"turn": self.turn, "name": self.name, "arguments": self.arguments}
        if self.id is not None:
            out["id"] = self.id
        out["result"] = self.result
        out["latency_ms"] = self.latency_ms
        if self.error is not None:
            out["error"] = self.error
        return out


def _check_spec(name: str, spec: Any, column: str) -> Mapping[str, Any]:
    where = f"{column}.{name}"
    if not isinstance(spec, Mapping):
        raise ConversationError(f"{where}: expected {{returns: ...}}, got {type(spec).__name__}")
    unknown = sorted(set(spec) - _STUB_KEYS)
    if unknown:
        raise ConversationError(
            f"{where}: unknown key {unknown[0]!r} (use returns, cases, parameters, error)"
        )
    for index, case in enumerate(spec.get("cases") or []):
        if not isinstance(case, Mapping) or not isinstance(case.get("when"), Mapping):
            raise ConversationError(
                f"{where}.cases[{index}]: expected {{when: {{...}}, returns: ...}}"
            )
    return spec


@dataclass
class ToolStubs:
    """The row's tools; `call` answers and records."""

    specs: Mapping[str, Mapping[str, Any]]
    calls: list[ToolCall] = field(default_factory=list)
    turn: int = 0  # the user turn in progress (set by the conversation loop)

    @classmethod
    def from_row(cls, value: Any, column: str) -> ToolStubs:
        if value is None:
            return cls({})
        if not isinstance(value, Mapping):
            raise ConversationError(
                f"{column}: expected a mapping of tool name to {{returns: ...}}, "
                f"got {type(value).__name__}"
            )
        return cls({str(k): _check_spec(str(k), v, column) for k, v in value.items()})

    def _answer(self, name: str, arguments: Mapping[str, Any]) -> Any:
        spec = self.specs[name]
        schema = spec.get("parameters")
        if schema:
            import jsonschema

            error = jsonschema.exceptions.best_match(
                _validator(json.dumps(schema, sort_keys=True)).iter_errors(dict(arguments))
            )
            if error is not None:
                return {"error": f"invalid arguments: {error.message}"}
        if "error" in spec:
            return {"error": spec["error"]}
        for case in spec.get("cases") or []:
            if all(arguments.get(k) == v for k, v in case["when"].items()):
                return case.get("returns")
        return spec.get("returns")

    def call(
        self, name: str, arguments: Mapping[str, Any], *, turn: int, call_id: str | None = None
    ) -> ToolCall:
        """Answer one call (an unknown tool is a ConversationError naming the known ones)."""
        if name not in self.specs:
            known = ", ".join(sorted(self.specs)) or "none"
            raise ConversationError(f"turn {turn}: unknown tool {name!r} (row tools: {known})")
        started = time.perf_counter()
        result = self._answer(name, arguments)
        record = ToolCall(
            turn=turn,
            name=name,
            arguments=dict(arguments),
            result=result,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            id=call_id,
        )
        self.calls.append(record)
        return record

    def callables(self) -> dict[str, Callable[..., Any]]:
        """Plain functions for agents that run their own tool loop (`tools` parameter)."""

        def make(name: str) -> Callable[..., Any]:
            def tool(**arguments: Any) -> Any:
                return self.call(name, arguments, turn=self.turn).result

            tool.__name__ = name
            return tool

        return {name: make(name) for name in self.specs}

    def openai_tools(self) -> list[dict[str, Any]]:
        """The stubs as an OpenAI `tools` list (for model-driven agents)."""
        return [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": str(spec.get("description", "")),
                    "parameters": dict(spec.get("parameters") or {"type": "object"}),
                },
            }
            for name, spec in self.specs.items()
        ]
