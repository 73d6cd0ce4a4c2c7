"""pytest entry point. Hooks only; imports nothing heavy so a run without --llm-gate stays free.

With the gate off, this module adds options, ini keys, the `llm_gate` marker and fixture, and
nothing else: no suite collection, no session object, no imports of the runner or of
azure-ai-evaluation/openai/pandas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.options import add_options, gate_enabled


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llm_gate: an LLM gate item (suite files) or a test using the llm_gate fixture"
    )
    if not gate_enabled(config):
        return
    from pytest_llmgate.session import SESSION_KEY, GateSession

    session = GateSession(config)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "llm-gate-session")
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_llmgate.session import XdistHooks

        config.pluginmanager.register(XdistHooks(session), "llm-gate-xdist")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Any:
    if file_path.suffix not in (".yaml", ".yml") or not gate_enabled(parent.config):
        return None
    from pytest_llmgate.suite import is_suite_file

    if not is_suite_file(file_path):
        return None
    from pytest_llmgate.collect import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


@pytest.fixture
def llm_gate(request: pytest.FixtureRequest) -> Any:
    """Gate a subject from an ordinary test: `llm_gate.evaluate(...).assert_passed()`."""
    from pytest_llmgate.api import GateFixture

    return GateFixture(request)
