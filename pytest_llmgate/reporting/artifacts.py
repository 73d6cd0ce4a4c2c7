"""Write the requested report files once per run (JUnit, HTML, Markdown, CSV), each atomically.

Called by the session after the results JSON is written; `llmgate report` uses the same renderers.
When `GITHUB_STEP_SUMMARY` is set (GitHub Actions), the Markdown is appended to the job summary too.
Only the workflow run's public coordinates are read from the environment, never anything else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmgate.reporting.rowbudget import DEFAULT_ROW_BUDGET
from pytest_llmgate.results.model import RunResult, atomic_write_text
from pytest_llmgate.verdict.compare import RunDiff, diff_runs

if TYPE_CHECKING:
    from pytest_llmgate.plugin.options import Settings

__all__ = ["github_run_url", "write_reports", "write_selected"]


def github_run_url(environ: dict[str, str] | None = None) -> str:
    """The Actions run page, when running on GitHub Actions (empty otherwise)."""
    env = os.environ if environ is None else environ
    server, repo, run_id = (env.get(k, "") for k in
                            ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if not (server.startswith("https://") and repo and run_id.isdigit()):
        return ""
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"


def write_selected(
    run: RunResult,
    baseline: RunResult | None,
    *,
    junit: Path | None = None,
    html: Path | None = None,
    md: Path | None = None,
    csv: Path | None = None,
    extra_artifacts: tuple[str, ...] = (),
    step_summary: bool = True,
    diff: RunDiff | None = None,
    html_rows: int | None = DEFAULT_ROW_BUDGET,
) -> list[Path]:
    """Render and write each requested file; returns the paths written. The HTML embeds at
    most `html_rows` rows (None: all)."""
    if diff is None and baseline is not None:
        diff = diff_runs(run, baseline)
    written: list[Path] = []
    names = [*extra_artifacts, *(p.name for p in (html, junit, csv) if p is not None)]
    if junit is not None:
        from pytest_llmgate.reporting.junit import render_junit

        atomic_write_text(junit, render_junit(run, diff=diff))
        written.append(junit)
    if html is not None:
        from pytest_llmgate.reporting.html import render_html

        atomic_write_text(html, render_html(run, diff=diff, row_budget=html_rows))
        written.append(html)
    if csv is not None:
        from pytest_llmgate.reporting.csv import render_csv

        atomic_write_text(csv, render_csv(run))
        written.append(csv)
    summary = os.environ.get("GITHUB_STEP_SUMMARY", "") if step_summary else ""
    if md is not None or summary:
        from pytest_llmgate.reporting.markdown import render_markdown

        text = render_markdown(run, artifacts=tuple(names), run_url=github_run_url(), diff=diff)
        if md is not None:
            atomic_write_text(md, text)
            written.append(md)
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
    return written


def write_reports(run: RunResult, settings: Settings, baseline: RunResult | None = None,
                  diff: RunDiff | None = None) -> list[Path]:
    """The plugin's entry point: write what `--llm-gate-junit/html/md/csv` asked for (the session
    has loaded the baseline and computed the diff already)."""
    return write_selected(
        run, baseline,
        junit=settings.junit_path, html=settings.html_path, md=settings.md_path,
        csv=settings.csv_path, extra_artifacts=(settings.json_path.name,), diff=diff,
        html_rows=settings.html_rows,
    )
