"""Small hand-built results for the report/compare/CLI unit tests (no gate run needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_llmgate.results.model import Check, ItemResult, RowResult, RunResult
from pytest_llmgate.verdict.gate import aggregates_for

PAYLOAD = (
    "<script>document.title='pwned';window.__pwned=1</script>"
    "<img src=x onerror=\"document.title='pwned';window.__pwned=1\">"
    " | @octocat #1 [click](https://evil.example) ![x](https://evil.example/x.png) `code` $x$"
)


def row(rid: str, output: Any = "ok", errors: Sequence[str] = (), repeat: int = 0,
        data: Mapping[str, Any] | None = None, **metrics: float) -> RowResult:
    return RowResult(
        id=rid, line=1, data=dict(data) if data is not None else {"id": rid, "question": f"q {rid}"},
        inputs={"question": f"q {rid}"}, output=output, metrics=metrics, errors=tuple(errors),
        latency_ms=1.0, repeat=repeat,
    )


def item(
    name: str = "bot",
    variant: str = "v1",
    dataset: str = "qa",
    rows: Sequence[RowResult] = (),
    checks: Sequence[Check] = (),
    verdict: str | None = None,
    sha: str = "a" * 64,
    suite: str = "demo",
    usage: Mapping[str, Mapping[str, float]] | None = None,
    message: str = "",
) -> ItemResult:
    if verdict is None:
        verdict = "failed" if any(c.verdict in ("fail", "error") for c in checks) else "passed"
    return ItemResult(
        nodeid=f"suites/{suite}.yaml::{name}[{variant}-{dataset}]",
        suite=suite, subject=name, variant=variant, dataset=dataset, verdict=verdict,
        suite_path=f"suites/{suite}.yaml", dataset_path=f"golden_datasets/{dataset}.jsonl",
        dataset_sha256=sha, dataset_rows=len(rows), rows=tuple(rows),
        aggregates=aggregates_for(rows), checks=tuple(checks), usage=usage or {},
        duration_s=0.25, message=message,
    )


def threshold(metric: str, value: float | None, low: float | None = None,
              high: float | None = None, verdict: str | None = None,
              aggregate: str = "mean") -> Check:
    if verdict is None:
        ok = value is not None and (low is None or value >= low) and (high is None or value <= high)
        verdict = "pass" if ok else "fail"
    message = "" if verdict == "pass" else f"{metric} {aggregate} = {value}, needs >= {low}"
    return Check(kind="threshold", metric=metric, aggregate=aggregate, value=value,
                 verdict=verdict, min=low, max=high, message=message, source="thresholds.yaml:3")


def run(*items: ItemResult, commit: str = "c0ffee" * 6, incomplete: bool = False,
        warnings: Sequence[str] = ()) -> RunResult:
    return RunResult(items=tuple(items), incomplete=incomplete, warnings=tuple(warnings),
                     meta={"started_at": "2026-01-01T00:00:00+00:00",
                           "git": {"commit": commit, "branch": "main"}})


def scored(prefix: str, values: Sequence[float], metric: str = "f1", **extra: float
           ) -> list[RowResult]:
    return [row(f"{prefix}{i}", output=f"answer {i}", **{metric: v, **extra})
            for i, v in enumerate(values)]
