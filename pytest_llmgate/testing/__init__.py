"""Test support shipped with pytest-llmgate: the deterministic OpenAI-compatible server.

`LLMServer` runs in a background thread (tests, fixtures); `ServerProcess` runs it in a child
process (benchmarks); `python -m pytest_llmgate.testing.server --port N` runs it for demos.
"""

from __future__ import annotations

from pytest_llmgate.testing.server import SWITCHES, LLMServer, ServerProcess

__all__ = ["SWITCHES", "LLMServer", "ServerProcess"]
