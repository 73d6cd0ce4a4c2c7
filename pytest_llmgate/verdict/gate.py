"""Verdicts: apply a `Policy` to an item's rows and aggregates. Errors fail closed.

A check whose metric has no value (every row errored, or the metric was never produced) is an
`error`, which fails the item like a breach: a gate that cannot measure must not pass.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmgate.config.thresholds import Policy, Rule
from pytest_llmgate.results.model import ERROR, FAILED, PASSED, Check, RowResult, bound_text
from pytest_llmgate.results.storedrows import MetricGroups, columns_of
from pytest_llmgate.stats import (
    aggregate,
    interval,
    mean_interval,
    metric_range,
    summarize,
    wilson_interval,
)

__all__ = ["Verdict", "aggregates_for", "judge"]


def _tol(bound: float) -> float:
    return 1e-9 * max(1.0, abs(bound))


def _breaches(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low - _tol(low)) or (
        high is not None and value > high + _tol(high)
    )


def aggregates_for(rows: Sequence[RowResult]) -> dict[str, dict[str, float]]:
    """Standard aggregates of every metric any row produced, in first-seen order.

    `ci_low`/`ci_high` are the 95% interval of the mean over golden rows (repeats averaged
    within a row first), so every metric in the results carries its uncertainty.
    """
    names = dict.fromkeys(metric_names(rows))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        groups = present_groups(rows, name)
        means = unit_values(groups, "mean")
        summary = summarize(means)
        # builtin sum over the samples in group order, one at a time (never a list of them)
        summary["sum"] = sum(v for g in groups for v in g)
        summary["count"] = float(sum(len(g) for g in groups))
        ci = mean_interval(means, bounds=metric_range(name))
        if ci is not None:
            summary["ci_low"], summary["ci_high"] = ci
        out[name] = summary
    return out


@dataclass(frozen=True)
class Verdict:
    verdict: str
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()


def metric_names(rows: Sequence[RowResult]) -> list[str]:
    """Every metric any row produced, in first-seen order."""
    columns = columns_of(rows)  # streamed rows: their columns, not the file
    if columns is not None:
        return columns.metric_names()
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row.metrics))
    return list(names)


def errored_rows(rows: Sequence[RowResult]) -> int:
    columns = columns_of(rows)
    if columns is not None:
        return columns.errored
    return sum(1 for r in rows if r.errors)


def row_groups(rows: Sequence[RowResult], metric: str) -> list[list[float | None]]:
    """Values of `metric` per golden row (one entry per repeat; None where the repeat errored)."""
    columns = columns_of(rows)
    if columns is not None:
        return columns.row_groups(metric)
    groups: dict[str, list[float | None]] = {}
    for row in rows:
        groups.setdefault(row.id, []).append(row.metrics.get(metric))
    return list(groups.values())


def _groups(rows: Sequence[RowResult], metric: str) -> Sequence[Sequence[float | None]]:
    """`row_groups`; for stored rows a sequence that builds each golden row's values as it is
    read (`storedrows.MetricGroups`), so a million rows never sit in memory as lists."""
    columns = columns_of(rows)
    if columns is not None:
        return columns.groups(metric)
    return row_groups(rows, metric)


def present_groups(rows: Sequence[RowResult], metric: str) -> Sequence[Sequence[float]]:
    """`row_groups` without the errored repeats' missing values (stored rows: built as read)."""
    columns = columns_of(rows)
    if columns is not None:
        return columns.groups(metric, present=True)  # type: ignore[return-value]
    return [[v for v in g if v is not None] for g in row_groups(rows, metric)]


def unit_values(groups: Sequence[Sequence[float]], name: str) -> Sequence[float]:
    """The values an aggregate is taken over: one per golden row (its repeats averaged), so a
    row re-sampled more often (repeats, adaptive reruns) never weighs more; `sum` and `count`
    add up every sample (a cost is paid per call). Stored rows' groups give an `array('d')`
    (8 bytes a value) of the same floats."""
    stored = isinstance(groups, MetricGroups)
    if name in ("sum", "count"):
        samples = (v for g in groups for v in g)
        return array("d", samples) if stored else list(samples)
    means = (sum(g) / len(g) for g in groups if g)
    return array("d", means) if stored else list(means)


def turn_groups(rows: Sequence[RowResult], metric: str) -> list[list[float | None]]:
    """Values of `metric` per turn (`per: turn` rules): each turn of each conversation row is one
    unit, from the `<metric>_turns` detail a per-turn evaluator records; a row without it counts
    as one unit (its row value, None where it errored)."""
    groups: list[list[float | None]] = []
    for row in rows:
        turns = row.details.get(f"{metric}_turns")
        values = turns.get("values") if isinstance(turns, Mapping) else None
        if isinstance(values, list) and metric in row.metrics:
            groups.extend([float(v)] for v in values)
        else:
            groups.append([row.metrics.get(metric)])
    return groups


def _row_passes(values: Sequence[float | None], rule: Rule) -> bool:
    """k-of-n: a golden row passes when enough of its repeats lie within the row bound."""
    ok = sum(
        1
        for v in values
        if v is not None
        and (rule.row_min is None or v >= rule.row_min)
        and (rule.row_max is None or v <= rule.row_max)
    )
    if rule.pass_k == "any":
        return ok >= 1
    if rule.pass_k == "all":
        return ok == len(values)
    return ok >= min(int(rule.pass_k), len(values))


def _rule_value(
    rule: Rule, rows: Sequence[RowResult], seed: int
) -> tuple[float | None, tuple[float, float] | None]:
    """The rule's aggregate and its confidence interval (None when it cannot be estimated)."""
    per_turn = rule.per == "turn"
    groups = turn_groups(rows, rule.metric) if per_turn else _groups(rows, rule.metric)
    if rule.aggregate == "pass_rate":
        if not groups:
            return None, None
        passed = total = 0
        for group in groups:  # counted as they come: stored rows' groups are built as read
            passed += _row_passes(group, rule)
            total += 1
        return passed / total, wilson_interval(passed, total, rule.confidence)
    present: Sequence[Sequence[float]]
    if per_turn:
        present = [[v for v in g if v is not None] for g in groups]
    else:
        present = present_groups(rows, rule.metric)
    value = aggregate(unit_values(present, rule.aggregate), rule.aggregate)
    bounds = metric_range(rule.metric)
    return value, interval(present, rule.aggregate, rule.confidence, seed=seed, bounds=bounds)


def _decide(rule: Rule, value: float, ci: tuple[float, float] | None) -> tuple[str, float]:
    """pass / fail / inconclusive, and the number the decision was made on.

    A rule on the interval whose interval cannot be estimated (one row; no spread from too few
    rows) is inconclusive: deciding it on the point estimate would claim a certainty it lacks."""
    if rule.on == "value":
        return ("fail" if _breaches(value, rule.min, rule.max) else "pass"), value
    if ci is None:
        return "inconclusive", value
    low, high = ci
    if rule.on == "ci_low":
        return ("fail" if _breaches(low, rule.min, rule.max) else "pass"), low
    if rule.on == "ci_high":
        return ("fail" if _breaches(high, rule.min, rule.max) else "pass"), high
    # on: interval: decided only when the whole interval is on one side of every bound
    low_bad, high_bad = _breaches(low, rule.min, rule.max), _breaches(high, rule.min, rule.max)
    if low_bad and high_bad:
        return "fail", value
    if not low_bad and not high_bad:
        return "pass", value
    return "inconclusive", value


_UNPRICED = {"cost_usd": "unpriced_models", "judge_cost_usd": "judge_unpriced_models"}


def _unpriced(metric: str, rows: Sequence[RowResult]) -> list[str]:
    """Models whose calls a cost metric counted as 0.0 for want of a price (runner's details)."""
    key = _UNPRICED.get(metric)
    if key is None:
        return []
    found: set[str] = set()
    for row in rows:
        names = row.details.get(key) if row.details else None
        if isinstance(names, list):
            found.update(str(n) for n in names)
    return sorted(found)


def _rule_check(
    rule: Rule, rows: Sequence[RowResult], produced: set[str], seed: int = 0
) -> Check | None:
    base: dict[str, Any] = dict(
        kind="threshold",
        metric=rule.metric,
        aggregate=rule.aggregate,
        severity=rule.severity,
        min=rule.min,
        max=rule.max,
        source=rule.source,
    )
    if rule.metric not in produced:
        if errored_rows(rows):
            return Check(
                value=None,
                verdict="error",
                message=f"no value for {rule.metric}: the rows that would produce it errored",
                **base,
            )
        if not rule.strict:
            return None
        message = (
            f"metric {rule.metric!r} is not produced by any evaluator of this item "
            f"(produced: {', '.join(sorted(produced)) or 'none'})"
        )
        return Check(value=None, verdict="error", message=message, **base)
    unpriced = _unpriced(rule.metric, rows)
    if unpriced:
        # a cost counted as 0.0 for a model without a price would pass any cost bound
        return Check(
            value=None,
            verdict="warn" if rule.severity == "warn" else "error",
            message=f"{rule.metric}: no price known for model {', '.join(map(repr, unpriced))} "
            f"(counted as $0): for an Azure deployment name, give its `models:` entry "
            f"`model: <the model behind it>` (or `prices:`)",
            **base,
        )
    value, ci = _rule_value(rule, rows, seed)
    if value is None:
        return Check(
            value=None,
            verdict="error",
            message=f"no value for {rule.metric}: every row errored",
            **base,
        )
    if rule.aggregate == "pass_rate":
        k = "" if rule.pass_k == "all" else f", {rule.pass_k} of n"
        base["aggregate"] = f"pass_rate({bound_text(rule.row_min, rule.row_max)}{k})"
    if rule.on != "value":
        base["aggregate"] += f" [{rule.on}]"
    if rule.per == "turn":
        base["aggregate"] += " per turn"
    if ci is not None:
        base["ci_low"], base["ci_high"] = ci
    outcome, decided_on = _decide(rule, value, ci)
    needs = bound_text(rule.min, rule.max)
    shown = f"{rule.metric} {base['aggregate']} = {value:.4g}"
    if ci is not None:
        shown += (
            f" (95% CI {ci[0]:.4g}..{ci[1]:.4g})"
            if rule.confidence == 0.95
            else (f" ({rule.confidence:.0%} CI {ci[0]:.4g}..{ci[1]:.4g})")
        )
    if outcome == "inconclusive":
        verdict = (
            "warn" if rule.severity == "warn" or rule.on_inconclusive == "warn" else "inconclusive"
        )
        return Check(
            value=value,
            verdict=verdict,
            message=(
                f"{shown}: the interval straddles {needs}; inconclusive "
                if ci is not None
                else f"{shown}: no interval can be estimated (one row, or no spread over too "
                f"few rows), needs {needs}; inconclusive "
            )
            + f"(on_inconclusive: {rule.on_inconclusive})",
            **base,
        )
    if outcome == "fail":
        verdict = "fail" if rule.severity == "fail" else "warn"
        on = "" if rule.on == "value" else f" ({rule.on} {decided_on:.4g})"
        return Check(value=value, verdict=verdict, message=f"{shown}{on}, needs {needs}", **base)
    return Check(value=value, verdict="pass", **base)


def _item_metric_check(rule: Rule, value: float) -> Check:
    """A rule on an item-level metric (one number for the whole item, no rows to aggregate)."""
    breached = _breaches(value, rule.min, rule.max)
    verdict = "pass" if not breached else ("fail" if rule.severity == "fail" else "warn")
    message = (
        f"{rule.metric} = {value:.4g}, needs {bound_text(rule.min, rule.max)}" if breached else ""
    )
    return Check(
        kind="threshold",
        metric=rule.metric,
        aggregate="value",
        value=value,
        verdict=verdict,
        severity=rule.severity,
        min=rule.min,
        max=rule.max,
        message=message,
        source=rule.source,
    )


def judge(
    rows: Sequence[RowResult],
    policy: Policy,
    extra: Sequence[Check] = (),
    *,
    seed: int = 0,
    item_metrics: Mapping[str, float] | None = None,
) -> Verdict:
    """Apply thresholds and the error budget; `extra` carries regression checks from compare.

    An `inconclusive` check (an interval rule whose interval straddles the bound) fails the item:
    a gate that cannot tell does not pass. `on_inconclusive: warn` makes it a warning instead.
    """
    produced = set(metric_names(rows))
    checks: list[Check] = []
    errors = errored_rows(rows)
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
    item_metrics = item_metrics or {}
    for metric_rules in policy.rules.values():
        for rule in metric_rules:
            if rule.metric in item_metrics:
                checks.append(_item_metric_check(rule, item_metrics[rule.metric]))
                continue
            check = _rule_check(rule, rows, produced, seed)
            if check is not None:
                checks.append(check)
    checks.extend(extra)
    failed = any(c.verdict in ("fail", "error", "inconclusive") for c in checks)
    if not rows:
        return Verdict(ERROR, tuple(checks), ("no rows to evaluate",))
    return Verdict(FAILED if failed else PASSED, tuple(checks))
