"""The one decision path: how an item's rows become its verdict, and how a run's items become the
run's verdict. Every surface calls these two functions and nothing else decides.

- `decide_item` (while an item runs, in the pytest session, the Python API and `llmgate merge`):
  thresholds, the error budget and item-level metrics (evaluation-flow aggregation) over the rows.
  The policy in force is recorded in the item, so anything later can re-decide it exactly.
- `decide_run` (once per run, in the pytest session, `llmgate merge` and `llmgate diff`): joins each
  item with its baseline item, adds the regression checks (decided across the whole run, so the
  family-wise false-alarm rate of the many metric x item tests is controlled), and re-derives the
  item verdicts from their checks. Regressions are a property of the run against a baseline, as in
  pytest-benchmark's `--benchmark-compare-fail`: an item's pytest outcome says whether it met its
  thresholds; the run fails when a regression is found.

Reports only render what these functions decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pytest_llmgate.policy_data import policy_from_dict, policy_to_dict
from pytest_llmgate.results import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    Check,
    ItemResult,
    RowResult,
    RunResult,
)
from pytest_llmgate.stats import seed_for
from pytest_llmgate.thresholds import Policy

__all__ = [
    "FAILING",
    "ItemDecision",
    "decide_item",
    "decide_run",
    "item_verdict",
    "usage_of",
]

# check verdicts that fail an item (warn never does)
FAILING = frozenset({"fail", "error", "inconclusive"})


@dataclass(frozen=True)
class ItemDecision:
    """What `decide_item` decided: the fields of an `ItemResult` that depend on the rows."""

    verdict: str
    checks: tuple[Check, ...]
    notes: tuple[str, ...]
    aggregates: Mapping[str, Mapping[str, float]]
    usage: Mapping[str, Mapping[str, float]]
    policy: Mapping[str, Any]

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for `ItemResult` / `dataclasses.replace`."""
        return dict(
            verdict=self.verdict,
            checks=self.checks,
            message="; ".join(self.notes),
            aggregates=self.aggregates,
            usage=self.usage,
            policy=self.policy,
        )


def usage_of(rows: Sequence[RowResult]) -> dict[str, dict[str, float]]:
    """Token and cost totals of the subject's and the judges' model calls."""
    totals: dict[str, dict[str, float]] = {}
    names = ("prompt_tokens", "completion_tokens", "cost_usd")
    for prefix, role in (("", "subject"), ("judge_", "judge")):
        values = [sum(r.metrics.get(prefix + k, 0.0) for r in rows) for k in names]
        if any(values):
            totals[role] = dict(zip(names, values, strict=True))
    return totals


def decide_item(
    rows: Sequence[RowResult],
    policy: Policy,
    *,
    nodeid: str,
    item_metrics: Mapping[str, float] | None = None,
    item_errors: Sequence[str] = (),
) -> ItemDecision:
    """Decide one item from its rows: thresholds, error budget, item-level metrics."""
    from pytest_llmgate.gate import aggregates_for, judge

    extra = [
        Check(
            kind="errors",
            metric="aggregation",
            aggregate="item",
            value=None,
            verdict="error",
            message=text,
        )
        for text in item_errors
    ]
    values = dict(item_metrics or {})
    verdict = judge(rows, policy, extra, seed=seed_for(nodeid), item_metrics=values)
    return ItemDecision(
        verdict=verdict.verdict,
        checks=verdict.checks,
        notes=verdict.notes,
        aggregates={
            **aggregates_for(rows),
            **{name: {"value": value} for name, value in values.items()},
        },
        usage=usage_of(rows),
        policy=policy_to_dict(policy),
    )


def item_verdict(item: ItemResult, checks: Sequence[Check]) -> str:
    """An item's verdict from its checks. Skipped and errored items keep their verdict: an item
    that could not run has nothing a check could pass."""
    if item.verdict in (SKIPPED, ERROR):
        return item.verdict
    if not item.rows and not item.aggregates:
        return ERROR
    return FAILED if any(c.verdict in FAILING for c in checks) else PASSED


def _regression_checks(item: ItemResult, baseline_item: ItemResult | None) -> list[Check]:
    from pytest_llmgate.compare import regression_checks

    if item.verdict in (SKIPPED, ERROR) or item.policy is None:
        return []
    policy = policy_from_dict(item.policy)
    return regression_checks(
        item.rows, baseline_item, policy, dataset_sha256=item.dataset_sha256
    )


def decide_run(
    run: RunResult,
    baseline: RunResult | None,
    *,
    correction: str | None = None,
) -> RunResult:
    """The run with every item's regression checks (re)decided against `baseline`.

    Threshold checks stay as `decide_item` made them; regression checks are recomputed from the
    item's recorded policy, then corrected for multiplicity across the run (Holm by default, or the
    policy's `regression.correction`).
    """
    base_items = {i.nodeid: i for i in baseline.items} if baseline is not None else {}
    per_item: list[tuple[ItemResult, list[Check], list[Check]]] = []
    for item in run.items:
        kept = [c for c in item.checks if c.kind != "regression"]
        regressions = (
            _regression_checks(item, base_items.get(item.nodeid)) if baseline is not None else []
        )
        per_item.append((item, kept, regressions))
    corrected = _correct(per_item, correction or _correction_of(run))
    items = []
    for (item, kept, _), regressions in zip(per_item, corrected, strict=True):
        checks = [*kept, *regressions]
        items.append(replace(item, checks=tuple(checks), verdict=item_verdict(item, checks)))
    meta = dict(run.meta)
    if baseline is not None:
        meta["baseline"] = _baseline_label(baseline)
    return replace(run, items=tuple(items), meta=meta)


def _correction_of(run: RunResult) -> str:
    """The multiplicity correction the run's policies ask for (the strictest wins)."""
    methods = {
        str((i.policy or {}).get("correction") or "holm") for i in run.items if i.policy
    }
    for method in ("bonferroni", "holm", "bh", "none"):
        if method in methods:
            return method
    return "holm"


def _correct(
    per_item: Sequence[tuple[ItemResult, list[Check], list[Check]]], method: str
) -> list[list[Check]]:
    """Adjust the p-values of every significance-tested regression check of the run together."""
    from pytest_llmgate.multiplicity import apply_correction

    flat: list[Check] = []
    alphas: list[float | None] = []
    for item, _, checks in per_item:
        rules = (item.policy or {}).get("regression", {})
        for check in checks:
            flat.append(check)
            alpha = (rules.get(check.metric) or {}).get("significance")
            alphas.append(float(alpha) if alpha is not None else None)
    adjusted = iter(apply_correction(flat, method, alphas))
    return [[next(adjusted) for _ in checks] for _, _, checks in per_item]


def _baseline_label(baseline: RunResult) -> dict[str, Any]:
    git = baseline.meta.get("git") or {}
    return {
        "commit": git.get("commit"),
        "branch": git.get("branch"),
        "finished_at": baseline.meta.get("finished_at"),
    }


def reapply(item: ItemResult, rows: Sequence[RowResult]) -> ItemResult:
    """Re-decide an item over `rows` with the policy it recorded (merging row slices)."""
    policy = policy_from_dict(item.policy or {})
    decision = decide_item(rows, policy, nodeid=item.nodeid)
    return replace(item, rows=tuple(rows), **decision.fields())
