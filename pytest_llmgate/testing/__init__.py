"""Test support shipped with pytest-llmgate: the deterministic OpenAI-compatible server.

`LLMServer` runs in a background thread (tests, fixtures); `ServerProcess` runs it in a child
process (benchmarks); `python -m pytest_llmgate.testing.server --port N` runs it for demos.
The names are imported on first use, so `python -m ...server` does not import the module twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_llmgate.testing.server import SWITCHES, LLMServer, ServerProcess

__all__ = ["SWITCHES", "LLMServer", "ServerProcess"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pytest_llmgate.testing import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
