"""Bad input gets one clear line naming file, line and field, and a non-zero exit; no traceback."""

from __future__ import annotations

import pytest

from tests.conftest import Project

SUITE_HEAD = """
suite: support
datasets:
  qa: ../golden_datasets/qa.jsonl
subjects:
  answer: {target: "demo_app:answer"}
"""

CASES = {
    "yaml-syntax": (
        "suites/support.yaml",
        "suite: support\ndatasets: [unclosed\n",
        "*suites/support.yaml:3: invalid YAML*",
    ),
    "unknown-top-key": (
        "suites/support.yaml",
        SUITE_HEAD + "evaluatorz: [length]\n",
        "*support.yaml:6: evaluatorz: unknown key 'evaluatorz'*",
    ),
    "duplicate-key": (
        "suites/support.yaml",
        SUITE_HEAD + "subjects: {}\n",
        "*support.yaml:6: subjects: duplicate key (first defined on line 4)*",
    ),
    "missing-required": (
        "suites/support.yaml",
        "suite: support\nsubjects: {a: {target: 'x:y'}}\n",
        "*support.yaml*datasets: is required*",
    ),
    "unknown-evaluator": (
        "suites/support.yaml",
        SUITE_HEAD + "evaluators: [lenght]\n",
        "*support.yaml:6: evaluators[[]0[]]: unknown evaluator 'lenght'*",
    ),
    "bad-import": (
        "suites/support.yaml",
        SUITE_HEAD.replace("demo_app:answer", "nope:answer") + "evaluators: [length]\n",
        "*support.yaml:5: subjects.answer: cannot import 'nope'*",
    ),
    "missing-attr": (
        "suites/support.yaml",
        SUITE_HEAD.replace("demo_app:answer", "demo_app:nope") + "evaluators: [length]\n",
        "*subjects.answer: 'demo_app' has no attribute 'nope'*",
    ),
    "missing-dataset": (
        "suites/support.yaml",
        SUITE_HEAD.replace("qa.jsonl", "missing.jsonl") + "evaluators: [length]\n",
        "*support.yaml:3: datasets.qa: file not found: ../golden_datasets/missing.jsonl*",
    ),
    "missing-column": (
        "suites/support.yaml",
        SUITE_HEAD.replace(
            '{target: "demo_app:answer"}',
            '{target: "demo_app:answer", inputs: {question: "${data.qestion}", context: "${data.context}"}}',
        )
        + "evaluators: [length]\n",
        "*support.yaml:5: subjects.answer: column 'qestion' is not in dataset 'qa'*",
    ),
    "bad-reference": (
        "suites/support.yaml",
        SUITE_HEAD + "evaluators:\n  - {use: length, inputs: {response: '${dat.x}'}}\n",
        "*support.yaml:7: evaluators[[]0[]].inputs.response: unknown reference ${dat.x}*",
    ),
    "bad-variant-param": (
        "suites/support.yaml",
        SUITE_HEAD.replace(
            '{target: "demo_app:answer"}',
            '{target: "demo_app:answer", variants: {v: {stratgy: first}}}',
        )
        + "evaluators: [length]\n",
        "*subjects.answer: variant 'v': demo_app:answer takes no parameter 'stratgy'*",
    ),
    "unknown-dataset-ref": (
        "suites/support.yaml",
        SUITE_HEAD.replace(
            '{target: "demo_app:answer"}', '{target: "demo_app:answer", datasets: [qa2]}'
        )
        + "evaluators: [length]\n",
        "*subjects.answer.datasets[[]0[]]: unknown dataset 'qa2'*",
    ),
    "bad-evaluator-args": (
        "suites/support.yaml",
        SUITE_HEAD + "evaluators:\n  - {use: regex, args: {pattern: '('}}\n",
        "*support.yaml:7: evaluators[[]0[]]: regex: bad args: invalid regex*",
    ),
    "malformed-jsonl": (
        "golden_datasets/qa.jsonl",
        '{"id": "a", "question": "q", "context": "c."}\n{"id": "b",\n',
        "*golden_datasets/qa.jsonl:2: malformed JSON*",
    ),
    "jsonl-not-object": (
        "golden_datasets/qa.jsonl",
        "[1, 2]\n",
        "*qa.jsonl:1: each line must be a JSON object*",
    ),
    "duplicate-id": (
        "golden_datasets/qa.jsonl",
        '{"id": "a", "question": "q", "context": "c."}\n{"id": "a", "question": "q", "context": "c."}\n',
        "*qa.jsonl:2: id: duplicate id 'a' (first on line 1)*",
    ),
    "empty-dataset": ("golden_datasets/qa.jsonl", "\n\n", "*qa.jsonl: dataset has no rows*"),
    "nan-in-dataset": (
        "golden_datasets/qa.jsonl",
        '{"id": "a", "question": "q", "context": "c.", "w": NaN}\n',
        "*qa.jsonl:1: w: non-finite number nan*",
    ),
    "thresholds-bad-aggregate": (
        "thresholds.yaml",
        "metrics:\n  length_words: {aggregate: average, max: 3}\n",
        "*thresholds.yaml:2: metrics.length_words.aggregate: 'average' does not match*",
    ),
    "thresholds-unknown-key": (
        "thresholds.yaml",
        "metrics:\n  length_words: {maximum: 3}\n",
        "*thresholds.yaml:2: metrics.length_words*",
    ),
    "thresholds-no-bound": (
        "thresholds.yaml",
        "metrics:\n  length_words: {aggregate: mean}\n",
        "*thresholds.yaml:2: metrics.length_words: a rule needs a bound*",
    ),
    "thresholds-pass-rate-no-row": (
        "thresholds.yaml",
        "metrics:\n  length_words: {aggregate: pass_rate, min: 0.5}\n",
        "*thresholds.yaml:2: metrics.length_words: aggregate pass_rate needs a row bound*",
    ),
    "thresholds-min-gt-max": (
        "thresholds.yaml",
        "metrics:\n  x:\n    - {min: 3, max: 1}\n",
        "*thresholds.yaml:3: metrics.x[[]0[]]: min 3 is greater than max 1*",
    ),
    "thresholds-wrong-type": (
        "thresholds.yaml",
        "metrics:\n  x: {min: high}\n",
        "*thresholds.yaml:2: metrics.x*",
    ),
    "thresholds-not-mapping": ("thresholds.yaml", "- 1\n- 2\n", "*thresholds.yaml*expected*"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_line(project: Project, case: str) -> None:
    relative, content, pattern = CASES[case]
    project.write(relative, content)
    if relative != "suites/support.yaml":
        project.write("suites/support.yaml", SUITE_HEAD + "evaluators: [length]\n")
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret != 0
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    (result.stdout if relative != "thresholds.yaml" else result.stderr).fnmatch_lines([pattern])


def test_invalid_utf8_dataset(project: Project) -> None:
    (project.path / "golden_datasets/qa.jsonl").write_bytes(b'{"id": "a", "question": "\xff"}\n')
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*qa.jsonl:1: invalid UTF-8 (byte 0xff at offset 25)*"])


def test_bom_prefixed_dataset_is_read(project: Project) -> None:
    path = project.path / "golden_datasets/qa.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = project.pytester.runpytest("--llm-gate", "suites", "-k", "overlap")
    assert result.ret == 0


def test_ragged_csv_names_the_line(project: Project) -> None:
    project.write("golden_datasets/qa.csv", 'id,question,context\na,"q?","c."\nb,"q?"\n')
    project.write(
        "suites/support.yaml", SUITE_HEAD.replace("qa.jsonl", "qa.csv") + "evaluators: [length]\n"
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*qa.csv:3: expected 3 fields, got 2 (check quoting)*"])


def test_dataset_schema_violation_names_row_and_field(project: Project) -> None:
    project.write(
        "golden_datasets/qa.schema.json",
        """
        {"type": "object", "required": ["id", "question"],
         "properties": {"question": {"type": "string", "minLength": 3}}}
    """,
    )
    project.rows(
        [
            {"id": "a", "question": "ok?", "context": "c."},
            {"id": "b", "question": 7, "context": "c."},
        ]
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*qa.jsonl:2: question: 7 is not of type 'string' (schema qa.schema.json)*"]
    )


def test_bad_option_values_are_usage_errors(project: Project) -> None:
    result = project.pytester.runpytest("--llm-gate", "suites", "--llm-gate-concurrency", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-gate-concurrency: expected a positive integer, got '0'*"])
    result = project.pytester.runpytest("--llm-gate", "--llm-gate-thresholds", "nope.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--llm-gate-thresholds: file not found*"])
