"""Conversation transcripts in reports: where a conversation went wrong, and the transcript as
text (user, assistant, tool calls with arguments and results, per-turn scores).

The renderers call these for rows whose output is a conversation subject's transcript; other
rows are untouched. Everything returned is plain text: each renderer escapes it as it escapes
any model output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["is_transcript", "transcript_text", "went_wrong", "with_transcript"]

MAX_PART = 400


def is_transcript(output: Any) -> bool:
    return (
        isinstance(output, Mapping)
        and isinstance(output.get("turns"), list)
        and isinstance(output.get("messages"), list)
    )


def went_wrong(row: Any, metric: str | None = None) -> str | None:
    """One line naming the turn where a conversation row went wrong (from the evaluators'
    reasons, preferring the failing metric's), else its final answer; None for other rows."""
    if not is_transcript(row.output):
        return None
    reasons = {
        k: v for k, v in row.details.items() if k.endswith("_reason") and isinstance(v, str) and v
    }
    if metric:
        stem = metric.rsplit("_", 1)[0]
        for key, text in reasons.items():
            if key.startswith((metric, stem)):
                return text
    for text in reasons.values():
        if text.startswith("turn "):
            return text
    return f"final answer: {row.output.get('response', '')}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_PART else flat[: MAX_PART - 1] + "\u2026"


def _turn_scores(details: Mapping[str, Any]) -> dict[int, list[str]]:
    """turn -> `metric=value` (and judge reasons) from the per-turn details evaluators record."""
    scores: dict[int, list[str]] = {}
    for key, value in details.items():
        if not key.endswith("_turns") or not isinstance(value, Mapping):
            continue
        metric = key[: -len("_turns")]
        turns = list(value.get("turns") or [])
        reasons = details.get(f"{metric}_turn_reasons")
        said = reasons.get("values") if isinstance(reasons, Mapping) else None
        for index, (turn, score) in enumerate(zip(turns, value.get("values") or [], strict=False)):
            shown = f"{metric}={score:g}"
            if isinstance(said, list) and index < len(said) and said[index]:
                shown += f" ({_short(said[index])})"
            scores.setdefault(int(turn), []).append(shown)
    return scores


def transcript_text(output: Mapping[str, Any], details: Mapping[str, Any] | None = None) -> str:
    """The conversation, one message per line; per-turn scores after each turn's answer."""
    messages = output.get("messages") or []
    history = int(output.get("history") or 0)
    scores = _turn_scores(details or {})
    lines: list[str] = []
    turn = 0
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role", "?"))
        if index == history and history:
            lines.append("--- (history above) ---")
        if role == "user" and index >= history:
            turn += 1
            lines.append(f"[turn {turn}] user: {_short(message.get('content', ''))}")
            continue
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                arguments = _short(function.get("arguments", ""))
                lines.append(f"  assistant -> {function.get('name')}({arguments})")
            if message.get("content"):
                lines.append(f"  assistant: {_short(message['content'])}")
                if turn in scores and index >= history:
                    lines.append(f"    scores: {', '.join(scores[turn])}")
            continue
        if role == "tool":
            lines.append(f"  tool <- {_short(message.get('content', ''))}")
            continue
        lines.append(f"{role}: {_short(message.get('content', ''))}")
    return "\n".join(lines)


def with_transcript(row: Any) -> dict[str, Any]:
    """The row's details, plus `transcript` (text) for conversation rows (HTML detail view)."""
    details = dict(row.details)
    if is_transcript(row.output):
        details["transcript"] = transcript_text(row.output, row.details)
    return details
