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
from pytest_llmgate.testing import LLMServer

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


def items_by_nodeid(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["nodeid"]: item for item in data["items"]}


def run_gate(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The gate in a pytest subprocess without xdist (see the module docstring for why)."""
    return project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", *args)


def resolved_hosts(root: Path) -> list[str]:
    """The non-loopback host names the project's EGRESS_SPY conftest saw resolved."""
    log = root / "egress.log"
    return log.read_text("utf-8").splitlines() if log.exists() else []


# A conftest in the project under test: records every host name resolved that is not loopback
# (telemetry, a real OpenAI endpoint), so a run can assert that nothing left the machine.
EGRESS_SPY = '''
import socket

_resolve = socket.getaddrinfo


def _spy(host, *args, **kwargs):
    if str(host) not in ("127.0.0.1", "localhost", "::1"):
        with open("egress.log", "a", encoding="utf-8") as out:
            out.write(f"{host}\\n")
    return _resolve(host, *args, **kwargs)


socket.getaddrinfo = _spy
'''

# the gate's own model and judge: unset, a flow's calls can only use the flow's connections
GATE_MODEL_VARIABLES = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL",
                        "LLMGATE_JUDGE_BASE_URL", "LLMGATE_JUDGE_API_KEY", "LLMGATE_JUDGE_MODEL")


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


@pytest.fixture
def pf_no_gate_models(
    pf_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """pf_project without the gate's own model and judge: every model call needs a connection."""
    for name in GATE_MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return pf_project


@pytest.fixture
def pf_connected(
    pf_no_gate_models: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, llm: LLMServer
) -> pytest.Pytester:
    """pf_no_gate_models with connections on the test server, by the `<NAME>_*` variables:
    `my_backend` (custom, OpenAI route), `open_ai_connection` and `legacy` (Azure route)."""
    monkeypatch.setenv("MY_BACKEND_CONNECTION_TYPE", "custom")
    monkeypatch.setenv("MY_BACKEND_API_BASE", llm.base_url)
    monkeypatch.setenv("MY_BACKEND_API_KEY", "backend-key-0001")
    monkeypatch.setenv("OPEN_AI_CONNECTION_API_BASE", llm.azure_endpoint)
    monkeypatch.setenv("OPEN_AI_CONNECTION_API_KEY", "azure-key-0002")
    monkeypatch.setenv("LEGACY_API_BASE", llm.azure_endpoint)
    monkeypatch.setenv("LEGACY_API_KEY", "legacy-key-0004")
    return pf_no_gate_models
