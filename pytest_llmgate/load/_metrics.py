"""Item-level metrics of a load run, computed from its rows (one row per request).

`requests` (sent), `requests_per_s` (successful answers per second of the run's wall time, from
the first send to the last answer), `rate_limited_rate` (429s / requests) and `error_rate`
(error rows / requests). Latency, time to first token and output speed are row metrics, gated
with the usual aggregates (`latency_ms: {aggregate: p95, max: 800}`).

Attached to every load suite as the evaluator `load` so the session's item-level hook
(`aggregate(rows, prefix=)`) gates these numbers with the same thresholds.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_llmgate.errors import EvaluationError

__all__ = ["LoadMetrics", "load_item_metrics"]


def load_item_metrics(rows: Sequence[Any]) -> dict[str, float]:
    """The item-level numbers of a load run (see the module docstring)."""
    total = len(rows)
    if not total:
        return {"requests": 0.0}
    ok = [r for r in rows if not r.errors and not r.metrics.get("rate_limited")]
    limited = sum(1 for r in rows if r.metrics.get("rate_limited"))
    errored = sum(1 for r in rows if r.errors)
    starts = [float(r.details["t_start_s"]) for r in rows if "t_start_s" in r.details]
    ends = [float(r.details["t_end_s"]) for r in rows if "t_end_s" in r.details]
    out = {
        "requests": float(total),
        "rate_limited_rate": limited / total,
        "error_rate": errored / total,
    }
    if starts and ends and max(ends) > min(starts):
        out["requests_per_s"] = len(ok) / (max(ends) - min(starts))
    return out


class LoadMetrics:
    """The `load` evaluator: item-level only (rows are scored by the driver itself)."""

    # item-level numbers, then the row metrics the load driver records for every request (declared
    # here so a policy on them is checked before the run like any evaluator's)
    outputs = (
        "requests",
        "requests_per_s",
        "rate_limited_rate",
        "error_rate",
        "ttft_ms",
        "output_tokens_per_s",
        "rate_limited",
    )
    version = "1"

    def __call__(self, **_: Any) -> Any:
        raise EvaluationError("the load metrics describe a whole load run, not a row")

    def aggregate(self, rows: Sequence[Any], prefix: str = "") -> dict[str, float]:
        # a Locust run brings its own numbers (its CSV statistics): those are the measurement
        measured = {**load_item_metrics(rows), **dict(getattr(rows, "item_metrics", {}))}
        return {prefix + k: v for k, v in measured.items()}
