"""Conversations and agents as subjects: rows with user turns or a starting history, a subject
called turn by turn, tool calls answered by stubs from the row, and the transcript recorded.

Public names: `run_conversation`, `split_conversation`, `ToolStubs`, `ConversationError`, and the
azure-ai-evaluation agent-message adapter `from_azure_messages` / `to_azure_messages`.
"""

from __future__ import annotations

from pytest_llmgate.conversation._loop import Script, Transcript, UserSource, run_conversation
from pytest_llmgate.conversation._messages import (
    ConversationError,
    Message,
    parse_arguments,
    reply_messages,
    split_conversation,
)
from pytest_llmgate.conversation._tools import ToolCall, ToolStubs
from pytest_llmgate.conversation.azure import from_azure_messages, to_azure_messages

__all__ = [
    "ConversationError",
    "Message",
    "Script",
    "ToolCall",
    "ToolStubs",
    "Transcript",
    "UserSource",
    "from_azure_messages",
    "parse_arguments",
    "reply_messages",
    "run_conversation",
    "split_conversation",
    "to_azure_messages",
]
