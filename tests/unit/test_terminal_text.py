"""The terminal summary and a failing item's text: breaches first, 120 columns, expected next to
output, control characters from data escaped."""

from __future__ import annotations

from llmgate_runs import item, row, run, scored, threshold

from pytest_llmgate.reporting.text import WIDTH, render_item_failure, render_summary
from pytest_llmgate.results.model import Check

CLEAR = "\x1b[2J\x1b[H"


def _wide_run():
    long_name = "a_subject_with_a_really_long_name_that_goes_on"
    checks = [threshold(f"metric_number_{n}_with_a_long_name", 0.5, 0.4) for n in range(6)]
    return run(
        item(long_name, "variant_with_long_name", dataset="golden_dataset_with_long_name",
             rows=scored("r", [0.5, 0.5]), checks=checks),
        item("bot", "bad", rows=scored("r", [0.1, 0.2]),
             checks=[threshold("f1", 0.15, 0.425555), *checks[:1]]),
        item("bot", "skipped", verdict="skipped",
             message="no judge model configured: set AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY "
                     "and AZURE_OPENAI_DEPLOYMENT, or OPENAI_BASE_URL / OPENAI_API_KEY"),
    )


def test_summary_lists_breaches_first_and_fits_120_columns() -> None:
    text = render_summary(_wide_run())
    lines = text.splitlines()
    assert lines[0].startswith("llm-gate: FAILED: 3 items")
    assert lines[1] == "breaches and regressions:"
    assert lines[2] == "  FAIL bot[bad-qa]: f1 mean = 0.15, needs >= 0.426 [thresholds.yaml:3]"
    table = [x for x in lines if not x.startswith("SKIPPED")]
    assert all(len(line) <= WIDTH for line in table), max(map(len, table))
    # a passing item is one line; the failing item shows its breach, not its passing checks
    assert sum("all 6 checks pass" in line for line in lines) == 1
    assert "+ 1 passing checks" in text
    assert lines[-1].startswith("SKIPPED 1 (suites/demo.yaml::bot[skipped-qa]): no judge model "
                                "configured: set AZURE_OPENAI_ENDPOINT")  # whole, once per reason
    verbose = render_summary(_wide_run(), verbose=True)
    assert verbose.count("metric_number_") == 7  # every check with -v


def test_passing_run_has_no_breach_section() -> None:
    text = render_summary(run(item(rows=scored("r", [1.0]), checks=[threshold("f1", 1.0, 0.5)])))
    assert "breaches" not in text
    assert "all 1 checks pass" in text


def test_failure_shows_question_expected_and_readable_dict_output() -> None:
    rows = [row("r1", output={"answer": "It renews monthly.", "sources": ["kb-1"]},
                data={"question": "When do plans renew?", "ground_truth": "Plans renew yearly."},
                f1=0.1),
            row("r2", output={"label": "refund", "confidence": 0.4},
                data={"question": "Refund?", "expected": "billing"}, f1=0.2),
            row("r3", f1=0.9)]
    text = render_item_failure(item(rows=rows, checks=[threshold("f1", 0.4, 0.5)]))
    worst = text[text.index("worst rows:"):].splitlines()
    assert worst[1] == "r1 f1 = 0.1"
    assert worst[2] == "      question: When do plans renew?"
    assert worst[3] == "      expected: Plans renew yearly."
    assert worst[4] == "      output:   It renews monthly."
    assert "      output:   label: refund; confidence: 0.4" in worst
    assert "{'" not in text  # no Python repr


def test_control_characters_from_data_are_escaped() -> None:
    check = Check(kind="threshold", metric="f1", aggregate="mean", value=0.1, verdict="fail",
                  min=0.5, message=f"f1 low {CLEAR}", source="thresholds.yaml:1")
    results = run(item("bot", f"v{CLEAR}", rows=[row("r\x07", output=f"x{CLEAR}\u202ey", f1=0.1,
                                                     data={"question": f"q{CLEAR}"})],
                       checks=[check], message=f"boom{CLEAR}"))
    for text in (render_summary(results), render_item_failure(results.items[0])):
        assert "\x1b" not in text
        assert "\x07" not in text
        assert "\u202e" not in text
        assert "\\x1b[2J" in text
    assert "\\u202e" in render_item_failure(results.items[0])
