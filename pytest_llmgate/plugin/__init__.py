"""pytest entry point. Hooks only; imports nothing heavy so a run without --llm-gate stays free.

With the gate off, this module adds options, ini keys, the `llm_gate` marker and fixture, and
nothing else: no suite collection, no session object, no imports of the runner or of
azure-ai-evaluation/openai/pandas.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.plugin.options import add_options, gate_enabled

_SUITE_KEY = re.compile(rb"^(?:\xef\xbb\xbf)?suite\s*:", re.MULTILINE)
_HINTS = pytest.StashKey[dict[str, list[Path]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llm_gate: an LLM gate item (suite files) or a test using the llm_gate fixture"
    )
    if not gate_enabled(config):
        return
    from pytest_llmgate.plugin.keys import SESSION_KEY
    from pytest_llmgate.plugin.session import GateSession

    session = GateSession(config)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "llm-gate-session")
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_llmgate.plugin.session import XdistHooks

        config.pluginmanager.register(XdistHooks(session), "llm-gate-xdist")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Any:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if not gate_enabled(parent.config):
        return _hint_for(file_path, parent)
    from pytest_llmgate.suite.loader import is_suite_file

    if not is_suite_file(file_path):
        return None
    from pytest_llmgate.plugin.collect import SuiteFile

    return SuiteFile.from_parent(parent, path=file_path)


class SuiteFileWithoutGate(pytest.File):
    """A suite file named on the command line while the gate is off. It collects nothing, so
    pytest reports "collected 0 items" (exit 5, nothing ran) instead of "not found" for a file
    that exists, and `pytest_report_collectionfinish` prints the one-line hint."""

    def collect(self) -> list[pytest.Item]:
        return []


def _named_on_command_line(config: pytest.Config, path: Path) -> str | None:
    """The command-line argument (as typed) that names `path` or a folder above it."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return None  # testpaths or the rootdir: the user did not point at suites
    base = Path(config.invocation_params.dir)
    for arg in config.args:
        target = (base / arg.split("::", 1)[0]).resolve()
        if target == path.resolve() or target in path.resolve().parents:
            return arg
    return None


def _hint_for(file_path: Path, parent: pytest.Collector) -> Any:
    """Cheap (a 64 KiB read and a regex, no imports): only for YAML files named, or under a
    folder named, on the command line."""
    arg = _named_on_command_line(parent.config, file_path)
    if arg is None:
        return None
    try:
        with file_path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return None
    if not _SUITE_KEY.search(head):
        return None
    parent.config.stash.setdefault(_HINTS, {}).setdefault(arg, []).append(file_path)
    return SuiteFileWithoutGate.from_parent(parent, path=file_path)


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    hints = config.stash.get(_HINTS, {})
    if not hints:
        return []
    args = " ".join(hints)
    files = sum(len(v) for v in hints.values())
    single = files == 1 and all(p.name == Path(a).name for a, ps in hints.items() for p in ps)
    what = "is an LLM gate suite; it runs" if single else (
        f"holds {files} LLM gate suite(s); they run")
    return [f"llm-gate: {args} {what} only with the gate: pytest {args} --llm-gate"]


@pytest.fixture
def llm_gate(request: pytest.FixtureRequest) -> Any:
    """Gate a subject from an ordinary test: `llm_gate.evaluate(...).assert_passed()`."""
    from pytest_llmgate.plugin.fixture import GateFixture

    return GateFixture(request)
