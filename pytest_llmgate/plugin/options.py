"""Every command-line option and ini key, resolved once into a frozen `Settings`.

Option values stay plain strings/ints so pytest-xdist can ship them to workers; validation happens
in `type=` callables (argparse errors name the option) and in `Settings.from_config`.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "CACHE_MODES",
    "DEFAULT_HTML_ROWS",
    "DEFAULT_TIMEOUT_S",
    "Settings",
    "add_options",
    "gate_enabled",
    "html_rows",
]

CACHE_MODES = ("rw", "ro", "off", "refresh")
DEFAULT_DIR = ".llmgate"
# seconds one subject or evaluator call may take when it sets no timeout: of its own; long enough
# for a slow model with retries, short enough that a stuck call cannot hold a CI job for hours
DEFAULT_TIMEOUT_S = 300.0
# items with at least this many row runs stream them to the companion file (rowstream): the
# 100k-row item held 549 MiB in memory; streamed results equal in-memory ones exactly
DEFAULT_STREAM_ROWS = 10_000
# rows the HTML report embeds at most (reporting.rowbudget.DEFAULT_ROW_BUDGET, not imported so
# that the entry point stays cheap; a unit test keeps the two equal)
DEFAULT_HTML_ROWS = 20_000


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _cache_mode(text: str) -> str:
    if text not in CACHE_MODES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(CACHE_MODES)}, got {text!r}")
    return text


def _timeout(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return text


def _shard(text: str) -> str:
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected I/N such as 1/4, got {text!r}")
    if not 1 <= int(index) <= int(count):
        raise argparse.ArgumentTypeError(f"shard index must be between 1 and N, got {text!r}")
    return text


def _stream_rows(text: str) -> str:
    if text == "off":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a row count (1 streams every item) or off, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive row count or off, got {text!r}")
    return text


def html_rows(text: str) -> str:
    """`--llm-gate-html-rows`: a positive row count, or all."""
    from pytest_llmgate.reporting.rowbudget import parse_row_budget

    try:
        value = parse_row_budget(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return "all" if value is None else str(value)


def add_options(parser: pytest.Parser) -> None:
    """Register options and ini keys; cheap, runs on every pytest invocation."""
    group = parser.getgroup("llm-gate", "LLM quality gate (pytest-llmgate)")
    group.addoption(
        "--llm-gate",
        action="store_true",
        default=None,
        help="collect suite files (suites/*.yaml with a top-level 'suite:' key) and gate them.",
    )
    group.addoption(
        "--llm-gate-thresholds",
        metavar="PATH",
        default=None,
        help="threshold policy file (default: thresholds.yaml in the rootdir).",
    )
    group.addoption(
        "--llm-gate-json",
        metavar="PATH",
        default=None,
        help=f"results JSON path (default: {DEFAULT_DIR}/results.json).",
    )
    group.addoption(
        "--llm-gate-junit",
        metavar="PATH",
        default=None,
        help="write a JUnit XML file of gate items with metrics as properties.",
    )
    group.addoption(
        "--llm-gate-html", metavar="PATH", default=None, help="write a self-contained HTML report."
    )
    group.addoption(
        "--llm-gate-html-rows",
        metavar="N",
        type=html_rows,
        default=None,
        help=f"rows the HTML report embeds at most (default {DEFAULT_HTML_ROWS}; all: every "
        f"row); an item over its share shows its errored, failing and worst rows and a sample, "
        f"and names the file with the rest (ini llm_gate_html_rows).",
    )
    group.addoption(
        "--llm-gate-md",
        metavar="PATH",
        default=None,
        help="write the Markdown metric diff for pull request comments.",
    )
    group.addoption(
        "--llm-gate-csv", metavar="PATH", default=None, help="write per-row scores as CSV."
    )
    group.addoption(
        "--llm-gate-baseline",
        metavar="PATH",
        default=None,
        help="compare with an earlier results JSON and apply regression rules.",
    )
    group.addoption(
        "--llm-gate-save",
        metavar="PATH",
        default=None,
        help="also write this run's results as a baseline file.",
    )
    group.addoption(
        "--llm-gate-env",
        metavar="NAME",
        default=None,
        help="apply experiment.NAME.yaml overlays to Prompt Flow experiment.yaml files.",
    )
    group.addoption(
        "--llm-gate-concurrency",
        metavar="N",
        type=_positive_int,
        default=None,
        help="rows run at once per item (default 16; ini llm_gate_concurrency).",
    )
    group.addoption(
        "--llm-gate-timeout",
        metavar="SECONDS",
        type=_timeout,
        default=None,
        help=f"time limit of one subject or evaluator call without its own timeout: "
        f"(default {DEFAULT_TIMEOUT_S:g}; ini llm_gate_timeout).",
    )
    group.addoption(
        "--llm-gate-limit",
        metavar="N",
        type=_positive_int,
        default=None,
        help="use only the first N rows of every dataset (quick runs).",
    )
    group.addoption(
        "--llm-gate-cache",
        metavar="MODE",
        type=_cache_mode,
        default=None,
        help="model call cache: rw (default), ro (a miss is an error), off, refresh.",
    )
    group.addoption(
        "--llm-gate-cache-dir",
        metavar="DIR",
        default=None,
        help=f"cache directory (default: {DEFAULT_DIR}/cache).",
    )
    group.addoption(
        "--llm-gate-require-models",
        action="store_true",
        default=None,
        help="fail, instead of skip, items that need a model when none is configured.",
    )
    group.addoption(
        "--llm-gate-allow-skip",
        action="store_true",
        default=None,
        help="in CI (the CI environment variable is set), skip instead of fail the items that "
        "need a model or connection that is not configured.",
    )
    group.addoption(
        "--llm-gate-overwrite-results",
        action="store_true",
        default=None,
        help="write a dry run, collect-only, empty, incomplete or errored run over the results "
        "path even when it holds a complete run (by default it goes beside it).",
    )
    group.addoption(
        "--llm-gate-dry-run",
        action="store_true",
        default=None,
        help="print the calls a run would make and their estimated cost; call nothing.",
    )
    group.addoption(
        "--llm-gate-shard",
        metavar="I/N",
        type=_shard,
        default=None,
        help="run a deterministic slice I of N of the items (CI matrices).",
    )
    group.addoption(
        "--llm-gate-stream-rows",
        metavar="N",
        type=_stream_rows,
        default=None,
        help=f"items with at least N rows (x repeats) stream their scored rows to "
        f"<results>.rows.jsonl.gz instead of holding them in memory (default "
        f"{DEFAULT_STREAM_ROWS}; off: never; ini llm_gate_stream_rows).",
    )
    group.addoption(
        "--llm-gate-redact-outputs",
        action="store_true",
        default=None,
        help="mask personal data and secrets in outputs, inputs and rows in every artifact.",
    )
    group.addoption(
        "--llm-gate-repeat",
        metavar="N",
        type=_positive_int,
        default=None,
        help="run every row N times (independent samples; overrides the suites' repeat:).",
    )
    group.addoption(
        "--llm-gate-progress",
        choices=("auto", "on", "off"),
        default=None,
        help="per-item progress on the terminal (auto: only on a tty, not in CI).",
    )
    group.addoption(
        "--llm-gate-compare-variants",
        action="store_true",
        default=False,
        help="print the A/B verdict between the variants of each subject (paired difference, "
        "interval, p-value) in the terminal summary.",
    )

    parser.addini(
        "llm_gate", "enable the LLM gate (same as --llm-gate)", type="bool", default=False
    )
    parser.addini("llm_gate_thresholds", "threshold policy file", default="")
    parser.addini("llm_gate_json", "results JSON path", default="")
    parser.addini("llm_gate_concurrency", "rows run at once per item", default="16")
    parser.addini(
        "llm_gate_timeout", "seconds per subject/evaluator call without its own timeout:",
        default="",
    )
    parser.addini(
        "llm_gate_stream_rows", "stream rows of items with at least this many (or off)",
        default="",
    )
    parser.addini(
        "llm_gate_html_rows", "rows the HTML report embeds at most (or all)", default=""
    )
    parser.addini("llm_gate_cache", "model call cache mode", default="rw")
    parser.addini("llm_gate_cache_dir", "model call cache directory", default="")
    parser.addini(
        "llm_gate_redact_outputs", "mask PII/secrets in artifacts", type="bool", default=False
    )
    parser.addini("llm_gate_max_error_rate", "default max error rate per item", default="0")
    parser.addini(
        "llm_gate_allow_skip",
        "in CI, skip (not fail) items whose model or connection is not configured",
        type="bool",
        default=False,
    )


def gate_enabled(config: pytest.Config) -> bool:
    """True when --llm-gate or ini llm_gate is set (cheap: no imports)."""
    flag = config.getoption("llm_gate", default=None)
    if flag is not None:
        return bool(flag)
    return bool(config.getini("llm_gate"))


def _opt(config: pytest.Config, name: str, ini: str | None = None) -> Any:
    value = config.getoption(name, default=None)
    if value is None and ini is not None:
        raw = config.getini(ini)
        value = raw if raw not in ("", None) else None
    return value


def _int_ini(config: pytest.Config, name: str, ini: str, default: int) -> int:
    value = _opt(config, name, ini)
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"ini {ini}: expected an integer, got {value!r}") from None
    if number < 1:
        raise pytest.UsageError(f"ini {ini}: expected a positive integer, got {value!r}")
    return number


@dataclass(frozen=True)
class Settings:
    """Resolved run settings (CLI > ini > defaults)."""

    rootdir: Path
    thresholds_path: Path | None
    thresholds_explicit: bool
    json_path: Path
    junit_path: Path | None
    html_path: Path | None
    md_path: Path | None
    csv_path: Path | None
    baseline_path: Path | None
    save_path: Path | None
    concurrency: int
    limit: int | None
    cache_mode: str
    cache_dir: Path
    require_models: bool
    dry_run: bool
    shard: tuple[int, int] | None
    progress: str
    max_error_rate: float
    repeat: int | None = None
    env: str | None = None
    redact_outputs: bool = False
    allow_skip: bool = False  # in CI, items with an unconfigured model/connection may skip
    overwrite_results: bool = False
    collect_only: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    stream_rows: int | None = DEFAULT_STREAM_ROWS  # None: never stream
    html_rows: int | None = DEFAULT_HTML_ROWS  # None: every row

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        root = Path(str(config.rootpath))

        def path(name: str, ini: str | None = None) -> Path | None:
            value = _opt(config, name, ini)
            if value is None:
                return None
            p = Path(os.path.expanduser(str(value)))
            return p if p.is_absolute() else Path(config.invocation_params.dir) / p

        thresholds = path("llm_gate_thresholds", "llm_gate_thresholds")
        explicit = thresholds is not None
        if thresholds is None:
            candidate = root / "thresholds.yaml"
            thresholds = candidate if candidate.is_file() else None
        elif not thresholds.is_file():
            raise pytest.UsageError(f"--llm-gate-thresholds: file not found: {thresholds}")

        cache_mode = str(_opt(config, "llm_gate_cache", "llm_gate_cache") or "rw")
        if cache_mode not in CACHE_MODES:
            raise pytest.UsageError(
                f"ini llm_gate_cache: expected one of {', '.join(CACHE_MODES)}, got {cache_mode!r}"
            )
        shard_text = _opt(config, "llm_gate_shard")
        shard = None
        if shard_text:
            i, _, n = str(shard_text).partition("/")
            shard = (int(i), int(n))
        max_error_rate_text = config.getini("llm_gate_max_error_rate") or "0"
        try:
            max_error_rate = float(max_error_rate_text)
        except ValueError:
            raise pytest.UsageError(
                f"ini llm_gate_max_error_rate: expected a number, got {max_error_rate_text!r}"
            ) from None
        progress = str(_opt(config, "llm_gate_progress") or "auto")
        allow_skip = bool(
            _opt(config, "llm_gate_allow_skip") or config.getini("llm_gate_allow_skip")
        )
        timeout_text = _opt(config, "llm_gate_timeout", "llm_gate_timeout")
        timeout_s = DEFAULT_TIMEOUT_S
        if timeout_text is not None:
            try:
                timeout_s = float(_timeout(str(timeout_text)))
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"ini llm_gate_timeout: {exc}") from None
        stream_text = str(_opt(config, "llm_gate_stream_rows", "llm_gate_stream_rows") or "")
        stream_rows: int | None = DEFAULT_STREAM_ROWS
        if stream_text:
            try:
                stream_text = _stream_rows(stream_text.strip())
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"ini llm_gate_stream_rows: {exc}") from None
            stream_rows = None if stream_text == "off" else int(stream_text)
        html_text = str(_opt(config, "llm_gate_html_rows", "llm_gate_html_rows") or "")
        html_budget: int | None = DEFAULT_HTML_ROWS
        if html_text:
            try:
                html_text = html_rows(html_text)
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"ini llm_gate_html_rows: {exc}") from None
            html_budget = None if html_text == "all" else int(html_text)
        return cls(
            rootdir=root,
            thresholds_path=thresholds,
            thresholds_explicit=explicit,
            json_path=path("llm_gate_json", "llm_gate_json") or root / DEFAULT_DIR / "results.json",
            junit_path=path("llm_gate_junit"),
            html_path=path("llm_gate_html"),
            md_path=path("llm_gate_md"),
            csv_path=path("llm_gate_csv"),
            baseline_path=path("llm_gate_baseline"),
            save_path=path("llm_gate_save"),
            concurrency=_int_ini(config, "llm_gate_concurrency", "llm_gate_concurrency", 16),
            limit=_opt(config, "llm_gate_limit"),
            cache_mode=cache_mode,
            cache_dir=path("llm_gate_cache_dir", "llm_gate_cache_dir")
            or root / DEFAULT_DIR / "cache",
            require_models=bool(_opt(config, "llm_gate_require_models")),
            dry_run=bool(_opt(config, "llm_gate_dry_run")),
            shard=shard,
            progress=progress,
            max_error_rate=max_error_rate,
            repeat=_opt(config, "llm_gate_repeat"),
            env=_opt(config, "llm_gate_env"),
            redact_outputs=bool(
                _opt(config, "llm_gate_redact_outputs") or config.getini("llm_gate_redact_outputs")
            ),
            allow_skip=allow_skip,
            overwrite_results=bool(_opt(config, "llm_gate_overwrite_results")),
            collect_only=bool(config.option.collectonly),
            timeout_s=timeout_s,
            stream_rows=stream_rows,
            html_rows=html_budget,
        )
