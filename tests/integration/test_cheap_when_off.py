"""Without --llm-gate the plugin adds options and a marker, and imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "azure.ai.evaluation",
    "openai",
    "pandas",
    "numpy",
    "jsonschema",
    "nltk",
    "yaml",
    "pytest_llmgate.pipeline.runner",
    "pytest_llmgate.plugin.session",
    "pytest_llmgate.suite.loader",
    "pytest_llmgate.evaluators.lexical",
)

PROBE = """
import json, sys
import pytest
code = pytest.main([{target!r}, "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"])
loaded = sorted(m for m in {heavy!r} if m in sys.modules)
print("LOADED=" + json.dumps(loaded))
print("PLUGIN=" + json.dumps("pytest_llmgate.plugin" in sys.modules))
sys.exit(int(code))
"""


def _probe(tmp_path: Path, *extra: str) -> tuple[list[str], bool, subprocess.CompletedProcess[str]]:
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "suite.yaml").write_text("suite: s\n")
    code = PROBE.format(target=str(tmp_path), heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code, *extra],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    lines = proc.stdout.splitlines()
    loaded_line = next(line for line in lines if line.startswith("LOADED="))
    plugin_line = next(line for line in lines if line.startswith("PLUGIN="))
    return json.loads(loaded_line[7:]), json.loads(plugin_line[7:]), proc


def test_plain_run_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded, plugin_loaded, proc = _probe(tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert plugin_loaded, "the plugin must be registered through its entry point"
    assert loaded == []


def test_options_are_registered_when_off(pytester: object) -> None:
    result = pytester.runpytest("--help")  # type: ignore[attr-defined]
    result.stdout.fnmatch_lines(["*--llm-gate *", "*--llm-gate-json=PATH*", "*llm_gate (bool)*"])
