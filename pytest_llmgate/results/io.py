"""Reading and writing a results file: the JSON (plain or gzip) and, for streamed runs, its
row-per-line companion (`storedrows`), written first so the JSON never points at a missing file.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from pytest_llmgate.results.model import (
    ResultsFormatError,
    RunResult,
    atomic_write_text,
    results_text,
    stored_file,
)
from pytest_llmgate.results.storedrows import attach_rows, store_run

__all__ = ["load_results", "write_results"]


def write_results(run: RunResult, path: Path) -> None:
    """Write the results JSON atomically (gzip when the name ends in .gz); streamed rows go to
    its companion file first (`storedrows.store_run`), so the JSON never points at a file that
    is not there."""
    if stored_file(run) is not None:
        run = store_run(run, path)
    atomic_write_text(path, results_text(run))


def load_results(path: Path | str) -> RunResult:
    """Read a results JSON (plain or .gz) with one-line errors."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ResultsFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ResultsFormatError(f"{path}: not valid JSON: {exc}") from None
    run = RunResult.from_dict(data, source=str(path))
    if isinstance(data, dict) and data.get("rows_file") is not None:
        run = attach_rows(run, data, path)
    return run
