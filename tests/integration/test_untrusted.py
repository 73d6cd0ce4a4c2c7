"""Secrets and untrusted content: a planted key reaches no artifact or output; YAML tags that
build Python objects are refused; config paths stay inside the project root unless allowed."""

from __future__ import annotations

import pytest

from pytest_llmgate.testing import LLMServer
from tests.conftest import SUITE, Project
from tests.integration.test_faults import write_project

CANARY = "sk-llmgate-canary-5f0e1d2c3b4a69788796a5b4c3d2e1f0"


def test_planted_key_reaches_no_artifact(
    pytester: pytest.Pytester, llm: LLMServer, llm_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in llm_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    write_project(pytester.path, llm.base_url, 6)
    (pytester.path / ".env").write_text(f"OPENAI_API_KEY={CANARY}\n", "utf-8")
    llm.configure(require_key=CANARY)  # proves the key was really sent
    with (pytester.path / "data/qa.jsonl").open("a", encoding="utf-8") as rows:
        # an error row whose message comes from the server
        rows.write('{"id": "bad", "question": "ok?\\nLLMGATE_STATUS:401", "context": "c."}\n')
    result = pytester.runpytest(
        "--llm-gate", "-v", "-rA", "--llm-gate-junit", "out/junit.xml", "--llm-gate-html",
        "out/report.html", "--llm-gate-md", "out/report.md", "--llm-gate-csv", "out/rows.csv",
        "--llm-gate-json", "out/results.json.gz", "--log-file", "out/pytest.log",
        "--log-file-level", "DEBUG", "--log-level", "DEBUG",
    )
    assert result.ret == 1  # the 401 rows errored, the others answered (key accepted)
    assert llm.requests > 0
    assert CANARY not in "\n".join(result.outlines + result.errlines)
    files = [p for p in pytester.path.rglob("*") if p.is_file() and p.name != ".env"]
    names = {p.name for p in files}
    assert {"junit.xml", "report.html", "report.md", "rows.csv", "results.json.gz",
            "pytest.log"} <= names
    assert any("cache" in p.parts for p in files)
    import gzip

    for path in files:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        assert CANARY.encode() not in data, path
        assert CANARY[-12:].encode() not in data, path


def test_python_object_yaml_tags_are_refused(project: Project) -> None:
    project.write("suites/support.yaml",
                  SUITE + "extra: !!python/object/apply:os.system ['echo pwned > pwned']\n")
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret != 0
    assert not (project.path / "pwned").exists()
    out = result.stdout.str()
    assert "Traceback" not in out
    result.stdout.fnmatch_lines(["*suites/support.yaml:1?: *python/object*"])


def test_paths_cannot_escape_the_project_root(
    project: Project, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "qa.jsonl"
    outside.write_bytes((project.path / "golden_datasets/qa.jsonl").read_bytes())
    project.write("suites/support.yaml", SUITE.replace("../golden_datasets/qa.jsonl", str(outside)))
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret != 0
    result.stdout.fnmatch_lines([
        f"*suites/support.yaml:3: datasets.qa: {outside} resolves outside the project root "
        f"* (set LLMGATE_ALLOW_OUTSIDE_ROOT=1 to allow)*"
    ])
    # a symlink inside the project that points outside is the same escape
    link = project.path / "golden_datasets/link.jsonl"
    link.symlink_to(outside)
    project.write("suites/support.yaml", SUITE.replace("qa.jsonl", "link.jsonl"))
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.stdout.fnmatch_lines(["*datasets.qa: ../golden_datasets/link.jsonl resolves outside*"])
    monkeypatch.setenv("LLMGATE_ALLOW_OUTSIDE_ROOT", "1")
    project.pytester.runpytest("--llm-gate", "suites").assert_outcomes(passed=1, failed=1)
