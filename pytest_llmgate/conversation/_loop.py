"""The turn-by-turn loop: user turn, subject steps (tool calls answered by stubs), repeat.

A *turn* is one user message and everything the subject does until it answers in text. Each
subject call is a *step*; `max_turns` caps the steps of a whole conversation, so an agent that
keeps calling tools (or a scripted run that never ends) fails with one line instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_llmgate.conversation._messages import (
    ConversationError,
    Message,
    parse_arguments,
    reply_messages,
)
from pytest_llmgate.conversation._tools import ToolCall, ToolStubs

__all__ = ["Script", "Transcript", "UserSource", "run_conversation"]

Step = Callable[[list[Message]], Awaitable[Any]]


class UserSource(Protocol):
    """Where user turns come from: a script, or a simulated user."""

    async def next_turn(self, history: list[Message], turn: int) -> list[Message] | None:
        """The messages of the next user turn, or None to end the conversation."""
        ...

    @property
    def stop_reason(self) -> str: ...


@dataclass
class Script:
    """Scripted user turns from the row."""

    pending: list[list[Message]]
    _index: int = 0

    async def next_turn(self, history: list[Message], turn: int) -> list[Message] | None:
        if self._index >= len(self.pending):
            return None
        self._index += 1
        return self.pending[self._index - 1]

    @property
    def stop_reason(self) -> str:
        return "script_end"


@dataclass
class Transcript:
    """What the gate records for one conversation (becomes the row's output)."""

    messages: list[Message]
    turns: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    steps: int = 0
    stop: str = ""
    history: int = 0  # how many leading messages came from the row as history


    def as_output(self) -> dict[str, Any]:
        final = self.turns[-1]["response"] if self.turns else ""
        return {
            "response": final,
            "messages": self.messages,
            "turns": self.turns,
            "tool_calls": [c.as_dict() for c in self.tool_calls],
            "steps": self.steps,
            "stop": self.stop,
            "history": self.history,
        }


def _text(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _call_parts(call: Any, where: str) -> tuple[str, str | None, Any]:
    if not isinstance(call, dict):
        raise ConversationError(f"{where}: a tool call must be an object")
    inner = call.get("function")
    function: dict[str, Any] = inner if isinstance(inner, dict) else call
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ConversationError(f"{where}: a tool call needs function.name")
    return name, call.get("id"), function.get("arguments")


async def run_conversation(
    step: Step,
    history: list[Message],
    users: UserSource,
    stubs: ToolStubs,
    *,
    max_turns: int,
    records_own_calls: bool = False,
) -> Transcript:
    """Run the conversation; raise ConversationError naming the turn on bad input or a loop.

    `records_own_calls`: the subject runs tools itself through the stub callables (which record
    them), so tool calls inside its returned messages are transcript only, not recorded twice.
    """
    transcript = Transcript(messages=list(history), history=len(history))
    messages = transcript.messages
    turn = 0
    while True:
        user = await users.next_turn(messages, turn + 1)
        if user is None:
            transcript.stop = users.stop_reason
            break
        turn += 1
        stubs.turn = turn
        messages.extend(user)
        first_call = len(stubs.calls)
        reply = ""
        while True:
            if transcript.steps >= max_turns:
                pending = next(m for m in reversed(messages) if m["role"] != "tool")
                doing = ""
                if pending.get("tool_calls"):
                    names = [_call_parts(c, "")[0] for c in pending["tool_calls"]]
                    doing = f" (still calling tools: {', '.join(names)})"
                raise ConversationError(
                    f"turn {turn}: the subject went past max_turns={max_turns} steps{doing}; "
                    "it loops, or the conversation needs a larger max_turns"
                )
            transcript.steps += 1
            where = f"turn {turn}, step {transcript.steps}"
            new = reply_messages(await step(list(messages)), where)
            answered = {m.get("tool_call_id") for m in new if m["role"] == "tool"}
            outside: dict[str, ToolCall] = {}
            messages.extend(new)
            for index, message in enumerate(new):
                for c_index, call in enumerate(message.get("tool_calls") or []):
                    call_where = f"{where}: tool_calls[{c_index}]"
                    name, call_id, raw_args = _call_parts(call, call_where)
                    arguments = parse_arguments(raw_args, f"{call_where} {name}")
                    if call_id is not None and call_id in answered:
                        if not records_own_calls:  # ran elsewhere (a replayed trace)
                            outside[call_id] = ToolCall(turn, name, arguments, id=call_id)
                        continue
                    if index != len(new) - 1:
                        raise ConversationError(
                            f"{call_where}: tool call {name} has no tool message answering it"
                        )
                    record = stubs.call(name, arguments, turn=turn, call_id=call_id)
                    messages.append(
                        {
                            "role": "tool",
                            "tool_call_id": call_id or f"call_{len(stubs.calls)}",
                            "content": json.dumps(record.result, ensure_ascii=False, default=str),
                        }
                    )
            for message in new:
                if message["role"] == "tool" and message.get("tool_call_id") in outside:
                    record = outside[message["tool_call_id"]]
                    record.result = message.get("content")
                    stubs.calls.append(record)
            last = messages[-1]
            if last["role"] == "assistant" and not last.get("tool_calls"):
                reply = _text(last)
                break
        calls = stubs.calls[first_call:]
        transcript.turns.append(
            {
                "turn": turn,
                "user": _text(user[-1]),
                "response": reply,
                "tool_calls": [c.name for c in calls],
            }
        )
    transcript.tool_calls = list(stubs.calls)
    return transcript
