"""Prompt Flow integration tests: skipped cleanly when the promptflow extra is not installed.

Gate runs happen in a pytest subprocess: promptflow patches the openai module globally and keeps
process-wide registries, which must not leak into the other tests of this worker.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.promptflow import egress_off_environment

# finding promptflow.client imports promptflow, whose devkit starts a telemetry exporter; keep it
# from contacting its host in this test process too, as the gate does in the runs it makes
egress_off_environment()


def _promptflow_installed() -> bool:
    # not find_spec("promptflow"): this very directory (tests/promptflow) is importable as a
    # namespace package named promptflow when tests/ is on sys.path
    try:
        importlib.metadata.version("promptflow")
    except importlib.metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("promptflow.client") is not None


if not _promptflow_installed():
    collect_ignore_glob = ["test_*.py"]


INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def results(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".llmgate/results.json").read_text("utf-8"))
    return data


@pytest.fixture
def pf_project(
    pytester: pytest.Pytester,
    llm_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> pytest.Pytester:
    """A pytester project pointed at the test server, with a throwaway HOME to check for writes."""
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMGATE_JUDGE",
                 "PF_HOME_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in llm_env.items():
        monkeypatch.setenv(name, value)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    write(pytester.path, {"pytest.ini": INI})
    return pytester
