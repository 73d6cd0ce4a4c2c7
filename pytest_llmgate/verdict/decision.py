"""The one decision path: how an item's rows become its verdict, and how a run's items become the
run's verdict. Every surface calls these functions and nothing else decides.

- `decide_item` (while an item runs: the pytest session, the Python API; and `llmgate merge` for
  row slices): thresholds, the error budget, item-level metrics (evaluation-flow aggregation) and,
  with a baseline, the regression checks. The policy in force is recorded in the item, so anything
  later can re-decide it exactly.
- `decide_run` (the pytest session at the end, `llmgate merge`, `llmgate diff`): re-decides every
  item's regression checks against a baseline with the recorded policy, which gives the same
  checks the item got while it ran when the baseline is the same; and every `compare_variants`
  rule (variant B must not be worse than A), which needs both items of the run.

A pull request is judged by many regression tests at once (metrics x items). Their p-values are
corrected so the run's family-wise false-alarm rate stays at the rules' significance level: Holm
over an item's tests, times the number of items compared with the baseline (a union bound across
items). Each item is decidable as soon as it finishes, which pytest needs to report it, and the
run-level decision gives the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pytest_llmgate.config.thresholds import CompareRule, Policy
from pytest_llmgate.results.model import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    Check,
    ItemResult,
    RowResult,
    RunResult,
)
from pytest_llmgate.results.storedrows import columns_of
from pytest_llmgate.results.usage import USAGE_METRICS, usage_totals
from pytest_llmgate.stats import seed_for
from pytest_llmgate.verdict.policy_data import policy_from_dict, policy_to_dict

__all__ = [
    "FAILING",
    "ItemDecision",
    "comparison_checks",
    "decide_comparisons",
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
    columns = columns_of(rows)  # streamed rows: the same sums from their columns
    if columns is not None:
        names = [metric for role in USAGE_METRICS.values() for metric in role.values()]
        return usage_totals([{name: columns.total(name) for name in names}])
    return usage_totals(r.metrics for r in rows)


def decide_item(
    rows: Sequence[RowResult],
    policy: Policy,
    *,
    nodeid: str,
    item_metrics: Mapping[str, float] | None = None,
    item_errors: Sequence[str] = (),
    baseline_item: ItemResult | None = None,
    dataset_sha256: str = "",
    family: int = 1,
    evaluators: Sequence[Mapping[str, Any]] = (),
) -> ItemDecision:
    """Decide one item from its rows: thresholds, error budget, item-level metrics and, with a
    `baseline_item`, regression checks corrected over `family` compared items."""
    from pytest_llmgate.verdict.gate import aggregates_for, judge

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
    recorded = policy_to_dict(policy)
    extra += regressions(rows, recorded, baseline_item, dataset_sha256, family, evaluators)
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
        policy=recorded,
    )


def regressions(
    rows: Sequence[RowResult],
    policy: Mapping[str, Any],
    baseline_item: ItemResult | None,
    dataset_sha256: str,
    family: int,
    evaluators: Sequence[Mapping[str, Any]] = (),
) -> list[Check]:
    """An item's regression checks against its baseline item, with corrected p-values."""
    if baseline_item is None:
        return []
    from pytest_llmgate.verdict.compare import regression_checks
    from pytest_llmgate.verdict.multiplicity import apply_correction

    checks = regression_checks(
        rows, baseline_item, policy_from_dict(policy), dataset_sha256=dataset_sha256
    )
    method = str(policy.get("correction") or "holm")
    return apply_correction(checks, method, family=family) + _changed_data(
        evaluators, baseline_item
    )


def _changed_data(
    evaluators: Sequence[Mapping[str, Any]], baseline_item: ItemResult
) -> list[Check]:
    """A warning per evaluator whose scoring data differs from the baseline's (METEOR with and
    without WordNet): its scores are not like for like."""
    before = {str(e.get("name")): e.get("data") for e in baseline_item.evaluators}
    out = []
    for spec in evaluators:
        name = str(spec.get("name"))
        if name in before and spec.get("data") != before[name]:
            out.append(
                Check(
                    kind="regression",
                    metric=name,
                    aggregate="data",
                    value=None,
                    verdict="warn",
                    severity="warn",
                    message=f"not like for like: evaluator {name} scored with "
                    f"{spec.get('data') or 'no recorded data'}, the baseline with "
                    f"{before[name] or 'no recorded data'}",
                )
            )
    return out


def item_verdict(item: ItemResult, checks: Sequence[Check]) -> str:
    """An item's verdict from its checks. Skipped and errored items keep their verdict: an item
    that could not run has nothing a check could pass."""
    if item.verdict in (SKIPPED, ERROR):
        return item.verdict
    if not item.rows and not item.aggregates:
        return ERROR
    return FAILED if any(c.verdict in FAILING for c in checks) else PASSED


def comparison_family(nodeids: Sequence[str], baseline: RunResult | None) -> int:
    """How many items of a run are compared with the baseline: the multiplicity across items."""
    if baseline is None:
        return 1
    known = {i.nodeid for i in baseline.items}
    return max(1, sum(1 for n in set(nodeids) if n in known))


def _reference_problem(rule: CompareRule, item: ItemResult, reference: ItemResult | None) -> str:
    where = f"{item.subject} on {item.dataset}"
    if reference is None:
        return f"reference variant {rule.reference!r} of {where} is not in this run"
    if reference.verdict in (SKIPPED, ERROR) or not reference.rows:
        return f"reference variant {rule.reference!r} of {where} {reference.verdict} (no rows)"
    return ""


def comparison_checks(item: ItemResult, reference: ItemResult | None) -> list[Check]:
    """The item's `compare_variants` checks (kind "comparison") against `reference`, the item of
    the same suite, subject and dataset under the rules' reference variant in the same run (the
    caller passes the rules of one reference in `item.policy`): the regression rules and paired
    tests of `compare.regression_checks` with the reference variant as the baseline, corrected
    together. A reference that did not run, or a metric it has no value for, fails closed."""
    from pytest_llmgate.verdict.compare import regression_checks
    from pytest_llmgate.verdict.multiplicity import apply_correction

    recorded = policy_from_dict(item.policy or {})
    if not recorded.compare:
        return []
    out: list[Check] = []
    rules = {rule.metric: rule for rule in recorded.compare}
    found: list[Check] = []
    if reference is not None and not _reference_problem(recorded.compare[0], item, reference):
        found = regression_checks(
            item.rows, reference,
            Policy(regression={m: rule.as_regression() for m, rule in rules.items()}),
            dataset_sha256=item.dataset_sha256,
        )
        found = apply_correction(found, recorded.correction)
    for rule in recorded.compare:
        prefix = f"A/B {rule.candidate} vs {rule.reference}: "
        problem = _reference_problem(rule, item, reference)
        if not problem and not any(c.metric == rule.metric for c in found):
            problem = (f"reference variant {rule.reference!r} has no {rule.metric} "
                       f"{rule.aggregate} to compare with")
        if problem:
            out.append(Check(kind="comparison", metric=rule.metric,
                             aggregate=f"{rule.aggregate} vs {rule.reference}", value=None,
                             verdict="error" if rule.severity == "fail" else "warn",
                             severity=rule.severity, source=rule.source,
                             message=f"{prefix}{problem}: cannot tell whether "
                             f"{rule.candidate!r} is worse"))
    for check in found:
        rule = rules.get(check.metric, recorded.compare[0])  # else the pairing's note
        text = check.message.removeprefix("regression: ")
        text = text.replace("baseline row(s) not in this run",
                            f"row(s) of {rule.reference!r} not in {rule.candidate!r}")
        text = text.replace("not in the baseline", f"not in {rule.reference!r}")
        text = text.replace("in this run (baseline ", f"in {rule.candidate!r} ({rule.reference!r} ")
        out.append(replace(
            check, kind="comparison",
            aggregate=f"{check.aggregate} vs {rule.reference}" if check.metric in rules
            else check.aggregate,
            message=f"A/B {rule.candidate} vs {rule.reference}: {text}" if text else "",
        ))
    return out


def decide_comparisons(run: RunResult) -> RunResult:
    """The run with every item's `compare_variants` checks (re)decided against its reference
    variant's item of the same run."""
    if not any(i.policy and i.policy.get("compare") for i in run.items):
        return run
    by_variant = {(i.suite, i.subject, i.dataset, i.variant): i for i in run.items}
    items = []
    for item in run.items:
        rules = (item.policy or {}).get("compare") or []
        if not rules or item.verdict in (SKIPPED, ERROR):
            items.append(item)
            continue
        kept = [c for c in item.checks if c.kind != "comparison"]
        found: list[Check] = []
        for reference_name in dict.fromkeys(str(r.get("reference")) for r in rules):
            reference = by_variant.get((item.suite, item.subject, item.dataset, reference_name))
            only = {**(item.policy or {}),
                    "compare": [r for r in rules if r.get("reference") == reference_name]}
            found += comparison_checks(replace(item, policy=only), reference)
        checks = [*kept, *found]
        items.append(replace(item, checks=tuple(checks), verdict=item_verdict(item, checks)))
    return replace(run, items=tuple(items))


def decide_run(
    run: RunResult,
    baseline: RunResult | None,
    *,
    family: int | None = None,
) -> RunResult:
    """The run with every item's regression checks (re)decided against `baseline` with the
    policy the item recorded, and its A/B checks against its reference variant. Threshold
    checks stay as `decide_item` made them."""
    run = decide_comparisons(run)
    if baseline is None:
        return run
    base_items = {i.nodeid: i for i in baseline.items}
    if family is None:
        planned = run.meta.get("run_items") or [i.nodeid for i in run.items]
        family = comparison_family(list(planned), baseline)
    items = []
    for item in run.items:
        if item.verdict in (SKIPPED, ERROR) or item.policy is None:
            items.append(item)
            continue
        kept = [c for c in item.checks if c.kind != "regression"]
        found = regressions(
            item.rows,
            item.policy,
            base_items.get(item.nodeid),
            item.dataset_sha256,
            family,
            item.evaluators,
        )
        checks = [*kept, *found]
        items.append(replace(item, checks=tuple(checks), verdict=item_verdict(item, checks)))
    meta = {**run.meta, "baseline": _baseline_label(baseline), "regression_family": family}
    return replace(run, items=tuple(items), meta=meta)


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
    kept = rows if columns_of(rows) is not None else tuple(rows)  # stored rows stay unloaded
    return replace(item, rows=kept, **decision.fields())
