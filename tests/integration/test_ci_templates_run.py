"""Run every command the Azure Pipelines and Jenkins templates run, in their order, on the
project `llmgate init --ci azure --ci jenkins` writes, and check what they publish.

A small runner walks the templates: Azure steps in order with their conditions (`always()`,
`succeeded()`, `eq`, `ne`, `and` over `variables[...]`), `##vso[task.setvariable]` carried to the
next steps, secrets through the steps' `env:` only; Jenkins stages in order with their `when`
(`changeRequest()`, `branch`, `expression { env.X == 'v' }`) and `sh` bodies read as Groovy reads
them (a backslash before a newline joins the lines), then `post { always }`. The scripts run
unchanged in bash / `sh -xe`; the CI services are stood in for: artifacts are a dict (publish /
download), the Azure DevOps pull request threads API is a small HTTP server on loopback that
records what the comment step sent, Jenkins' `pullRequest` is a list. Not run: the Install
steps (they pip-install into the environment; this one already has the package), replaced by an
empty `.venv/bin/activate` for Jenkins.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_llmgate.cli.main import main
from pytest_llmgate.reporting.markdown import MARKER

REPORTS = {"results.json", "junit.xml", "report.html", "comment.md", "rows.csv"}


# --- a stand-in for the Azure DevOps pull request threads API --------------------------------


class FakeAzureDevOps(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.threads: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/org/"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeAzureDevOps

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(size)) if size else None
        self.server.calls.append((self.command, self.path, self.headers["Authorization"]))
        path = self.path.split("?")[0]
        assert path.startswith("/org/proj-id/_apis/git/repositories/repo-id/pullRequests/7/"), path
        assert "api-version=7.1" in self.path
        if self.command == "GET":
            return self._reply({"value": self.server.threads, "count": len(self.server.threads)})
        if self.command == "POST":
            thread = {"id": len(self.server.threads) + 1,
                      "comments": [{"id": 1, **body["comments"][0]}], "status": body["status"]}
            self.server.threads.append(thread)
            return self._reply(thread)
        match = re.search(r"/threads/(\d+)/comments/(\d+)$", path)
        assert self.command == "PATCH" and match, self.path
        thread = self.server.threads[int(match.group(1)) - 1]
        thread["comments"][int(match.group(2)) - 1]["content"] = body["content"]
        return self._reply(thread["comments"][0])

    do_GET = do_POST = do_PATCH = _handle


@pytest.fixture
def ado() -> Iterator[FakeAzureDevOps]:
    server = FakeAzureDevOps()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    assert main(["init", str(root), "--ci", "azure", "--ci", "jenkins"]) == 0
    return root


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.pop("CI", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return {**env, **extra}


# --- Azure Pipelines ----------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+\(|\)|,|variables\['[^']*'\]|'[^']*'", text)


def _condition(text: str, variables: dict[str, str], failed: bool) -> bool:
    tokens = _tokens(text)
    pos = 0

    def expr() -> Any:
        nonlocal pos
        token = tokens[pos]
        pos += 1
        if token.startswith("variables["):
            return variables.get(token[11:-2], "")
        if token.startswith("'"):
            return token[1:-1]
        name = token[:-1]
        args = []
        while tokens[pos] != ")":
            args.append(expr())
            if tokens[pos] == ",":
                pos += 1
        pos += 1
        if name == "always":
            return True
        if name == "succeeded":
            return not failed
        if name == "eq":
            return str(args[0]).lower() == str(args[1]).lower()
        if name == "ne":
            return str(args[0]).lower() != str(args[1]).lower()
        if name == "and":
            return all(args)
        raise AssertionError(f"condition function {name} not understood")

    return bool(expr())


def run_azure(repo: Path, variables: dict[str, str], store: dict[str, Path],
              secrets: dict[str, str]) -> tuple[list[str], bool]:
    """Run the pipeline's steps; returns (names of the steps that ran, whether the job failed)."""
    steps = yaml.safe_load((repo / "azure-pipelines/llm-gate.yml").read_text("utf-8"))
    variables = dict(variables)
    failed = False
    ran: list[str] = []
    for step in steps["jobs"][0]["steps"]:
        name = step.get("displayName", step.get("task", "checkout"))
        if not _condition(step.get("condition", "succeeded()"), variables, failed):
            continue
        ran.append(name)
        ok = True
        task = step.get("task", "")
        inputs = step.get("inputs") or {}
        if "checkout" in step or name == "Install" or task in ("UsePythonVersion@0", "Cache@2"):
            continue
        if task == "DownloadPipelineArtifact@2":
            source = store.get(inputs["artifactName"])
            if source is None:
                ok = False
            else:
                target = repo / inputs["targetPath"]
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target / source.name)
        elif task == "PublishTestResults@2":
            cases = ET.parse(repo / inputs["testResultsFiles"]).getroot().iter("testcase")
            ok = any(True for _ in cases)
        elif task == "PublishPipelineArtifact@1":
            source = repo / inputs["targetPath"]
            ok = source.exists()
            if ok:
                kept = repo.parent / "artifacts" / inputs["artifactName"]
                shutil.rmtree(kept, ignore_errors=True)
                kept.mkdir(parents=True)
                if source.is_dir():
                    shutil.copytree(source, kept, dirs_exist_ok=True)
                    store[inputs["artifactName"]] = kept
                else:
                    store[inputs["artifactName"]] = Path(shutil.copy(source, kept))
        else:
            def macro(value: str) -> str:
                return re.sub(r"\$\(([\w.]+)\)",
                              lambda m: {**variables, **secrets}.get(m.group(1), m.group(0)),
                              str(value))

            env = {k.upper().replace(".", "_"): v for k, v in variables.items()}
            env.update({k: macro(v) for k, v in (step.get("env") or {}).items()})
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-c", step["bash"]],
                                  cwd=repo, env=_env(env), capture_output=True, text=True,
                                  timeout=600, check=False)
            for match in re.finditer(r"##vso\[task\.setvariable variable=(\w+)\](.*)", proc.stdout):
                variables[match.group(1)] = match.group(2).strip()
            ok = proc.returncode == 0
        if not ok and not step.get("continueOnError"):
            failed = True
    return ran, failed


AZURE_VARS = {"Build.SourceBranchName": "main", "Build.BuildId": "1",
              "System.TeamProjectId": "proj-id", "System.DefinitionId": "5",
              "Build.Repository.ID": "repo-id"}


def test_azure_pipeline_commands_in_order(repo: Path, ado: FakeAzureDevOps) -> None:
    store: dict[str, Path] = {}
    secrets = {"System.AccessToken": "ado-token", "OPENAI_API_KEY": "", "AZURE_OPENAI_API_KEY": "",
               "AZURE_OPENAI_ENDPOINT": ""}
    # a push to main: the gate passes and saves the baseline
    ran, failed = run_azure(repo, {**AZURE_VARS, "Build.Reason": "IndividualCI"}, store, secrets)
    assert not failed
    assert ran == ["checkout", "Use Python 3.12", "Install", "Restore the model call cache",
                   "Run the gate", "Publish the JUnit results", "Upload the reports",
                   "Save the baseline"]
    assert {p.name for p in store["llm-gate-reports"].iterdir()} == REPORTS
    assert json.loads(store["llm-gate-baseline"].read_text("utf-8"))["items"]
    # a pull request: compared with main's baseline, one comment thread created
    pr = {**AZURE_VARS, "Build.Reason": "PullRequest", "System.PullRequest.TargetBranch":
          "refs/heads/main", "System.PullRequest.PullRequestId": "7",
          "System.CollectionUri": ado.url}
    shutil.rmtree(repo / ".llmgate")
    ran, failed = run_azure(repo, pr, store, secrets)
    assert not failed
    assert ran == ["checkout", "Use Python 3.12", "Install", "Restore the model call cache",
                   "Fetch the baseline", "Run the gate", "Publish the JUnit results",
                   "Upload the reports", "Comment on the pull request"]
    assert (repo / ".llmgate/baseline/baseline.json").is_file()
    [thread] = ado.threads
    assert thread["comments"][0]["content"].startswith(MARKER)
    assert all(auth == "Bearer ado-token" for _, _, auth in ado.calls)
    # the same pull request breaches: the thread is updated, not duplicated, and the job fails
    suite = repo / "suites/example.yaml"
    suite.write_text(suite.read_text("utf-8").replace("{min: 0.6}", "{min: 1.5}"), "utf-8")
    shutil.rmtree(repo / ".llmgate")
    ran, failed = run_azure(repo, pr, store, secrets)
    assert failed and ran[-2:] == ["Comment on the pull request", "Fail on a breach"]
    assert "Save the baseline" not in ran
    [thread] = ado.threads
    assert "LLM gate failed" in thread["comments"][0]["content"]
    assert [c[0] for c in ado.calls] == ["GET", "POST", "GET", "PATCH"]
    junit = ET.parse(store["llm-gate-reports"] / "junit.xml").getroot()
    assert junit.find(".//failure") is not None


# --- Jenkins ------------------------------------------------------------------------------------


def _blocks(text: str, opener: str) -> list[tuple[str, str]]:
    """(name, body) of each `opener('name') { ... }` block, braces balanced."""
    out = []
    for match in re.finditer(opener, text):
        start = text.index("{", match.end())
        depth, pos = 0, start
        while True:
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            if depth == 0:
                break
            pos += 1
        out.append((match.group(1) if match.groups() else "", text[start + 1:pos]))
    return out


def _scripts(body: str) -> list[tuple[str, bool]]:
    """The `sh` scripts of a block, as Groovy reads them: (script, returns its status)."""
    found = []
    for match in re.finditer(r"sh(\(returnStatus: true, script: )?\s*'''(.*?)'''", body, re.S):
        found.append((match.group(2).replace("\\\n", ""), bool(match.group(1))))
    return found


def _when(body: str, env: dict[str, str]) -> bool:
    one = re.search(r"when \{ ([^\n]*) \}\n", body)
    many = re.search(r"when \{\n(.*?)\n            \}", body, re.S)
    if one is None and many is None:
        return True
    text = one.group(1) if one else many.group(1)  # type: ignore[union-attr]
    ok = True
    if "changeRequest()" in text:
        ok &= bool(env.get("CHANGE_ID"))
    for branch in re.findall(r"branch '([^']+)'", text):
        ok &= env.get("BRANCH_NAME") == branch
    for var, op, value in re.findall(r"env\.(\w+) (==|!=) '([^']*)'", text):
        ok &= (env.get(var) == value) == (op == "==")
    return ok


def run_jenkins(repo: Path, env: dict[str, str], archive: dict[str, Path],
                comments: list[str]) -> tuple[list[str], bool]:
    text = (repo / ".jenkins/Jenkinsfile").read_text("utf-8")
    env = dict(env)
    ran: list[str] = []
    failed = False
    (repo / ".venv/bin").mkdir(parents=True, exist_ok=True)
    (repo / ".venv/bin/activate").write_text("", "utf-8")
    for name, body in _blocks(text, r"stage\('([^']+)'\)"):
        if failed or not _when(body, env):
            continue
        ran.append(name)
        if name == "Install":
            continue
        if "copyArtifacts(" in body and "main/baseline.json" in archive:
            (repo / ".llmgate/previous").mkdir(parents=True, exist_ok=True)
            shutil.copy(archive["main/baseline.json"], repo / ".llmgate/previous/baseline.json")
        for script, status in _scripts(body):
            shell = ["bash", "-c", script] if script.startswith("#!/bin/bash") else [
                "sh", "-xe", "-c", script]
            proc = subprocess.run(shell, cwd=repo, env=_env(env), capture_output=True,
                                  text=True, timeout=600, check=False)
            if status:
                env["GATE_EXIT_CODE"] = str(proc.returncode)
            elif proc.returncode:
                failed = True
        match = re.search(r"archiveArtifacts artifacts: '([^']+)'", body)
        if match:
            archive[f"{env['BRANCH_NAME']}/baseline.json"] = Path(
                shutil.copy(repo / match.group(1), repo.parent / "baseline-archived.json"))
        if "error(" in body:
            failed = True
    [(_, post)] = _blocks(text, r"\n    post ")
    junit = re.search(r"junit testResults: '([^']+)'", post)
    assert junit and ET.parse(repo / junit.group(1)).getroot().find(".//testcase") is not None
    kept = re.search(r"archiveArtifacts\(artifacts: '([^']+)' \+\s*'([^']+)'", post)
    assert kept
    for pattern in (kept.group(1) + kept.group(2)).split(","):
        assert (repo / pattern.strip()).is_file(), pattern
    html = re.search(r"reportDir: '([^']+)', reportFiles: '([^']+)'", post)
    assert html and (repo / html.group(1) / html.group(2)).is_file()
    if env.get("CHANGE_ID"):
        body = (repo / ".llmgate/comment.md").read_text("utf-8")
        marker = re.search(r"GATE_MARKER = '([^']+)'", text)
        assert marker
        mine = [i for i, c in enumerate(comments) if c.startswith(marker.group(1))]
        if mine:
            comments[mine[0]] = body
        else:
            comments.append(body)
    return ran, failed


def test_jenkinsfile_commands_in_order(repo: Path) -> None:
    archive: dict[str, Path] = {}
    comments: list[str] = ["an unrelated human comment"]
    ran, failed = run_jenkins(repo, {"BRANCH_NAME": "main", "JOB_NAME": "app/main"}, archive,
                              comments)
    assert not failed
    assert ran == ["Install", "Run the gate", "Save the baseline"]
    assert "main/baseline.json" in archive
    pr = {"BRANCH_NAME": "PR-7", "CHANGE_ID": "7", "CHANGE_TARGET": "main", "JOB_NAME": "app/PR-7"}
    shutil.rmtree(repo / ".llmgate")
    ran, failed = run_jenkins(repo, pr, archive, comments)
    assert not failed and ran == ["Install", "Fetch the baseline", "Run the gate"]
    assert (repo / ".llmgate/baseline/baseline.json").is_file()
    assert len(comments) == 2 and comments[1].startswith(MARKER)
    suite = repo / "suites/example.yaml"
    suite.write_text(suite.read_text("utf-8").replace("{min: 0.6}", "{min: 1.5}"), "utf-8")
    shutil.rmtree(repo / ".llmgate")
    ran, failed = run_jenkins(repo, pr, archive, comments)
    assert failed and ran == ["Install", "Fetch the baseline", "Run the gate", "Fail on a breach"]
    assert len(comments) == 2 and "LLM gate failed" in comments[1]  # updated, not duplicated
