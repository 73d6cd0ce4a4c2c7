"""Where the gate session lives on pytest's config.

A module of its own, so the hooks, the collector and the session reach the session without
importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_llmgate.plugin.session import GateSession  # noqa: F401 (the key's type)

__all__ = ["SESSION_KEY"]

SESSION_KEY = pytest.StashKey["GateSession"]()
