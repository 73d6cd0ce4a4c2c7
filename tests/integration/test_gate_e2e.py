"""End to end: suite files collected, run, gated, reported (pytester, as pytest's plugins test)."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import ROWS, Project


def _write_suite(project: Project, rest: str) -> None:
    """suites/support.yaml: suite `support` over the project's qa dataset, then `rest` (its
    subjects, evaluators, thresholds)."""
    project.write(
        "suites/support.yaml",
        "suite: support\ndatasets: {qa: ../golden_datasets/qa.jsonl}\n"
        + textwrap.dedent(rest).lstrip("\n"),
    )


def test_suite_items_have_stable_readable_ids(project: Project) -> None:
    result = project.pytester.runpytest("--llm-gate", "--co", "-q", "suites")
    result.stdout.fnmatch_lines(
        [
            "suites/support.yaml::answer[[]overlap-qa[]]",
            "suites/support.yaml::answer[[]first-qa[]]",
        ]
    )
    assert result.ret == 0


def test_without_flag_suite_files_are_not_collected(project: Project) -> None:
    result = project.pytester.runpytest("--co", "-q", "suites")
    assert "support.yaml" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_ini_switch_enables_the_gate(project: Project) -> None:
    project.write(
        "pytest.ini",
        "[pytest]\nllm_gate = true\npythonpath = .\naddopts = -p no:hypothesispytest\n",
    )
    result = project.pytester.runpytest("--co", "-q", "suites")
    result.stdout.fnmatch_lines(["suites/support.yaml::answer[[]overlap-qa[]]"])


def test_good_variant_passes_bad_variant_fails_with_breach_table(
    project: Project, xdist_args: list[str]
) -> None:
    result = project.pytester.runpytest("--llm-gate", "suites", *xdist_args)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "Traceback" not in out
    result.stdout.fnmatch_lines(
        [
            "*llm-gate: suites/support.yaml::answer[[]first-qa[]] FAILED*",
            "*word_overlap*mean*>= 0.8*FAIL*",
            "*worst rows:*",
        ]
    )
    data = project.results()
    assert data["format"] == "pytest-llmgate/results"
    assert data["verdict"] == "failed"
    by_id = {i["nodeid"]: i for i in data["items"]}
    good = by_id["suites/support.yaml::answer[overlap-qa]"]
    bad = by_id["suites/support.yaml::answer[first-qa]"]
    assert good["verdict"] == "passed" and bad["verdict"] == "failed"
    assert [r["id"] for r in good["rows"]] == [r["id"] for r in ROWS]
    assert good["aggregates"]["word_overlap"]["mean"] == pytest.approx(1.0)
    assert bad["aggregates"]["word_overlap"]["mean"] < 0.8
    assert len(good["dataset_sha256"]) == 64
    assert good["subject_spec"] == {
        "type": "python",
        "target": "demo_app:answer",
        "params": {"strategy": "overlap"},
    }


def test_k_selects_the_passing_variant(project: Project) -> None:
    result = project.pytester.runpytest("--llm-gate", "suites", "-k", "overlap")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*llm-gate: PASSED: 1 items*"])


def test_exitfirst_stops_after_first_failure(project: Project) -> None:
    _write_suite(
        project,
        """
        subjects:
          answer:
            target: demo_app:answer
            variants: {first: {strategy: first}, first2: {strategy: first}}
        evaluators: ["evaluators.custom:word_overlap"]
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites", "-x")
    result.assert_outcomes(failed=1)


def test_class_and_async_subjects(project: Project) -> None:
    _write_suite(
        project,
        """
        subjects:
          bot:
            target: demo_app:Bot
            init: {prefix: ""}
            variants:
              quiet: {}
              loud: {shout: true, prefix: "Hi. "}
          bot_async:
            target: demo_app:answer_async
        evaluators: ["evaluators.custom:word_overlap"]
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites", "-p", "no:xdist")
    result.assert_outcomes(passed=3)
    items = {i["nodeid"]: i for i in project.results()["items"]}
    loud = items["suites/support.yaml::bot[loud-qa]"]["rows"][0]["output"]["response"]
    assert loud.startswith("HI. ")
    assert "suites/support.yaml::bot_async[default-qa]" in items


def test_custom_class_evaluator_with_args_and_details(project: Project) -> None:
    _write_suite(
        project,
        """
        subjects:
          answer: {target: demo_app:answer}
        evaluators:
          mentions: {use: "evaluators.custom:Mentions", args: {word: refunds}}
        thresholds:
          metrics:
            mentions: {aggregate: sum, min: 1, max: 1}
    """,
    )
    project.write("thresholds.yaml", "metrics: {}\n")
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    item = project.results()["items"][0]
    assert item["aggregates"]["mentions"]["sum"] == 1
    assert item["rows"][0]["details"]["mentions_reason"] == "checked"


@pytest.mark.parametrize(
    ("use", "message"),
    [
        ("evaluators.custom:broken", "evaluator broken: ValueError: evaluator exploded"),
        ("evaluators.custom:nan_score", "not a finite number"),
        ("evaluators.custom:not_a_number", "returned str, expected a number"),
    ],
)
def test_evaluator_failures_are_error_rows_never_scores(
    project: Project, use: str, message: str
) -> None:
    _write_suite(
        project,
        f"""
        subjects:
          answer: {{target: demo_app:answer}}
        evaluators: ["{use}"]
    """,
    )
    project.write("thresholds.yaml", "metrics: {}\n")
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*4 of 4 rows errored*", f"*{message[:40]}*"])
    item = project.results()["items"][0]
    assert all(r["errors"] for r in item["rows"])
    assert item["verdict"] == "failed"


def test_subject_exception_is_an_error_row(project: Project) -> None:
    _write_suite(
        project,
        """
        subjects:
          boom: {target: demo_app:boom}
        evaluators: [length]
    """,
    )
    project.write("thresholds.yaml", "metrics: {length_words: {max: 100}}\n")
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*subject: RuntimeError: subject exploded*"])


def test_max_error_rate_tolerates_some_errors(project: Project) -> None:
    project.rows([*ROWS, {"id": "bad", "question": "x", "context": "", "ground_truth": "y"}])
    project.write(
        "thresholds.yaml",
        """
        defaults: {max_error_rate: 0.25}
        metrics: {}
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites", "-k", "overlap")
    result.assert_outcomes(passed=1, deselected=1)
    item = project.results()["items"][0]
    assert item["error_count"] == 1


def test_overrides_match_by_glob_and_warn_severity_does_not_fail(project: Project) -> None:
    project.write(
        "thresholds.yaml",
        """
        metrics:
          word_overlap: {min: 0.8}
          length_words: {aggregate: p95, max: 5, severity: warn}
        overrides:
          - match: {variant: "fir*"}
            metrics:
              word_overlap: {min: 0.1}
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*length_words*p95*<= 5*WARN*"])


def test_pass_rate_counts_rows_within_the_row_bound(project: Project) -> None:
    project.write(
        "thresholds.yaml",
        """
        metrics:
          word_overlap: {aggregate: pass_rate, row: {min: 0.99}, min: 0.5}
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1, failed=1)
    items = {i["variant"]: i for i in project.results()["items"]}
    check = items["overlap"]["checks"][0]
    assert check["aggregate"] == "pass_rate(>= 0.99)"
    assert check["value"] == 1.0


def test_suite_threshold_on_unknown_metric_is_an_error(project: Project) -> None:
    _write_suite(
        project,
        """
        subjects:
          answer: {target: demo_app:answer}
        evaluators: [length]
        thresholds:
          metrics:
            lenght_words: {max: 10}
    """,
    )
    project.write("thresholds.yaml", "metrics: {length_words: {max: 100}}\n")
    result = project.pytester.runpytest("--llm-gate", "suites")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # at load time, before any row
    result.stderr.fnmatch_lines(
        ["ERROR: suites/support.yaml:8: thresholds.metrics.lenght_words: no evaluator of suite "
         "'support' produces metric 'lenght_words'; did you mean 'length_words'?"]
    )


def test_csv_dataset_and_explicit_mapping(project: Project) -> None:
    project.write(
        "golden_datasets/qa.csv",
        """
        id,q,passage,gt
        c1,"When do plans renew?","Plans renew monthly. Refunds take days.","Plans renew monthly."
        c2,"How long do refunds take?","Plans renew monthly. Refunds take days, sometimes weeks.","Refunds take days, sometimes weeks."
    """,
    )
    project.write(
        "suites/support.yaml",
        """
        suite: support
        datasets: {qa: {path: ../golden_datasets/qa.csv, id: id}}
        subjects:
          answer:
            target: demo_app:answer
            inputs: {question: "${data.q}", context: "${data.passage}"}
        evaluators:
          - use: "evaluators.custom:word_overlap"
            inputs: {response: "${output}", ground_truth: "${data.gt}"}
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "suites")
    result.assert_outcomes(passed=1)
    rows = project.results()["items"][0]["rows"]
    assert [r["id"] for r in rows] == ["c1", "c2"]
    assert rows[1]["output"] == "Refunds take days, sometimes weeks."


def test_limit_option_and_dataset_sample(project: Project) -> None:
    result = project.pytester.runpytest(
        "--llm-gate", "suites", "--llm-gate-limit", "2", "-k", "overlap"
    )
    result.assert_outcomes(passed=1, deselected=1)
    assert len(project.results()["items"][0]["rows"]) == 2


def test_results_path_option(project: Project) -> None:
    result = project.pytester.runpytest(
        "--llm-gate", "suites", "-k", "overlap", "--llm-gate-json", "out/r.json"
    )
    assert result.ret == 0
    assert project.results("out/r.json")["counts"] == {"passed": 1}


def test_python_api_fixture_joins_the_results(project: Project) -> None:
    project.write(
        "tests/test_api.py",
        """
        from demo_app import answer

        def test_answers(llm_gate):
            result = llm_gate.evaluate(
                answer, "golden_datasets/qa.jsonl",
                evaluators=["evaluators.custom:word_overlap"],
                thresholds={"word_overlap": {"min": 0.8}},
            )
            result.assert_passed()

        def test_breach_raises_with_table(llm_gate):
            result = llm_gate.evaluate(
                answer, "golden_datasets/qa.jsonl", params={"strategy": "first"},
                evaluators=["evaluators.custom:word_overlap"],
                thresholds={"word_overlap": {"min": 0.8}},
            )
            assert not result.passed
            assert "word_overlap" in result.report()
    """,
    )
    result = project.pytester.runpytest("--llm-gate", "tests")
    result.assert_outcomes(passed=2)
    ids = [i["nodeid"] for i in project.results()["items"]]
    assert "tests/test_api.py::test_answers" in ids


def test_python_api_without_pytest(project: Project) -> None:
    import pytest_llmgate

    rows = [
        {"question": "q?", "context": "Alpha beta. Gamma delta.", "ground_truth": "Alpha beta."}
    ]

    def subject(question: str, context: str) -> str:
        return context.split(". ")[0] + "."

    result = pytest_llmgate.evaluate(
        subject, rows, evaluators=["length"], thresholds={"length_words": {"max": 1}}
    )
    assert not result.passed
    assert result.aggregates["length_words"]["mean"] == 2
