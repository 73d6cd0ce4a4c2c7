"""Bad input gets one clear line naming file, line and field, and a non-zero exit; no traceback.

The cases live in `tests/fixtures/bad_inputs/<case>/`: `files/` is laid over the example project
(`tests.conftest.project`), `case.json` holds the expected line (an fnmatch pattern), the stream
it appears on, and an optional `special` setup that git cannot store (an unreadable file, a huge
dataset). Add a case by adding a directory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project

CORPUS = Path(__file__).parent.parent / "fixtures" / "bad_inputs"
SUITE_HEAD = """
suite: support
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer: {target: "demo_app:answer"}
"""
DEFAULT_SUITE = SUITE_HEAD + "evaluators: [length]\n"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.json").is_file())


def _lay_over(case: Path, root: Path) -> None:
    files = case / "files"
    for source in sorted(files.rglob("*")):
        target = root / source.relative_to(files)
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir() and not source.is_symlink() and not source.is_dir():
            shutil.rmtree(target)
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(source))
        elif source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not source.parent.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def _special(kind: str, project: Project) -> None:
    dataset = project.path / "golden_datasets/qa.jsonl"
    if kind == "chmod000":
        dataset.chmod(0)
        if os.access(dataset, os.R_OK):  # root reads anything: nothing to test here
            dataset.chmod(0o644)
            pytest.skip("running as root: a chmod 000 file stays readable")
    elif kind == "huge":
        line = json.dumps({"id": "{}", "question": "q?", "context": "c.", "pad": "x" * 40})
        with dataset.open("w", encoding="utf-8") as handle:
            handle.writelines(line.replace('"{}"', f'"r{i}"') + "\n" for i in range(200_000))
            handle.write('{"id": "broken", \n')


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_clear_line(project: Project, name: str) -> None:
    case = CORPUS / name
    meta: dict[str, Any] = json.loads((case / "case.json").read_text("utf-8"))
    project.write("suites/support.yaml", DEFAULT_SUITE)
    _lay_over(case, project.path)
    if meta.get("special"):
        _special(meta["special"], project)
    try:
        result = project.pytester.runpytest("--llm-gate", "suites", *meta.get("args", []))
    finally:
        dataset = project.path / "golden_datasets/qa.jsonl"
        if dataset.is_file() and not dataset.is_symlink():
            dataset.chmod(0o644)  # so pytester can clean up
    assert result.ret != 0
    output = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    stream = result.stderr if meta.get("stream") == "stderr" else result.stdout
    stream.fnmatch_lines([meta["expect"]])
    # one line: the message does not spill the offending input (a huge line) into the output
    assert max(map(len, result.outlines + result.errlines)) < 1000


def test_bom_prefixed_dataset_is_read(project: Project) -> None:
    path = project.path / "golden_datasets/qa.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = project.pytester.runpytest("--llm-gate", "suites", "-k", "overlap")
    assert result.ret == 0
    rows = project.results()["items"][0]["rows"]
    assert [r["id"] for r in rows] == ["r1", "r2", "r3", "r4"]  # the BOM line is a row too


def test_bad_option_values_are_usage_errors(project: Project) -> None:
    result = project.pytester.runpytest("--llm-gate", "suites", "--llm-gate-concurrency", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-gate-concurrency: expected a positive integer, got '0'*"])
    result = project.pytester.runpytest("--llm-gate", "--llm-gate-thresholds", "nope.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-gate-thresholds: file not found*"])
