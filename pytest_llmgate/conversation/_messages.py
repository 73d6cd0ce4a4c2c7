"""Conversation rows and subject replies in the OpenAI messages format.

A row's conversation is a list: strings are user turns, dicts are OpenAI messages. A user message
that an assistant message follows is history (a recorded exchange); every other user message is a
turn the subject must answer. So `["hi", "refund A1001"]` is two scripted turns, and
`[{system}, {user}, {assistant}, {user}]` is a starting history with one turn left to answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmgate.errors import GateError

__all__ = [
    "ConversationError",
    "Message",
    "parse_arguments",
    "reply_messages",
    "split_conversation",
]

Message = dict[str, Any]
ROLES = ("system", "developer", "user", "assistant", "tool")


class ConversationError(GateError):
    """A conversation row, a tool call or a subject's reply cannot be used (one line)."""


def _kind(value: Any) -> str:
    return type(value).__name__


def _message(item: Any, where: str) -> Message:
    if isinstance(item, str):
        return {"role": "user", "content": item}
    if not isinstance(item, Mapping):
        raise ConversationError(
            f"{where}: expected a user turn (text) or an OpenAI message (object), got {_kind(item)}"
        )
    role = item.get("role")
    if role not in ROLES:
        raise ConversationError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
    if role != "assistant" and not isinstance(item.get("content"), (str, list)):
        raise ConversationError(f"{where}.content: a {role} message needs text content")
    return dict(item)


def split_conversation(value: Any, column: str) -> tuple[list[Message], list[list[Message]]]:
    """(history, pending) where each pending entry is the messages to add before the subject
    answers (a user message, with any recorded system messages in front of it)."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:  # CSV cells carry JSON
            value = json.loads(value)
        except ValueError as exc:
            raise ConversationError(f"{column}: not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise ConversationError(
            f"{column}: expected a list of user turns or OpenAI messages, got {_kind(value)}"
        )
    if not value:
        raise ConversationError(f"{column}: the conversation is empty")
    messages = [_message(item, f"{column}[{index}]") for index, item in enumerate(value)]
    # the prefix up to the last recorded assistant reply is history, the rest is to be answered
    last_reply = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=-1)
    history, rest = messages[: last_reply + 1], messages[last_reply + 1 :]
    pending: list[list[Message]] = []
    buffer: list[Message] = []
    for index, message in enumerate(rest, start=last_reply + 1):
        if message["role"] == "tool":
            raise ConversationError(
                f"{column}[{index}]: a tool message after the last assistant message answers "
                "no tool call"
            )
        buffer.append(message)
        if message["role"] == "user":
            pending.append(buffer)
            buffer = []
    if buffer:
        raise ConversationError(
            f"{column}: ends with a {buffer[-1]['role']} message, not a user turn"
        )
    if not pending:
        raise ConversationError(f"{column}: no user turn left to answer after the history")
    return history, pending


def parse_arguments(raw: Any, where: str) -> dict[str, Any]:
    """Tool call arguments: a JSON object (OpenAI sends a string), else a ConversationError."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise ConversationError(f"{where}: arguments must be a JSON object, got {_kind(raw)}")
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ConversationError(
            f"{where}: arguments are not valid JSON ({exc}): {raw[:80]!r}"
        ) from None
    if not isinstance(parsed, dict):
        raise ConversationError(f"{where}: arguments must be a JSON object, got {_kind(parsed)}")
    return parsed


def _as_plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # openai / pydantic message objects
    if callable(dump):
        return dump(exclude_none=True)
    return value


def _reply_message(value: Any, where: str) -> Message:
    value = _as_plain(value)
    if isinstance(value, str):
        return {"role": "assistant", "content": value}
    if not isinstance(value, Mapping):
        raise ConversationError(
            f"{where}: expected text, an assistant message or a list of messages, "
            f"got {_kind(value)}"
        )
    message = dict(value)
    if "role" not in message:
        text = message.pop("response", None)
        if text is not None:
            message["content"] = text
        message["role"] = "assistant"
    if message["role"] not in ("assistant", "tool"):
        raise ConversationError(
            f"{where}.role: a reply is an assistant or tool message, got {message['role']!r}"
        )
    if message["role"] == "assistant" and not (message.get("content") or message.get("tool_calls")):
        raise ConversationError(f"{where}: an assistant message with no content and no tool_calls")
    return message


def reply_messages(value: Any, where: str) -> list[Message]:
    """A subject's reply for one step as messages (text, a message, or a list of messages)."""
    value = _as_plain(value)
    if value is None:
        raise ConversationError(f"{where}: the subject returned None")
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if not value:
            raise ConversationError(f"{where}: the subject returned no messages")
        return [_reply_message(item, f"{where}[{i}]") for i, item in enumerate(value)]
    return [_reply_message(value, where)]
