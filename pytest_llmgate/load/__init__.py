"""The load gate: a suite with a `load:` block sends its prompts to a deployment on a rate or
concurrency schedule and gates latency percentiles, time to first token, output speed,
throughput, 429 and error rates with the same thresholds.yaml, results and reports.

`run_load` is what the session calls for such a suite; `locust` generates a locustfile from the
same suite and reads Locust's CSV statistics back (distributed load). See docs/load.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_llmgate.load._config import LoadSpec, load_spec
from pytest_llmgate.load._driver import Outcome, arrival_times, drive, sender_for
from pytest_llmgate.load._metrics import LoadMetrics, load_item_metrics

__all__ = [
    "LOAD_EVALUATOR",
    "LoadMetrics",
    "LoadSpec",
    "Outcome",
    "arrival_times",
    "drive",
    "load_item_metrics",
    "load_skip_reason",
    "load_spec",
    "load_suite_parts",
    "run_load",
    "sender_for",
]

LOAD_EVALUATOR = "pytest_llmgate.load:LoadMetrics"


def load_suite_parts(doc: Any, entries: list[Any]) -> tuple[LoadSpec, list[Any]]:
    """The `load:` block of a suite and its evaluator entries: none of its own (a load run
    measures the deployment, not the answers), plus `load` for the item-level metrics."""
    from pytest_llmgate.evaluators.base import EvaluatorEntry

    spec = load_spec(doc, ("load",))
    if entries:
        raise doc.error(
            entries[0].key,
            "a load suite runs no evaluators (its rows are requests): remove evaluators: here "
            "and score the answers in a quality suite",
        )
    entry = EvaluatorEntry(name="load", use=LOAD_EVALUATOR, args={}, inputs={}, prefix="",
                           key=("load",))
    return spec, [entry]


def load_skip_reason(subject: Any, variant: str) -> str | None:
    """Why the item cannot run (its model's secrets are not set), as for quality suites."""
    settings = getattr(subject, "_variants", {}).get(variant)
    if settings is None or not hasattr(subject, "_model"):
        return None
    model = subject._model(variant, settings.model)
    return str(model.unavailable_reason()) if not model.available else None


def run_load(spec: LoadSpec, rows: Sequence[Any], subject: Any, variant: str) -> list[Any]:
    """Run one item's load schedule on the gate's event loop; one `RowResult` per request."""
    from pytest_llmgate.engine.loop import run_sync

    if spec.engine == "locust":
        from pytest_llmgate.load.locust import run_locust

        return run_locust(spec, subject, variant, rows, {"workers": spec.workers,
                                                         "users": spec.users})

    async def go() -> list[Any]:
        return await drive(spec, rows, sender_for(subject, variant, spec))

    result: list[Any] = run_sync(go())
    return result
