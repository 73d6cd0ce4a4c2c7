"""A simulated user: a model plays the customer from a persona and a goal in the row.

    conversation:
      user: {persona: persona, goal: goal, model: small, max_user_turns: 4,
             first_message: opening, stop_when: "refunded|can't be refunded"}

`persona`, `goal` and `first_message` name row columns (defaults `persona`, `goal`, none: the model
writes the opening too). Each user turn is one model call through the gate's engine (cache,
retries, rate limits, cost in the row's usage). The conversation ends when the simulated user
answers `GOAL_DONE` (the goal is reached or cannot be), when the agent's last reply matches
`stop_when` (a regex, the deterministic goal condition), or after `max_user_turns`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_llmgate.conversation._messages import ConversationError, Message

__all__ = ["DONE", "SimulatedUser", "check_user_options"]

DONE = "GOAL_DONE"
VERSION = "1"
_OPTIONS = frozenset(
    {"persona", "goal", "model", "max_user_turns", "first_message", "stop_when", "parameters"}
)
SYSTEM = (
    "You are role-playing a customer talking to a support assistant.\n"
    "Persona: {persona}\n"
    "Your goal: {goal}\n"
    "Write only your next message to the assistant, in the customer's voice, one or two "
    "sentences. Never act as the assistant. When your goal has been reached, or the assistant "
    f"has clearly said it cannot be, reply with exactly {DONE}."
)


def check_user_options(options: Any) -> None:
    """Fail at collection on a malformed `user:` block (one line)."""
    if not isinstance(options, Mapping):
        raise ValueError("conversation.user: expected a mapping (persona, goal, model, ...)")
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ValueError(
            f"conversation.user: unknown option {unknown[0]!r} (use {', '.join(sorted(_OPTIONS))})"
        )
    turns = options.get("max_user_turns", 5)
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise ValueError(
            f"conversation.user.max_user_turns: expected a positive integer, got {turns!r}"
        )
    if options.get("stop_when") is not None:
        try:
            re.compile(str(options["stop_when"]))
        except re.error as exc:
            raise ValueError(f"conversation.user.stop_when: not a valid regex: {exc}") from None


def _column(data: Mapping[str, Any], name: str | None, what: str) -> str | None:
    if name is None:
        return None
    if name not in data:
        raise ConversationError(f"row has no {name!r} column (the simulated user's {what})")
    return str(data[name])


def _flip(messages: list[Message]) -> list[dict[str, Any]]:
    """The conversation from the user's side: the assistant's replies are what it hears."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "user" and content:
            out.append({"role": "assistant", "content": str(content)})
        elif role == "assistant" and content:
            out.append({"role": "user", "content": str(content)})
    return out


@dataclass
class SimulatedUser:
    """User turns written by a model until the goal condition holds."""

    persona: str
    goal: str
    model: str | None
    max_user_turns: int
    suite_models: Mapping[str, Any]
    first_message: str | None = None
    stop_when: re.Pattern[str] | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    history: list[Message] = field(default_factory=list)
    reason: str = "max_user_turns"

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], data: Mapping[str, Any], suite_models: Mapping[str, Any]
    ) -> SimulatedUser:
        stop = options.get("stop_when")
        return cls(
            persona=_column(data, str(options.get("persona", "persona")), "persona") or "",
            goal=_column(data, str(options.get("goal", "goal")), "goal") or "",
            model=options.get("model"),
            max_user_turns=int(options.get("max_user_turns", 5)),
            suite_models=suite_models,
            first_message=_column(data, options.get("first_message"), "first message"),
            stop_when=re.compile(str(stop), re.I) if stop is not None else None,
            parameters=dict(options.get("parameters") or {}),
        )

    @property
    def stop_reason(self) -> str:
        return self.reason

    async def next_turn(self, history: list[Message], turn: int) -> list[Message] | None:
        if turn > self.max_user_turns:
            self.reason = "max_user_turns"
            return None
        replies = [m for m in history if m.get("role") == "assistant" and m.get("content")]
        if (
            replies
            and self.stop_when is not None
            and self.stop_when.search(str(replies[-1]["content"]))
        ):
            self.reason = "goal"
            return None
        if turn == 1 and self.first_message:
            return [{"role": "user", "content": self.first_message}]
        from pytest_llmgate.engine.llm import chat
        from pytest_llmgate.engine.runtime import model_for

        model = model_for(self.model, "subject", suite_models=self.suite_models)
        system = SYSTEM.format(persona=self.persona, goal=self.goal)
        messages = [{"role": "system", "content": system}, *_flip(history)]
        if len(messages) == 1:
            messages.append({"role": "user", "content": "(the assistant is waiting for you)"})
        result = await chat(
            model,
            messages,
            params={"temperature": 0, **self.parameters},
            cache_extra={"simulated_user": VERSION},
        )
        text = result.text.strip()
        if not text:
            raise ConversationError(f"turn {turn}: the simulated user's model returned no text")
        if DONE in text:
            self.reason = "goal"
            return None
        return [{"role": "user", "content": text}]
