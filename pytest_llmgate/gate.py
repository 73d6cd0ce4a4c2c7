"""Verdicts: apply a `Policy` to an item's rows and aggregates. Errors fail closed.

A check whose metric has no value (every row errored, or the metric was never produced) is an
`error`, which fails the item like a breach: a gate that cannot measure must not pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_llmgate.results import ERROR, FAILED, PASSED, Check, RowResult, bound_text
from pytest_llmgate.stats import aggregate, pass_rate, summarize
from pytest_llmgate.thresholds import Policy, Rule

__all__ = ["Verdict", "aggregates_for", "judge"]


def _tol(bound: float) -> float:
    return 1e-9 * max(1.0, abs(bound))


def _breaches(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low - _tol(low)) or (
        high is not None and value > high + _tol(high)
    )


def metric_values(rows: Sequence[RowResult], metric: str) -> list[float]:
    return [r.metrics[metric] for r in rows if metric in r.metrics]


def aggregates_for(rows: Sequence[RowResult]) -> dict[str, dict[str, float]]:
    """Standard aggregates of every metric any row produced, in first-seen order."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.metrics))
    return {name: summarize(metric_values(rows, name)) for name in names}


@dataclass(frozen=True)
class Verdict:
    verdict: str
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()


def _rule_value(rule: Rule, rows: Sequence[RowResult]) -> float | None:
    if rule.aggregate == "pass_rate":
        return pass_rate([r.metrics.get(rule.metric) for r in rows], rule.row_min, rule.row_max)
    return aggregate(metric_values(rows, rule.metric), rule.aggregate)


def _rule_check(rule: Rule, rows: Sequence[RowResult], produced: set[str]) -> Check | None:
    base = dict(
        kind="threshold",
        metric=rule.metric,
        aggregate=rule.aggregate,
        severity=rule.severity,
        min=rule.min,
        max=rule.max,
        source=rule.source,
    )
    if rule.metric not in produced:
        if any(r.errors for r in rows):
            return Check(
                value=None,
                verdict="error",  # type: ignore[arg-type]
                message=f"no value for {rule.metric}: the rows that would produce it errored",
                **base,
            )
        if not rule.strict:
            return None
        message = (
            f"metric {rule.metric!r} is not produced by any evaluator of this item "
            f"(produced: {', '.join(sorted(produced)) or 'none'})"
        )
        return Check(value=None, verdict="error", message=message, **base)  # type: ignore[arg-type]
    value = _rule_value(rule, rows)
    if value is None:
        return Check(
            value=None,
            verdict="error",  # type: ignore[arg-type]
            message=f"no value for {rule.metric}: every row errored",
            **base,
        )
    if rule.aggregate == "pass_rate":
        base["aggregate"] = f"pass_rate({bound_text(rule.row_min, rule.row_max)})"
    if _breaches(value, rule.min, rule.max):
        verdict = "fail" if rule.severity == "fail" else "warn"
        return Check(
            value=value,
            verdict=verdict,  # type: ignore[arg-type]
            message=f"{rule.metric} {base['aggregate']} = {value:.4g}, "
            f"needs {bound_text(rule.min, rule.max)}",
            **base,
        )
    return Check(value=value, verdict="pass", **base)  # type: ignore[arg-type]


def judge(rows: Sequence[RowResult], policy: Policy, extra: Sequence[Check] = ()) -> Verdict:
    """Apply thresholds and the error budget; `extra` carries regression checks from compare."""
    produced: set[str] = set()
    for row in rows:
        produced.update(row.metrics)
    checks: list[Check] = []
    errors = sum(1 for r in rows if r.errors)
    rate = errors / len(rows) if rows else 0.0
    if errors:
        breached = rate > policy.max_error_rate + 1e-12
        checks.append(
            Check(
                kind="errors",
                metric="error_rate",
                aggregate="rate",
                value=rate,
                verdict="fail" if breached else "warn",
                max=policy.max_error_rate,
                message=f"{errors} of {len(rows)} rows errored "
                f"(max_error_rate {policy.max_error_rate:g})",
            )
        )
    for metric_rules in policy.rules.values():
        for rule in metric_rules:
            check = _rule_check(rule, rows, produced)
            if check is not None:
                checks.append(check)
    checks.extend(extra)
    failed = any(c.verdict in ("fail", "error") for c in checks)
    if not rows:
        return Verdict(ERROR, tuple(checks), ("no rows to evaluate",))
    return Verdict(FAILED if failed else PASSED, tuple(checks))


def unused_metrics(policy_metrics: Mapping[str, str], produced: set[str]) -> list[str]:
    """Threshold metrics no item produced, with their sources (for the end-of-run warning)."""
    return [
        f"{src}: metric {m!r} matched no item in this run"
        for m, src in policy_metrics.items()
        if m not in produced
    ]
