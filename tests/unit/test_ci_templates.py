"""The Azure Pipelines and Jenkins gate templates: they parse, use the documented task inputs and
steps, keep secrets out of scripts, and `llmgate init --ci` writes them byte for byte.

Azure Pipelines has no offline schema or linter, so its tasks are checked against their
documented inputs (learn.microsoft.com task reference, listed below with their aliases). The
Jenkinsfile goes through npm-groovy-lint (CodeNarc: a Groovy parse, from npm; CI installs it with
`npm install -g npm-groovy-lint`, or point LLMGATE_GROOVY_LINT at an unpacked package) and a
policy test of the declarative structure.
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

from pytest_llmgate.cli.main import main
from pytest_llmgate.cli.scaffold import AZURE_PIPELINE, JENKINSFILE, PROJECT
from pytest_llmgate.reporting.markdown import MARKER

REPO = Path(__file__).resolve().parents[2]
AZURE = REPO / "azure-pipelines" / "llm-gate.yml"
JENKINS = REPO / ".jenkins" / "Jenkinsfile"

# task@major -> documented inputs (alias names included) and the required ones
TASK_INPUTS: dict[str, tuple[set[str], set[str]]] = {
    "UsePythonVersion@0": ({"versionSpec", "disableDownloadFromRegistry", "allowUnstable",
                            "addToPath", "architecture", "githubToken"}, {"versionSpec"}),
    "Cache@2": ({"key", "path", "restoreKeys", "cacheHitVar"}, {"key", "path"}),
    "DownloadPipelineArtifact@2": (
        {"buildType", "source", "project", "definition", "pipeline", "specificBuildWithTriggering",
         "preferTriggeringPipeline", "buildVersionToDownload", "runVersion", "branchName",
         "runBranch", "pipelineId", "runId", "buildId", "tags", "allowPartiallySucceededBuilds",
         "allowFailedBuilds", "artifactName", "artifact", "itemPattern", "patterns",
         "targetPath", "path"}, set()),
    "PublishTestResults@2": (
        {"testResultsFormat", "testRunner", "testResultsFiles", "searchFolder",
         "mergeTestResults", "failTaskOnFailedTests", "failTaskOnFailureToPublishResults",
         "failTaskOnMissingResultsFile", "testRunTitle", "buildPlatform", "platform",
         "buildConfiguration", "configuration", "publishRunAttachments"}, {"testResultsFiles"}),
    "PublishPipelineArtifact@1": (
        {"targetPath", "path", "artifact", "artifactName", "publishLocation", "artifactType",
         "fileSharePath", "parallel", "parallelCount", "properties"}, {"targetPath"}),
}
STEP_KEYS = {"task", "bash", "script", "checkout", "displayName", "name", "condition",
             "continueOnError", "enabled", "env", "inputs", "timeoutInMinutes",
             "retryCountOnTaskFailure", "workingDirectory", "failOnStderr", "persistCredentials",
             "fetchDepth", "clean", "target"}
SECRETS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "System.AccessToken")


def _azure() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(AZURE.read_text("utf-8"))
    return data


def _steps() -> list[dict[str, Any]]:
    return [s for job in _azure()["jobs"] for s in job["steps"]]


def _step(name: str) -> dict[str, Any]:
    return next(s for s in _steps() if s.get("displayName") == name)


def test_scaffold_carries_the_repository_templates() -> None:
    assert AZURE.read_text("utf-8") == AZURE_PIPELINE
    assert JENKINS.read_text("utf-8") == JENKINSFILE


@pytest.mark.parametrize(
    ("ci", "wanted", "absent"),
    [
        (["--ci", "azure"], "azure-pipelines/llm-gate.yml", ".github/workflows/llm-gate.yml"),
        (["--ci", "jenkins"], ".jenkins/Jenkinsfile", "azure-pipelines/llm-gate.yml"),
        ([], ".github/workflows/llm-gate.yml", ".jenkins/Jenkinsfile"),
    ],
)
def test_init_writes_the_chosen_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   ci: list[str], wanted: str, absent: str) -> None:
    assert main(["init", str(tmp_path), *ci]) == 0
    assert f"created {wanted}" in capsys.readouterr().out
    assert (tmp_path / wanted).is_file() and not (tmp_path / absent).exists()
    assert all((tmp_path / relative).exists() for relative in PROJECT)


def test_init_writes_several_and_refuses_unknown(tmp_path: Path) -> None:
    assert main(["init", str(tmp_path), "--ci", "azure", "--ci", "jenkins"]) == 0
    assert (tmp_path / "azure-pipelines/llm-gate.yml").read_text("utf-8") == AZURE_PIPELINE
    assert (tmp_path / ".jenkins/Jenkinsfile").read_text("utf-8") == JENKINSFILE
    with pytest.raises(SystemExit) as exc:
        main(["init", str(tmp_path), "--ci", "gitlab"])
    assert exc.value.code == 2


def test_azure_tasks_use_documented_inputs() -> None:
    tasks = [s for s in _steps() if "task" in s]
    assert {s["task"] for s in tasks} == set(TASK_INPUTS)
    for step in _steps():
        assert set(step) <= STEP_KEYS, (step.get("displayName"), set(step) - STEP_KEYS)
    for step in tasks:
        known, required = TASK_INPUTS[step["task"]]
        inputs = set(step.get("inputs") or {})
        assert inputs <= known, (step["task"], inputs - known)
        assert required <= inputs, (step["task"], required - inputs)
    publish = next(s for s in tasks if s["task"] == "PublishTestResults@2")["inputs"]
    assert publish["testResultsFormat"] in ("JUnit", "NUnit", "VSTest", "XUnit", "CTest")
    assert publish["testResultsFiles"] == ".llmgate/junit.xml"
    download = _step("Fetch the baseline")["inputs"]
    assert download["buildVersionToDownload"] in ("latest", "latestFromBranch", "specific")
    assert download["buildType"] in ("current", "specific")
    for step in tasks:
        if step["task"] == "PublishPipelineArtifact@1":
            assert step["inputs"]["publishLocation"] in ("pipeline", "filepath")


def test_azure_gate_shape_and_policy() -> None:
    data = _azure()
    assert data["trigger"]["branches"]["include"] == ["main"]
    assert "pr" in data
    assert {"group": "llm-gate"} in data["variables"]  # secrets from a Library variable group
    names = [s.get("displayName") for s in _steps()]
    assert names[-6:] == ["Run the gate", "Publish the JUnit results", "Upload the reports",
                          "Save the baseline", "Comment on the pull request", "Fail on a breach"]
    checkout = _steps()[0]
    assert checkout["checkout"] == "self" and checkout["persistCredentials"] is False
    run = _step("Run the gate")["bash"]
    for flag in ("--llm-gate-baseline", "--llm-gate-junit .llmgate/junit.xml",
                 "--llm-gate-html", "--llm-gate-md", "--llm-gate-save"):
        assert flag in run
    assert "PullRequest" not in _step("Save the baseline")["condition"].replace(
        "ne(variables['Build.Reason'], 'PullRequest')", "")
    comment = _step("Comment on the pull request")
    assert MARKER in comment["bash"] and comment["continueOnError"] is True
    assert "_apis/git/repositories/" in comment["bash"] and "api-version=7.1" in comment["bash"]
    for step in _steps():
        script = step.get("bash", "")
        for secret in SECRETS:
            # macros are spliced in before the shell runs: secrets only through env mappings
            assert f"$({secret})" not in script, (step.get("displayName"), secret)
        for name, value in (step.get("env") or {}).items():
            assert value == f"$({name})" or (name, value) == (
                "SYSTEM_ACCESSTOKEN", "$(System.AccessToken)")


# --- Jenkins ------------------------------------------------------------------------------------


def _groovy_lint() -> Path | None:
    candidates = []
    if os.environ.get("LLMGATE_GROOVY_LINT"):
        candidates.append(Path(os.environ["LLMGATE_GROOVY_LINT"]))
    candidates.append(REPO / "node_modules" / "npm-groovy-lint")
    npm = shutil.which("npm")
    if npm:
        proc = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60,
                              check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            candidates.append(Path(proc.stdout.strip()) / "npm-groovy-lint")
    return next((c for c in candidates if (c / "lib" / "index.js").is_file()), None)


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Errors per file for the Jenkinsfile and a broken copy, in one (slow: a JVM) lint run."""
    package, node = _groovy_lint(), shutil.which("node")
    if package is None or node is None or shutil.which("java") is None:
        message = "npm-groovy-lint (and java) not installed: npm install -g npm-groovy-lint"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("groovy")
    (root / "good").mkdir()
    (root / "bad").mkdir()
    shutil.copy(JENKINS, root / "good" / "Jenkinsfile")
    (root / "bad" / "Jenkinsfile").write_text(
        JENKINSFILE.replace("    stages {", "    stages {{", 1), encoding="utf-8")
    proc = subprocess.run(
        [node, str(package / "lib" / "index.js"), "--noserver", "--output", "json",
         "--failon", "none", "--files", "**/Jenkinsfile"],
        capture_output=True, text=True, timeout=600, check=False, cwd=root,
    )
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    return {Path(name).parent.name: [e for e in found["errors"] if e["severity"] == "error"]
            for name, found in out["files"].items()}


def test_jenkinsfile_parses_clean(linted: dict[str, list[dict[str, Any]]]) -> None:
    assert linted["good"] == []


def test_groovy_lint_catches_a_broken_jenkinsfile(
    linted: dict[str, list[dict[str, Any]]]
) -> None:
    assert [e["rule"] for e in linted["bad"]] == ["NglParseError"]


def test_jenkinsfile_declarative_policy() -> None:
    text = JENKINSFILE
    code = "\n".join(line.split("//")[0] for line in text.splitlines())
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")
    assert re.search(r"^pipeline \{\n    agent any\n", code, re.M)
    stages = re.findall(r"stage\('([^']+)'\)", code)
    assert stages == ["Install", "Fetch the baseline", "Run the gate", "Save the baseline",
                      "Fail on a breach"]
    assert "when { changeRequest() }" in code  # the baseline is fetched for pull requests only
    assert "branch 'main'" in code and "archiveArtifacts artifacts: '.llmgate/baseline.json'" in code
    post = code[code.index("    post {"):]
    assert "always {" in post
    for step in ("junit testResults: '.llmgate/junit.xml'", "publishHTML(", "archiveArtifacts(",
                 "pullRequest.editComment(", "pullRequest.comment("):
        assert step in post, step
    assert "env.GATE_MARKER" in post and f"GATE_MARKER = '{MARKER}'" in code
    for secret in ("openai-api-key", "azure-openai-api-key", "azure-openai-endpoint"):
        assert f"credentials('{secret}')" in code
    assert not re.search(r"sk-[A-Za-z0-9]{8}", text)
    run = code[code.index("stage('Run the gate')"):code.index("stage('Save the baseline')")]
    assert "returnStatus: true" in run
    for flag in ("--llm-gate-baseline", "--llm-gate-junit .llmgate/junit.xml", "--llm-gate-html",
                 "--llm-gate-md", "--llm-gate-save"):
        assert flag in run


@pytest.mark.parametrize("ci", ["github", "azure", "jenkins"])
def test_the_repository_runs_exactly_what_llmgate_init_writes(ci: str) -> None:
    """One template, two copies: `llmgate init --ci X` writes the file this repository's own CI
    runs; a change to one without the other fails here."""
    from pytest_llmgate.cli.scaffold import CI_FILES

    for relative, text in CI_FILES[ci].items():
        assert (REPO / relative).read_text(encoding="utf-8") == text, relative
