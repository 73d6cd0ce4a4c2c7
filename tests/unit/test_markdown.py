"""The PR comment: verdict line, diff table semantics, escaping of hostile text, size limit."""

from __future__ import annotations

import re

import pytest
from llmgate_runs import PAYLOAD, item, row, run, scored, threshold

from pytest_llmgate.config.thresholds import Policy, RegressionRule
from pytest_llmgate.reporting.markdown import COMMENT_LIMIT, MARKER, md_escape, render_markdown
from pytest_llmgate.verdict.compare import regression_checks


def _table_rows(text: str, first_header: str) -> list[list[str]]:
    """Cells of the table whose header starts with `| first_header |` (GFM splitting rules)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    out = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        out.append([c.strip() for c in cells])
    return out


def test_md_escape_defuses_markdown_html_mentions_and_links() -> None:
    text = md_escape(PAYLOAD, 1000)
    assert "<" not in text
    assert ">" not in text
    assert re.search(r"(?<!\\)\|", text) is None  # every pipe is escaped: the row stays whole
    assert "@octocat" not in text  # no mention
    assert "@&#8203;octocat" in text
    assert "#1" not in text  # no issue reference
    assert "](" not in text  # no link or image syntax left
    assert "\\[click\\]\\(https:&#8203;//evil.example\\)" in text
    assert "https://" not in text  # no autolink
    assert "$x$" not in text  # no math
    assert "\\`code\\`" in text
    assert "\n" not in md_escape("line one\nline two\r\n| x")


def test_md_escape_truncates_before_escaping() -> None:
    text = md_escape("a" * 500 + "<b>", 50)
    assert text == "a" * 49 + "\u2026"
    assert md_escape("www.evil.example and WWW.x.org") == "www&#8203;.evil.example and WWW&#8203;.x.org"


def test_without_baseline_lists_breaches_first_then_suites_collapsed() -> None:
    results = run(
        item("bot", "good", rows=scored("r", [0.9, 0.8]), checks=[threshold("f1", 0.85, 0.5)]),
        item("bot", "bad", rows=[row("x", output=PAYLOAD, f1=0.1,
                                     data={"question": "q x", "ground_truth": "the truth"}),
                                 row("y", f1=0.3),
                                 row("z", errors=["timeout after 30s"])],
             checks=[threshold("f1", 0.2, 0.5)]),
    )
    text = render_markdown(results, artifacts=["report.html", "junit.xml"])
    assert text.startswith(MARKER + "\n")
    assert "\u274c **LLM gate failed** \u2014 1 of 2 item(s) failed" in text
    [breach] = _table_rows(text, "")  # the first table: breaches only, the passing item absent
    assert breach[1] == "bot\\[bad-qa\\]"
    assert breach[2:5] == ["f1 mean", "**0.2**", "&gt;= 0.5"]
    assert text.index("|  | item |") < text.index("<details>")
    suite = _table_rows(text, "item")  # the full table, inside the suite's <details>
    assert suite[0][0] == "suites/demo.yaml::bot\\[good-qa\\]"
    assert [r[4] for r in suite] == ["pass", "**FAIL**"]
    worst = _table_rows(text, "row")
    assert [r[0] for r in worst] == ["z", "x", "y"]  # errors first, then the lowest scores
    assert worst[0][4] == "timeout after 30s"
    assert worst[1][2:4] == ["q x", "the truth"]  # question and expected next to the output
    assert "<script>" not in text
    assert "<img" not in text
    assert "Artifacts: report.html, junit.xml" in text


def test_diff_table_arrows_and_signs() -> None:
    rule = Policy(regression={"f1": RegressionRule("f1", max_drop=0.05),
                              "cost_usd": RegressionRule("cost_usd", max_rise_pct=20)})
    base = run(item("bot", "v1", rows=scored("r", [0.9, 0.9], cost_usd=0.02),
                    checks=[threshold("f1", 0.9, 0.5)],
                    usage={"subject": {"cost_usd": 0.04}}), commit="b" * 40)
    rows = scored("r", [0.5, 0.6], cost_usd=0.01)
    checks = [threshold("f1", 0.55, 0.5),
              *regression_checks(rows, base.items[0], rule, dataset_sha256="a" * 64)]
    head = run(item("bot", "v1", rows=rows, checks=checks, usage={"subject": {"cost_usd": 0.02}}))
    text = render_markdown(head, base)
    assert "1 regression(s)" in text
    assert "vs baseline main bbbbbbbbbbbb" in text
    table = {r[1]: r for r in _table_rows(text, "item")}
    f1 = table["f1 \\(mean\\)"]
    assert f1[2:4] == ["0.9", "**0.55**"]
    assert f1[4].startswith("\u25bc \u22120.35")  # went down ...
    assert f1[4].endswith("\U0001f534")  # ... which is worse
    assert f1[6] == "**FAIL**"
    cost = table["cost\\_usd \\(mean\\)"]
    assert cost[4].startswith("\u25bc \u22120.01")  # cost went down ...
    assert cost[4].endswith("\U0001f7e2")  # ... which is better
    assert "**Cost** &#36;0.0200 (\u25bc \u2212&#36;0.0200 vs baseline)" in text  # no rule: no colour
    assert "cost\\_usd improved past tolerance" in text


def test_new_removed_and_changed_dataset_notes() -> None:
    base = run(item("bot", "gone", rows=scored("r", [1])), item("bot", "v", rows=scored("r", [1])))
    head = run(item("bot", "fresh", rows=scored("r", [1])),
               item("bot", "v", rows=scored("r", [1, 1]), sha="b" * 64))
    text = render_markdown(head, base)
    assert "**New** (1): suites/demo.yaml::bot\\[fresh-qa\\]" in text
    assert "**Removed** (1): suites/demo.yaml::bot\\[gone-qa\\]" in text
    assert "not like for like: dataset changed" in text


@pytest.mark.parametrize("with_baseline", [False, True])
def test_huge_runs_stay_under_the_comment_limit(with_baseline: bool) -> None:
    items = [item("bot", f"v{i}", dataset=f"d{i % 7}",
                  rows=[row(f"r{j}", output=PAYLOAD * 20, f1=0.1, contains=0.0) for j in range(3)],
                  checks=[threshold("f1", 0.1, 0.5), threshold("contains", 0.0, 0.9)])
             for i in range(600)]
    head = run(*items, warnings=["w" * 400] * 30)
    base = run(*[item("bot", f"v{i}", dataset=f"d{i % 7}", rows=scored("r", [0.9] * 3))
                 for i in range(600)]) if with_baseline else None
    text = render_markdown(head, base, artifacts=["report.html"])
    assert len(text) < COMMENT_LIMIT
    assert "Truncated to stay under GitHub's comment limit" in text or "more row(s) not shown" in text
    assert "more failing item(s) not shown" in text or "more row(s) not shown" in text
    assert text.count("| ") > 50  # the budget went to content, not only to notes
    assert "Artifacts: report.html" in text  # the tail always fits


def test_incomplete_and_passing_headlines() -> None:
    assert "**LLM gate: incomplete run**" in render_markdown(run(item(), incomplete=True))
    text = render_markdown(run(item(rows=scored("r", [1]), checks=[threshold("f1", 1, 0.5)])))
    assert "\u2705 **LLM gate passed** \u2014 1 item(s)" in text


def test_run_url_must_be_plain_https() -> None:
    results = run(item())
    ok = render_markdown(results, run_url="https://github.com/o/r/actions/runs/1")
    assert "([download from the workflow run](https://github.com/o/r/actions/runs/1#artifacts))" in ok
    bad = render_markdown(results, run_url="https://x.test/a)(javascript:alert(1)")
    assert "javascript" not in bad


def test_no_red_on_noise_and_bounds_rounded_to_the_metric() -> None:
    base = run(item("bot", "v1", rows=scored("r", [0.9, 0.8], latency_ms=200.0)), commit="b" * 40)
    noisy = scored("r", [0.9, 0.8], latency_ms=200.2)  # +0.1% latency, no rule about it
    rule = Policy(regression={"f1": RegressionRule("f1", max_drop=0.024445)})
    checks = regression_checks(noisy, base.items[0], rule, dataset_sha256="a" * 64)
    text = render_markdown(run(item("bot", "v1", rows=noisy, checks=checks)), base)
    assert "\U0001f534" not in text
    assert "\U0001f7e2" not in text
    assert "No breaches and no regressions." in text
    # a real drop past the rule: red, with the bound at the metric's precision (not 0.825555)
    dropped = scored("r", [0.6, 0.5], latency_ms=200.0)
    checks = regression_checks(dropped, base.items[0], rule, dataset_sha256="a" * 64)
    text = render_markdown(run(item("bot", "v1", rows=dropped, checks=checks)), base)
    [first] = _table_rows(text, "")
    assert first[0] == "\U0001f534"
    assert first[2] == "f1 mean \\(regression\\)"
    assert first[4] == "0.85 \u2192 0.55 \\(allowed &gt;= 0.826\\)"


def test_ab_verdict_names_a_best_variant_only_when_significant() -> None:
    values_a = [0.2, 0.3, 0.25, 0.1, 0.3, 0.2, 0.15, 0.3, 0.2, 0.25]
    better = [v + 0.5 for v in values_a]
    same = [v + (0.01 if i % 2 else -0.01) for i, v in enumerate(values_a)]
    checks = [threshold("f1", 0.5, 0.1)]
    text = render_markdown(run(item("bot", "a", rows=scored("r", values_a), checks=checks),
                               item("bot", "b", rows=scored("r", better), checks=checks)))
    assert "**A/B** demo: bot on qa (a vs b): **b** best on f1" in text
    ab = _table_rows(text, "metric")
    assert ab[0][1:3] == ["b \u2212 a", "+0.5"]
    assert float(ab[0][4]) < 0.05
    text = render_markdown(run(item("bot", "a", rows=scored("r", values_a), checks=checks),
                               item("bot", "b", rows=scored("r", same), checks=checks)))
    assert "(a vs b): no variant is significantly better" in text


FAILING = """
metrics:
  word_overlap: {min: 0.8}
  length_chars: {aggregate: max, max: 10000}
regression:
  word_overlap: {max_drop: 0.05}
  latency_ms: {aggregate: p95, max_rise_pct: 1, severity: warn}
"""


def _first_table(text: str) -> list[list[str]]:
    return _table_rows(text, "") if "|  | item |" in text else []


def test_identical_rerun_has_no_red_and_every_breach_is_in_the_first_table(project) -> None:
    """A failing run (the `first` variant misses the word_overlap bar), saved, then rerun
    unchanged against itself: no 🔴 anywhere; every non-passing check of the results JSON is
    a row of the comment's first table."""
    project.write("thresholds.yaml", FAILING)
    first = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-save",
                                       "base.json")
    assert first.ret == 1
    again = project.pytester.runpytest("--llm-gate", "-p", "no:xdist", "--llm-gate-baseline",
                                       "base.json", "--llm-gate-md", "comment.md")
    assert again.ret == 1
    text = (project.path / "comment.md").read_text("utf-8")
    assert "\U0001f534" not in text
    assert "no regression" in text
    results = project.results()
    expected = {
        (md_escape(i["nodeid"].split("::")[1], 60),
         md_escape(f"{c['metric']} {c['aggregate']}"
                   + (" (regression)" if c["kind"] == "regression" else ""), 60))
        for i in results["items"] for c in i["checks"] if c["verdict"] != "pass"
    }
    assert expected  # the run does breach something
    shown = {(r[1], r[2]) for r in _first_table(text)}
    assert expected == shown
    assert len(shown) == len(_first_table(text))  # and nothing is listed twice
