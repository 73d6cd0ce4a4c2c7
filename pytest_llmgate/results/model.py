"""The results data model: frozen `RowResult` / `ItemResult` / `RunResult` and their versioned JSON.

The results JSON is the contract between a run and everything after it (reports, baselines,
`llmgate diff/merge/report`). Format version 1, documented in docs/results-format.md:
`{"format": "pytest-llmgate/results", "version": 1, "run": {...}, "items": [...]}`.
Writes are atomic (temp file + rename) so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import GateError

__all__ = [
    "FORMAT",
    "VERSION",
    "Check",
    "ItemResult",
    "ResultsFormatError",
    "RowResult",
    "RunResult",
]

FORMAT = "pytest-llmgate/results"
VERSION = 1
ROWS_FORMAT = "pytest-llmgate/rows"  # rowstream.FORMAT (that module imports this one)

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"


class ResultsFormatError(GateError, ValueError):
    """A results file is not one we can read (message names the file and the problem)."""


def bound_text(low: float | None, high: float | None) -> str:
    """`>= 0.6 and <= 0.9` style text for a bound ("-" when there is none)."""
    parts = []
    if low is not None:
        parts.append(f">= {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    return " and ".join(parts) or "-"


def _clean(value: Any) -> Any:
    """JSON cannot carry NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class RowResult:
    """One golden row run through one subject variant and scored."""

    id: str
    line: int
    data: Mapping[str, Any]
    inputs: Mapping[str, Any]
    output: Any
    metrics: Mapping[str, float]
    details: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    latency_ms: float = 0.0
    repeat: int = 0

    @property
    def errored(self) -> bool:
        return bool(self.errors)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "line": self.line,
            "data": self.data,
            "inputs": self.inputs,
            "output": self.output,
            "metrics": {k: _clean(v) for k, v in self.metrics.items()},
            "latency_ms": round(self.latency_ms, 3),
        }
        if self.details:
            out["details"] = self.details
        if self.errors:
            out["errors"] = list(self.errors)
        if self.repeat:
            out["repeat"] = self.repeat
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RowResult:
        return cls(
            id=str(d["id"]),
            line=int(d.get("line", 0)),
            data=d.get("data", {}),
            inputs=d.get("inputs", {}),
            output=d.get("output"),
            metrics={k: float(v) for k, v in d.get("metrics", {}).items() if v is not None},
            details=d.get("details", {}),
            errors=tuple(d.get("errors", ())),
            latency_ms=float(d.get("latency_ms", 0.0)),
            repeat=int(d.get("repeat", 0)),
        )


@dataclass(frozen=True)
class Check:
    """One rule applied to one item: a threshold, a regression rule, or the error budget."""

    kind: str  # "threshold" | "regression" | "errors"
    metric: str
    aggregate: str
    value: float | None
    verdict: str  # "pass" | "fail" | "warn" | "error"
    severity: str = "fail"
    min: float | None = None
    max: float | None = None
    baseline: float | None = None
    message: str = ""
    source: str = ""
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    # regression checks: the smallest worsening the rule could detect at its N and observed spread
    # (minimum detectable effect), the level its paired test used, and the p-value after the
    # run's multiplicity correction
    mde: float | None = None
    alpha: float | None = None
    p_adjusted: float | None = None

    @property
    def bound(self) -> str:
        return bound_text(self.min, self.max)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "metric": self.metric,
            "aggregate": self.aggregate,
            "value": _clean(self.value),
            "verdict": self.verdict,
            "severity": self.severity,
            "min": self.min,
            "max": self.max,
            "baseline": _clean(self.baseline),
            "message": self.message,
            "source": self.source,
            **{
                k: _clean(v)
                for k, v in (
                    ("ci_low", self.ci_low),
                    ("ci_high", self.ci_high),
                    ("p_value", self.p_value),
                    ("mde", self.mde),
                    ("alpha", self.alpha),
                    ("p_adjusted", self.p_adjusted),
                )
                if v is not None
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        values: dict[str, Any] = {k: d.get(k) for k in cls.__dataclass_fields__ if k in d}
        return cls(**values)


def _rows_dict(rows: Sequence[RowResult]) -> dict[str, Any]:
    """Rows inline, or (streamed rows) the item's pointer into the run's companion file."""
    stored = getattr(rows, "stored", None)
    if callable(stored):
        return {"rows": [], "rows_stored": stored()}
    return {"rows": [r.to_dict() for r in rows]}


def stored_file(run: RunResult) -> Any:
    """The companion file (`storedrows.RowsFile`) the run's streamed items point into, or None."""
    for item in run.items:
        where = getattr(item.rows, "where", None)
        if where is not None:
            return where
    return None


@dataclass(frozen=True)
class ItemResult:
    """One pytest item: (suite, subject, variant, dataset), its rows, aggregates and verdict."""

    nodeid: str
    suite: str
    subject: str
    variant: str
    dataset: str
    verdict: str
    suite_path: str = ""
    dataset_path: str = ""
    dataset_sha256: str = ""
    dataset_rows: int = 0
    subject_spec: Mapping[str, Any] = field(default_factory=dict)
    evaluators: tuple[Mapping[str, Any], ...] = ()
    # a tuple, or `storedrows.StoredRows` when the rows stream to the companion file
    rows: Sequence[RowResult] = ()
    aggregates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    usage: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    duration_s: float = 0.0
    message: str = ""
    # set when a sharded run took a slice of this item's rows: `llmgate merge` joins the slices
    part: Mapping[str, Any] | None = None
    # the policy in force (thresholds + regression rules): merge and diff re-decide with it
    policy: Mapping[str, Any] | None = None

    @property
    def error_count(self) -> int:
        columns = getattr(self.rows, "columns", None)  # rows kept in the companion file
        if columns is not None:
            return int(columns.errored)
        return sum(1 for r in self.rows if r.errors)

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if c.verdict in ("fail", "error")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "suite": self.suite,
            "subject": self.subject,
            "variant": self.variant,
            "dataset": self.dataset,
            "verdict": self.verdict,
            "message": self.message,
            "suite_path": self.suite_path,
            "dataset_path": self.dataset_path,
            "dataset_sha256": self.dataset_sha256,
            "dataset_rows": self.dataset_rows,
            "subject_spec": self.subject_spec,
            "evaluators": list(self.evaluators),
            "duration_s": round(self.duration_s, 4),
            "error_count": self.error_count,
            "aggregates": {
                m: {k: _clean(v) for k, v in aggs.items()} for m, aggs in self.aggregates.items()
            },
            "checks": [c.to_dict() for c in self.checks],
            "usage": self.usage,
            **_rows_dict(self.rows),
            **({"part": dict(self.part)} if self.part else {}),
            **({"policy": dict(self.policy)} if self.policy is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemResult:
        return cls(
            nodeid=d["nodeid"],
            suite=d.get("suite", ""),
            subject=d.get("subject", ""),
            variant=d.get("variant", ""),
            dataset=d.get("dataset", ""),
            verdict=d.get("verdict", ERROR),
            message=d.get("message", ""),
            suite_path=d.get("suite_path", ""),
            dataset_path=d.get("dataset_path", ""),
            dataset_sha256=d.get("dataset_sha256", ""),
            dataset_rows=int(d.get("dataset_rows", 0)),
            subject_spec=d.get("subject_spec", {}),
            evaluators=tuple(d.get("evaluators", ())),
            rows=tuple(RowResult.from_dict(r) for r in d.get("rows", ()) or ()),
            aggregates={
                m: {k: float(v) for k, v in a.items() if v is not None}
                for m, a in d.get("aggregates", {}).items()
            },
            checks=tuple(Check.from_dict(c) for c in d.get("checks", ())),
            usage=d.get("usage", {}),
            duration_s=float(d.get("duration_s", 0.0)),
            part=d.get("part"),
            policy=d.get("policy"),
        )


@dataclass(frozen=True)
class RunResult:
    """A whole gate run: metadata plus items, in collection order."""

    items: tuple[ItemResult, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    incomplete: bool = False
    warnings: tuple[str, ...] = ()
    # why a loaded run is incomplete when its file does not say so (its rows file is cut short)
    incomplete_reason: str = field(default="", compare=False)

    @property
    def verdict(self) -> str:
        if self.incomplete:
            return FAILED
        if any(i.verdict in (FAILED, ERROR) for i in self.items):
            return FAILED
        return PASSED

    @property
    def kind(self) -> str:
        """`run`, or what made this file something other than a real run (`dry-run`,
        `collect-only`)."""
        return str(self.meta.get("kind") or ("dry-run" if self.meta.get("dry_run") else "run"))

    def not_a_real_run(self) -> str | None:
        """Why this file must not stand for a run's results (as a baseline, or over the last
        real run's results), or None when it may."""
        if self.kind != "run":
            return f"it is a {self.kind} (no rows were run)"
        if self.incomplete and self.incomplete_reason:
            return f"it comes from an incomplete run: {self.incomplete_reason}"
        if self.incomplete:
            return (
                "it comes from an incomplete run "
                "(interrupted, stopped early, or xdist workers were lost)"
            )
        if not self.items:
            return "it has no items"
        errored = [i.nodeid for i in self.items if i.verdict == ERROR]
        if errored:
            more = f" and {len(errored) - 3} more" if len(errored) > 3 else ""
            shown = ", ".join(errored[:3]) + more
            return f"{len(errored)} item(s) errored ({shown})"
        if all(i.verdict == SKIPPED for i in self.items):
            return "every item was skipped"
        return None

    def item(self, nodeid: str) -> ItemResult | None:
        for item in self.items:
            if item.nodeid == nodeid:
                return item
        return None

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.verdict] = counts.get(item.verdict, 0) + 1
        return {
            "format": FORMAT,
            "version": VERSION,
            "verdict": self.verdict,
            "incomplete": self.incomplete,
            "counts": counts,
            "run": dict(self.meta),
            "warnings": list(self.warnings),
            **_rows_file_dict(self),
            "items": [i.to_dict() for i in self.items],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "<results>") -> RunResult:
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            raise ResultsFormatError(f"{source}: not a pytest-llmgate results file")
        version = d.get("version")
        if version != VERSION:
            raise ResultsFormatError(
                f"{source}: results format version {version!r} is not supported "
                f"(expected {VERSION})"
            )
        try:
            items = tuple(ItemResult.from_dict(i) for i in d.get("items", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsFormatError(f"{source}: malformed item: {exc}") from None
        return cls(
            items=items,
            meta=d.get("run", {}),
            incomplete=bool(d.get("incomplete", False)),
            warnings=tuple(d.get("warnings", ())),
        )


def _rows_file_dict(run: RunResult) -> dict[str, Any]:
    where = stored_file(run)
    if where is None:
        return {}
    if any(getattr(i.rows, "where", where) is not where for i in run.items):
        # one results file names one rows file: `write_results` gathers the rows there first
        raise ValueError("the run's streamed rows are in several rows files: write it with "
                         "write_results")
    return {"rows_file": {"name": where.path.name, "format": ROWS_FORMAT, "rows": where.rows}}


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            data = text.encode("utf-8")
            if path.suffix == ".gz":
                data = gzip.compress(data, compresslevel=6)
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonable(value: Any) -> Any:
    """A JSON stand-in for what subjects may return beyond JSON types (dataclasses, pydantic
    models, bytes, sets, ...), so an unusual output is recorded instead of crashing the run."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return value.model_dump()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def json_safe(value: Any) -> Any:
    """`value` as plain JSON types (see `jsonable`); cheap for the usual str/number outputs."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.loads(json.dumps(value, default=jsonable))


def results_text(run: RunResult) -> str:
    """The results JSON of a run, as written to disk."""
    return json.dumps(run.to_dict(), ensure_ascii=False, separators=(",", ":"), default=jsonable)
