"""Usage as data: what the runner writes per row is what the verdict totals read back."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.results.usage import (
    USAGE_METRICS,
    CallRecord,
    Ledger,
    usage_metrics,
    usage_totals,
)

CALLS = st.lists(
    st.builds(CallRecord, role=st.just("x"), model=st.just("m"),
              prompt_tokens=st.integers(0, 10_000), completion_tokens=st.integers(0, 10_000),
              cost_usd=st.floats(0, 5, allow_nan=False)),
    max_size=5,
)


@given(rows=st.lists(st.tuples(CALLS, CALLS), max_size=8))
def test_totals_read_back_what_the_rows_recorded(
    rows: list[tuple[list[CallRecord], list[CallRecord]]],
) -> None:
    metrics = []
    for subject_calls, judge_calls in rows:
        row: dict[str, float] = {"latency_ms": 1.0, "f1_score": 0.5}
        row.update(usage_metrics(Ledger("subject", list(subject_calls))))
        row.update(usage_metrics(Ledger("judge", list(judge_calls))))
        metrics.append(row)
    totals = usage_totals(metrics)
    for role, index in (("subject", 0), ("judge", 1)):
        calls = [c for r in rows for c in r[index]]
        expected = {
            "prompt_tokens": float(sum(c.prompt_tokens for c in calls)),
            "completion_tokens": float(sum(c.completion_tokens for c in calls)),
            "cost_usd": sum(math.fsum(c.cost_usd for c in r[index]) for r in rows),
        }
        if any(expected.values()):
            assert totals[role]["prompt_tokens"] == expected["prompt_tokens"]
            assert totals[role]["completion_tokens"] == expected["completion_tokens"]
            assert math.isclose(totals[role]["cost_usd"], expected["cost_usd"], abs_tol=1e-12)
        else:
            assert role not in totals


def test_each_role_has_its_own_metric_names() -> None:
    names = [metric for role in USAGE_METRICS.values() for metric in role.values()]
    assert len(names) == len(set(names)) == 6
    assert USAGE_METRICS["subject"]["cost_usd"] == "cost_usd"  # what thresholds gate
