"""Adapter between OpenAI chat messages and azure-ai-evaluation's agent message format.

azure's agent evaluators (IntentResolution, TaskAdherence, ToolCallAccuracy) and its
`AIAgentConverter` use messages whose `content` is a list of parts: `{"type": "text", "text"}`,
`{"type": "tool_call", "tool_call_id", "name", "arguments": {...}}` in assistant messages, and
`{"type": "tool_result", "tool_result": ...}` in tool messages. A subject may return either
format: `from_azure_messages` turns a converted agent thread (Azure AI Agents, Semantic Kernel)
into OpenAI messages; `to_azure_messages` gives azure's evaluators the gate's transcript.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_llmgate.conversation._messages import ConversationError, Message, parse_arguments

__all__ = ["azure_tool_definitions", "from_azure_messages", "to_azure_messages"]


def _parts(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, list):
        return [p for p in content if isinstance(p, Mapping)]
    return [] if content is None else [{"type": "text", "text": str(content)}]


def _result_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def from_azure_messages(messages: Iterable[Mapping[str, Any]]) -> list[Message]:
    """azure agent messages -> OpenAI messages (tool calls as `tool_calls`, results as tool
    messages with text content)."""
    out: list[Message] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        parts = _parts(message.get("content"))
        text = " ".join(str(p.get("text", "")) for p in parts if p.get("type") in ("text", None))
        if role == "assistant":
            calls = [
                {
                    "id": p.get("tool_call_id"),
                    "type": "function",
                    "function": {
                        "name": p.get("name"),
                        "arguments": json.dumps(
                            parse_arguments(p.get("arguments"), f"messages[{index}]"),
                            ensure_ascii=False,
                        ),
                    },
                }
                for p in parts
                if p.get("type") == "tool_call"
            ]
            converted: Message = {"role": "assistant", "content": text or None}
            if calls:
                if (
                    out
                    and out[-1]["role"] == "assistant"
                    and out[-1].get("tool_calls")
                    and not text
                ):
                    out[-1]["tool_calls"].extend(calls)  # azure splits parallel calls
                    continue
                converted["tool_calls"] = calls
            out.append(converted)
        elif role == "tool":
            results = [p.get("tool_result") for p in parts if p.get("type") == "tool_result"]
            value = results[0] if len(results) == 1 else results or message.get("content")
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": message.get("tool_call_id"),
                    "content": _result_text(value),
                }
            )
        elif role in ("system", "developer", "user"):
            out.append({"role": role, "content": text})
        else:
            raise ConversationError(
                f"messages[{index}].role: {role!r} is not an agent message role"
            )
    return out


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def to_azure_messages(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI messages -> azure agent messages (one assistant message per tool call, as azure's
    converter writes them)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role == "assistant":
            if content:
                out.append({"role": "assistant", "content": [{"type": "text", "text": content}]})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                out.append(
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "tool_call",
                                "tool_call_id": call.get("id"),
                                "name": function.get("name"),
                                "arguments": parse_arguments(
                                    function.get("arguments"), "tool_call"
                                ),
                            }
                        ],
                    }
                )
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": message.get("tool_call_id"),
                    "content": [{"type": "tool_result", "tool_result": _loads(content)}],
                }
            )
        else:
            out.append({"role": role, "content": [{"type": "text", "text": content or ""}]})
    return out


def azure_tool_definitions(openai_tools: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI `tools` entries -> azure's `tool_definitions` ({name, description, parameters})."""
    out = []
    for tool in openai_tools:
        function = tool.get("function") or tool
        out.append(
            {
                "name": function.get("name"),
                "description": function.get("description", ""),
                "parameters": function.get("parameters") or {"type": "object"},
            }
        )
    return out
