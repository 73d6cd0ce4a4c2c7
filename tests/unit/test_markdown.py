"""The PR comment: verdict line, diff table semantics, escaping of hostile text, size limit."""

from __future__ import annotations

import re

import pytest
from llmgate_runs import PAYLOAD, item, row, run, scored, threshold

from pytest_llmgate.compare import regression_checks
from pytest_llmgate.reporting.markdown import COMMENT_LIMIT, MARKER, md_escape, render_markdown
from pytest_llmgate.thresholds import Policy, RegressionRule


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


def test_without_baseline_lists_checks_and_failing_items() -> None:
    results = run(
        item("bot", "good", rows=scored("r", [0.9, 0.8]), checks=[threshold("f1", 0.85, 0.5)]),
        item("bot", "bad", rows=[row("x", output=PAYLOAD, f1=0.1), row("y", f1=0.3),
                                 row("z", errors=["timeout after 30s"])],
             checks=[threshold("f1", 0.2, 0.5)]),
    )
    text = render_markdown(results, artifacts=["report.html", "junit.xml"])
    assert text.startswith(MARKER + "\n")
    assert "\u274c **LLM gate failed** \u2014 1 of 2 item(s) failed" in text
    rows = _table_rows(text, "item")
    assert rows[0][0] == "suites/demo.yaml::bot\\[bad-qa\\]"
    assert rows[0][2] == "**0.2**"  # the breach is bold
    assert rows[0][4] == "**FAIL**"
    assert rows[1][4] == "pass"
    worst = _table_rows(text, "row")
    assert [r[0] for r in worst] == ["z", "x", "y"]  # errors first, then the lowest scores
    assert worst[0][2] == "timeout after 30s"
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
    assert "**Cost** &#36;0.0200 (\u25bc \u2212&#36;0.0200 vs baseline \U0001f7e2)" in text
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
    assert "([workflow run](https://github.com/o/r/actions/runs/1))" in ok
    bad = render_markdown(results, run_url="https://x.test/a)(javascript:alert(1)")
    assert "javascript" not in bad
