"""Join a run with a baseline: metric diffs, regression rules, new/removed/changed items.

One module shared by the plugin (regression checks while an item runs), the renderers (a
`RunDiff` behind the Markdown, HTML, JUnit and terminal diff columns) and `llmgate diff`.

Semantics, so every consumer agrees:
- items join on their node id, rows on `(row id, repeat)`;
- a comparison is *like for like* only over rows present in both runs with identical data. When
  the dataset hash, the row set or a row's data changed, the rules run on the rows both runs share
  and a `warn` check says so; with no shared rows nothing is compared (and that is said too);
- a regression rule's limits are literal: `max_drop`/`max_drop_pct` bound a fall,
  `max_rise`/`max_rise_pct` a rise, and every limit given must hold. `direction` (or the metric's
  name) only decides which change counts as better, and so when an improvement is large enough
  that the baseline should be refreshed (pytest-benchmark's stale-baseline problem);
- a baseline written by an incomplete run is refused: it would hide every item it lacks.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

from pytest_llmgate.config.thresholds import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    Policy,
    RegressionRule,
    direction_of,
)
from pytest_llmgate.errors import GateError
from pytest_llmgate.results.io import load_results
from pytest_llmgate.results.model import (
    ERROR,
    FAILED,
    PASSED,
    Check,
    ItemResult,
    ResultsFormatError,
    RowResult,
    RunResult,
)
from pytest_llmgate.results.storedrows import RowColumns, columns_of, pair_aligned
from pytest_llmgate.stats import AGGREGATE_PATTERN, aggregate, mcnemar_p, paired_mde, sign_flip_p

__all__ = [
    "BETTER",
    "SAME",
    "WORSE",
    "BaselineError",
    "ItemDiff",
    "MetricDiff",
    "RunDiff",
    "check_baseline",
    "default_rules",
    "diff_runs",
    "evaluate_rule",
    "load_baseline",
    "regression_checks",
    "run_cost",
]

BETTER, WORSE, SAME, UNKNOWN = "better", "worse", "same", "n/a"
MATCHED, NEW, REMOVED = "matched", "new", "removed"
DEFAULT_TOLERANCE_PCT = 5.0
# Noise-aware defaults (docs/verdicts.md, "No false alarms"; bench/bench_false_alarms.py): a rule
# without `significance` still needs a paired test's p below 0.05 to call a worsening a
# regression, unless `literal: true`. A timing metric also needs a rise of at least 50% of its
# baseline: a busy machine slows every row at once (identical code measured +35% on a loaded
# 2-core CI box), which a paired test alone takes for a change.
DEFAULT_SIGNIFICANCE = 0.05
DEFAULT_TIMING_FLOOR_MS = 250.0
DEFAULT_TIMING_MIN_EFFECT_PCT = 50.0
MDE_POWER = 0.8
NOT_LIKE_FOR_LIKE = "not like for like"
REFRESH = "improved past tolerance: refresh the baseline"


class BaselineError(GateError):
    """A baseline cannot be used (unreadable, wrong format, or from an incomplete run)."""


def check_baseline(run: RunResult, source: str = "baseline") -> RunResult:
    """Refuse a baseline that is not a real, complete run: a dry run, a collect-only run, an
    interrupted one (or one that lost xdist workers), an empty one, or one with errored items.
    Any of these would leave the next pull request nothing to compare with, and so pass it."""
    problem = run.not_a_real_run()
    if problem is not None:
        raise BaselineError(
            f"{source}: not usable as a baseline: {problem}; save a baseline from a complete run"
        )
    return run


def load_baseline(path: Path) -> RunResult:
    """Load a results file for use as a baseline, with one-line errors."""
    try:
        run = load_results(path)
    except ResultsFormatError as exc:
        raise BaselineError(str(exc)) from None
    return check_baseline(run, str(path))


def _tol(reference: float) -> float:
    # scores are often exact decimals; do not call 1e-16 of float noise a regression
    return 1e-9 * max(1.0, abs(reference))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _is_plain_aggregate(name: str) -> bool:
    return bool(AGGREGATE_PATTERN.match(name)) and name != "pass_rate"


# ---- rows ---------------------------------------------------------------------------------------
def _row_key(row: RowResult) -> tuple[str, int]:
    return (row.id, row.repeat)


@dataclass(frozen=True)
class _Pairing:
    current: Sequence[RowResult]
    baseline: Sequence[RowResult]
    like_for_like: bool
    note: str = ""


def _pair_rows(
    current: Sequence[RowResult],
    baseline: Sequence[RowResult],
    current_sha: str,
    baseline_sha: str,
) -> _Pairing:
    """The rows both runs share, unchanged; and why the comparison is not like for like."""
    aligned = pair_aligned(current, baseline)  # streamed rows, same rows in the same order
    pairing_cur: Sequence[RowResult]
    pairing_base: Sequence[RowResult]
    if aligned is not None:
        pairing_cur, pairing_base, changed_data = aligned
        added = removed = 0
    else:
        base_by_key = {_row_key(r): r for r in baseline}
        cur_keys = {_row_key(r) for r in current}
        shared = [r for r in current if _row_key(r) in base_by_key]
        same = [r for r in shared if dict(r.data) == dict(base_by_key[_row_key(r)].data)]
        changed_data = len(shared) - len(same)
        added = len(cur_keys - base_by_key.keys())
        removed = len(base_by_key.keys() - cur_keys)
        keep = {_row_key(r) for r in same}
        pairing_cur = tuple(same)
        pairing_base = tuple(r for r in baseline if _row_key(r) in keep)
    reasons: list[str] = []
    if current_sha and baseline_sha and current_sha != baseline_sha:
        reasons.append(f"dataset changed (sha256 {baseline_sha[:12]} -> {current_sha[:12]})")
    if added:
        reasons.append(f"{added} row(s) not in the baseline")
    if removed:
        reasons.append(f"{removed} baseline row(s) not in this run")
    if changed_data:
        reasons.append(f"{changed_data} row(s) with changed data")
    if not reasons:
        return _Pairing(pairing_cur, pairing_base, True)
    if pairing_cur:
        note = (
            f"{NOT_LIKE_FOR_LIKE}: {'; '.join(reasons)}; compared on the {len(pairing_cur)} of "
            f"{len(current)} row(s) unchanged in both runs"
        )
    else:
        note = f"{NOT_LIKE_FOR_LIKE}: {'; '.join(reasons)}; no unchanged rows to compare"
    return _Pairing(pairing_cur, pairing_base, False, note)


def _value(rows: Sequence[RowResult], metric: str, agg: str) -> float | None:
    from pytest_llmgate.verdict.gate import errored_rows, present_groups, unit_values

    if metric == "error_rate":  # stored rows: from their columns
        return errored_rows(rows) / len(rows) if rows else None

    if not _is_plain_aggregate(agg):
        agg = "mean"
    groups = present_groups(rows, metric)
    values = unit_values(groups, agg)
    if agg == "count":
        return float(len(values)) if values else None
    return aggregate(values, agg)


# ---- rules --------------------------------------------------------------------------------------
def rule_direction(rule: RegressionRule) -> str:
    return rule.direction or direction_of(rule.metric)


@dataclass(frozen=True)
class RuleOutcome:
    """A regression rule applied to one (baseline, current) pair."""

    verdict: str  # pass | fail | warn
    min: float | None
    max: float | None
    message: str
    improved: bool


def _limits(limit: float | None, limit_pct: float | None, base: float) -> list[tuple[float, str]]:
    out = []
    if limit is not None:
        out.append((float(limit), f"{limit:g}"))
    if limit_pct is not None:
        out.append((abs(base) * float(limit_pct) / 100.0, f"{limit_pct:g}%"))
    return out


def evaluate_rule(rule: RegressionRule, base: float, current: float) -> RuleOutcome:
    """Apply one rule: every limit it gives must hold; say when an improvement outgrew them."""
    delta = current - base
    drops = _limits(rule.max_drop, rule.max_drop_pct, base)
    rises = _limits(rule.max_rise, rule.max_rise_pct, base)
    low = base - min(a for a, _ in drops) if drops else None
    high = base + min(a for a, _ in rises) if rises else None
    problems = []
    if low is not None and current < low - _tol(low):
        allowed = ", ".join(text for _, text in drops)
        problems.append(f"fell by {_fmt(-delta)}{_pct(delta, base)} (allowed {allowed})")
    if high is not None and current > high + _tol(high):
        allowed = ", ".join(text for _, text in rises)
        problems.append(f"rose by {_fmt(delta)}{_pct(delta, base)} (allowed {allowed})")
    label = f"{rule.metric} {rule.aggregate} {_fmt(base)} -> {_fmt(current)}"
    if problems:
        verdict = "fail" if rule.severity == "fail" else "warn"
        return RuleOutcome(verdict, low, high, f"regression: {label}: {'; '.join(problems)}", False)
    # an improvement bigger than the tolerance for getting worse: the stale baseline would let a
    # later regression of the same size through unnoticed
    better_up = rule_direction(rule) == HIGHER_IS_BETTER
    worse_side = drops if better_up else rises
    gain = delta if better_up else -delta
    improved = bool(worse_side) and gain > min(a for a, _ in worse_side) + _tol(base)
    message = f"{label}: {REFRESH}" if improved else ""
    return RuleOutcome("pass", low, high, message, improved)


def is_timing(metric: str) -> bool:
    """Wall-clock metrics, whose level moves with the machine's load."""
    name = metric.lower()
    return "latency" in name or "duration" in name or name.endswith(("_ms", "_s", "_seconds"))


def timing_floor(metric: str) -> float:
    """The smallest absolute rise of a timing metric the default rule calls a regression: a busy
    CI runner slows a few-millisecond offline function several-fold (measured: identical code,
    p95 2.9 ms -> 15.5 ms), so a relative rise alone is noise for fast code. 250 ms (0.25 s)."""
    name = metric.lower()
    seconds = name.endswith(("_s", "_seconds")) and not name.endswith("_ms")
    return DEFAULT_TIMING_FLOOR_MS / 1000.0 if seconds else DEFAULT_TIMING_FLOOR_MS


def _default_alpha(rule: RegressionRule, rows: int) -> float | None:
    """The level of the paired test a rule uses: its own `significance`; else the noise-aware
    default, when the rule is not `literal` and its rows can reach that level at all (an exact
    paired test on n rows cannot go below 2^-n: with 4 rows or fewer the limits decide alone)."""
    if rule.significance is not None:
        return float(rule.significance)
    if rule.literal or 0.5**rows >= DEFAULT_SIGNIFICANCE:
        return None
    return DEFAULT_SIGNIFICANCE


def _noise_aware(rule: RegressionRule, base: float) -> RegressionRule:
    """The rule as applied: the default significance, and a timing metric's minimum rise."""
    changes: dict[str, Any] = {}
    if rule.significance is None:
        changes["significance"] = DEFAULT_SIGNIFICANCE
    if rule.min_effect is None and is_timing(rule.metric):
        changes["min_effect"] = max(
            abs(base) * DEFAULT_TIMING_MIN_EFFECT_PCT / 100.0, timing_floor(rule.metric)
        )
    return replace(rule, **changes) if changes else rule


def _mde(
    rule: RegressionRule, pairs: Sequence[tuple[float, float]], alpha: float | None, base: float
) -> float | None:
    """Smallest worsening of the mean the check could flag at its N and observed spread: the
    paired test's minimum detectable effect (80% power), and never below the rule's own limits
    or minimum effect. A literal rule detects any change beyond its limits."""
    higher = rule_direction(rule) == HIGHER_IS_BETTER
    worse_side = _limits(rule.max_drop, rule.max_drop_pct, base) if higher else _limits(
        rule.max_rise, rule.max_rise_pct, base
    )
    floors = [a for a, _ in worse_side]
    if alpha is None:
        return min(floors) if floors else None
    binary = bool(pairs) and all(v in (0.0, 1.0) for pair in pairs for v in pair)
    deltas = array("d", (c - b for b, c in pairs))
    detectable = paired_mde(deltas, alpha, MDE_POWER, binary=binary)
    if detectable is None:
        return None
    effect = rule.min_effect
    if effect is None and is_timing(rule.metric):
        effect = max(abs(base) * DEFAULT_TIMING_MIN_EFFECT_PCT / 100.0, timing_floor(rule.metric))
    return max([detectable, *([min(floors)] if floors else []), effect or 0.0])


def _pct(delta: float, base: float) -> str:
    if base == 0:
        return ""
    return f" ({delta / abs(base) * 100:+.1f}%)"


def regression_checks(
    row_results: Sequence[RowResult],
    baseline_item: ItemResult | None,
    policy: Policy,
    *,
    dataset_sha256: str = "",
) -> list[Check]:
    """Regression checks (kind "regression") of one item against its baseline item.

    Called by the plugin for every item when a baseline is given. A new item (no baseline item)
    gets no checks: the reports list it as new.
    """
    if baseline_item is None:
        return []
    return _checks(row_results, baseline_item, policy.regression, dataset_sha256)


def _checks(
    rows: Sequence[RowResult],
    baseline_item: ItemResult,
    rules: Mapping[str, RegressionRule],
    dataset_sha256: str,
) -> list[Check]:
    checks: list[Check] = []
    if baseline_item.rows:
        pairing = _pair_rows(rows, baseline_item.rows, dataset_sha256, baseline_item.dataset_sha256)
    elif baseline_item.aggregates and dataset_sha256 == baseline_item.dataset_sha256 != "":
        pairing = _Pairing(tuple(rows), (), True)  # a baseline stripped of rows: aggregates only
    else:
        pairing = _Pairing(
            (),
            (),
            False,
            f"{NOT_LIKE_FOR_LIKE}: the baseline item has no rows "
            f"({baseline_item.verdict}); nothing to compare",
        )
    if pairing.note:
        checks.append(
            Check(
                kind="regression",
                metric="dataset",
                aggregate="rows",
                value=None,
                verdict="warn",
                severity="warn",
                message=pairing.note,
            )
        )
    if not pairing.current:
        return checks
    for rule in rules.values():
        if not _is_plain_aggregate(rule.aggregate):
            # pass_rate needs a row bound a regression rule does not have: compare the mean, and
            # say so in the check rather than label a mean as a pass rate
            rule = replace(rule, aggregate="mean")
        current = _value(pairing.current, rule.metric, rule.aggregate)
        if pairing.baseline:
            base = _value(pairing.baseline, rule.metric, rule.aggregate)
        else:
            base = baseline_item.aggregates.get(rule.metric, {}).get(rule.aggregate)
        common: dict[str, Any] = dict(
            kind="regression",
            metric=rule.metric,
            aggregate=rule.aggregate,
            severity=rule.severity,
            source=rule.source,
        )
        if base is None:
            continue  # nothing to regress from: the metric is new
        if current is None:
            verdict = "fail" if rule.severity == "fail" else "warn"
            checks.append(
                Check(
                    value=None,
                    baseline=base,
                    verdict=verdict,
                    message=f"regression: {rule.metric} has no value in this run "
                    f"(baseline {rule.aggregate} {_fmt(base)})",
                    **common,
                )
            )
            continue
        outcome = evaluate_rule(rule, base, current)
        p_value = None
        pairs = (
            paired_deltas(pairing.current, pairing.baseline, rule.metric)
            if pairing.baseline
            else []
        )
        alpha = _default_alpha(rule, len(pairs)) if pairing.baseline else None
        if alpha is not None:
            outcome, p_value = _with_significance(
                _noise_aware(rule, base), outcome, pairing, base, current
            )
            if p_value is None:
                alpha = None  # fewer than two paired rows: the limits decided alone
        checks.append(
            Check(
                value=current,
                baseline=base,
                verdict=outcome.verdict,
                min=outcome.min,
                max=outcome.max,
                message=outcome.message,
                p_value=p_value,
                mde=_mde(rule, pairs, alpha, base),
                alpha=alpha,
                **common,
            )
        )
    return checks


class Pairs(Sequence[tuple[float, float]]):
    """(baseline, current) pairs held as two `array('d')` (16 bytes a pair, not a tuple and two
    floats): a million paired rows of a streamed item."""

    def __init__(self, baseline: array[float], current: array[float]) -> None:
        self.baseline = baseline
        self.current = current

    def __len__(self) -> int:
        return len(self.current)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return zip(self.baseline, self.current, strict=True)

    @overload
    def __getitem__(self, index: int) -> tuple[float, float]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[float, float]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[float, float] | Sequence[tuple[float, float]]:
        if isinstance(index, slice):
            return list(self)[index]
        return self.baseline[index], self.current[index]


def _column_means(columns: RowColumns, metric: str) -> tuple[array[int], array[float]]:
    """`paired_deltas`' per-row means from a stored item's columns: (golden row, mean of its
    values) in the order of each golden row's first row with a value, as the dict keys them."""
    units, means = array("i"), array("d")
    column = columns.metrics.get(metric)
    if column is None:
        return units, means
    seen = bytearray(len(columns.unit_ids))
    unit = columns.unit
    for index, value in enumerate(column):
        if value == value and not seen[unit[index]]:
            seen[unit[index]] = 1
            units.append(unit[index])
    groups = columns.groups(metric, present=True)
    for golden in units:
        group = groups[golden]
        means.append(math.fsum(group) / len(group))  # type: ignore[arg-type]
    return units, means


def paired_deltas(
    current: Sequence[RowResult], baseline: Sequence[RowResult], metric: str
) -> Sequence[tuple[float, float]]:
    """(baseline, current) per golden row present in both, repeats averaged within a row.

    Two stored items with the same golden rows (the usual streamed baseline) pair from their
    columns into two arrays, never a dict or a tuple per row."""
    cur_columns, base_columns = columns_of(current), columns_of(baseline)
    if (cur_columns is not None and base_columns is not None
            and cur_columns.unit_ids == base_columns.unit_ids):
        base_by_unit = array("d", [math.nan]) * len(base_columns.unit_ids)
        for golden, value in zip(*_column_means(base_columns, metric), strict=True):
            base_by_unit[golden] = value
        base_side, cur_side = array("d"), array("d")
        for golden, value in zip(*_column_means(cur_columns, metric), strict=True):
            before = base_by_unit[golden]
            if before == before:
                base_side.append(before)
                cur_side.append(value)
        return Pairs(base_side, cur_side)

    def means(rows: Sequence[RowResult]) -> dict[str, float]:
        sums: dict[str, list[float]] = {}
        for row in rows:
            if metric in row.metrics:
                sums.setdefault(row.id, []).append(row.metrics[metric])
        return {k: math.fsum(v) / len(v) for k, v in sums.items()}

    cur, base = means(current), means(baseline)
    return [(base[k], cur[k]) for k in cur if k in base]


def paired_p_value(
    pairs: Sequence[tuple[float, float]], higher_is_better: bool, seed: int = 0
) -> float:
    """One-sided p that the current run is this much worse by chance (paired over rows).

    0/1 metrics (pass/fail per row) use the exact McNemar test on discordant rows; other metrics
    a sign-flip permutation test on per-row deltas."""
    binary = all(v in (0.0, 1.0) for pair in pairs for v in pair)
    if binary:
        worsened = sum(1 for b, c in pairs if (b > c) == higher_is_better and b != c)
        improved = sum(1 for b, c in pairs if b != c) - worsened
        return mcnemar_p(worsened, improved)
    deltas = array("d", (c - b for b, c in pairs))
    return sign_flip_p(deltas, worse_is_negative=higher_is_better, seed=seed)


def _with_significance(
    rule: RegressionRule, outcome: RuleOutcome, pairing: _Pairing, base: float, current: float
) -> tuple[RuleOutcome, float | None]:
    """A drop counts only when a paired test says it is not noise (and it is big enough)."""
    higher = rule_direction(rule) == HIGHER_IS_BETTER
    pairs = paired_deltas(pairing.current, pairing.baseline, rule.metric)
    if len(pairs) < 2:
        return outcome, None
    p = paired_p_value(pairs, higher, seed=len(pairs))
    worse_by = (base - current) if higher else (current - base)
    limits = any(
        x is not None for x in (rule.max_drop, rule.max_drop_pct, rule.max_rise, rule.max_rise_pct)
    )
    big_enough = worse_by > 0 and worse_by >= (rule.min_effect or 0.0) - _tol(base)
    significant = p < rule.significance  # type: ignore[operator]
    breached = (outcome.verdict != "pass" or not limits) and big_enough and significant
    label = f"{rule.metric} {rule.aggregate} {_fmt(base)} -> {_fmt(current)}"
    sign = "-" if current < base else "+"
    shown = f"{'▼' if current < base else '▲'} {sign}{_fmt(abs(current - base))} (p={p:.3g})"
    if breached:
        verdict = "fail" if rule.severity == "fail" else "warn"
        return replace(
            outcome,
            verdict=verdict,
            message=f"regression: {label}: {shown}, significant at {rule.significance:g}",
        ), p
    note = (
        outcome.message
        if outcome.improved
        else (f"{label}: {shown}: within noise" if worse_by > 0 else outcome.message)
    )
    return replace(outcome, verdict="pass", message=note), p


def default_rules(
    item: ItemResult, tolerance_pct: float = DEFAULT_TOLERANCE_PCT
) -> dict[str, RegressionRule]:
    """`llmgate diff` without --thresholds: every metric a threshold gates may worsen by at most
    `tolerance_pct` percent of its baseline (ungated metrics such as latency are too noisy)."""
    rules: dict[str, RegressionRule] = {}
    for check in item.checks:
        if check.kind != "threshold" or check.metric in rules:
            continue
        agg = check.aggregate if _is_plain_aggregate(check.aggregate) else "mean"
        lower = direction_of(check.metric) == LOWER_IS_BETTER
        rules[check.metric] = RegressionRule(
            metric=check.metric,
            aggregate=agg,
            max_rise_pct=tolerance_pct if lower else None,
            max_drop_pct=None if lower else tolerance_pct,
            source=f"default rule ({tolerance_pct:g}%)",
        )
    return rules


# ---- run diff -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricDiff:
    """One metric of one item: baseline vs current, with the rule verdict when one applies."""

    metric: str
    aggregate: str
    baseline: float | None
    current: float | None
    direction: str
    verdict: str = ""  # "" when no rule applies, else pass | warn | fail
    bound: str = ""
    message: str = ""
    gated: bool = False  # a threshold or regression rule watches this metric
    improved: bool = False

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def delta_pct(self) -> float | None:
        delta = self.delta
        if delta is None or not self.baseline:
            return None
        return delta / abs(self.baseline) * 100

    @property
    def change(self) -> str:
        delta = self.delta
        if delta is None:
            return UNKNOWN
        if abs(delta) <= _tol(self.baseline or 0.0):
            return SAME
        up = delta > 0
        return BETTER if up == (self.direction == HIGHER_IS_BETTER) else WORSE

    @property
    def breached(self) -> bool:
        return self.verdict in ("fail", "error")


@dataclass(frozen=True)
class ItemDiff:
    """One item joined with its baseline item (either side may be missing)."""

    nodeid: str
    status: str  # matched | new | removed
    current: ItemResult | None
    baseline: ItemResult | None
    metrics: tuple[MetricDiff, ...] = ()
    like_for_like: bool = True
    notes: tuple[str, ...] = ()

    @property
    def item(self) -> ItemResult:
        found = self.current or self.baseline
        assert found is not None
        return found

    @property
    def newly_failing(self) -> bool:
        return (
            self.current is not None
            and self.baseline is not None
            and self.baseline.verdict == PASSED
            and self.current.verdict in (FAILED, ERROR)
        )

    @property
    def regressed(self) -> bool:
        return self.newly_failing or any(m.verdict == "fail" for m in self.metrics)

    @property
    def warned(self) -> bool:
        return any(m.verdict == "warn" for m in self.metrics)

    def metric(self, name: str) -> MetricDiff | None:
        return next((m for m in self.metrics if m.metric == name), None)


@dataclass(frozen=True)
class RunDiff:
    """A run joined with its baseline: what every renderer shows as "delta vs baseline"."""

    items: tuple[ItemDiff, ...]
    baseline_meta: Mapping[str, Any] = field(default_factory=dict)
    cost_baseline: float | None = None
    cost_current: float | None = None

    def item(self, nodeid: str) -> ItemDiff | None:
        return next((d for d in self.items if d.nodeid == nodeid), None)

    def by_status(self, status: str) -> list[ItemDiff]:
        return [d for d in self.items if d.status == status]

    @property
    def new(self) -> list[ItemDiff]:
        return self.by_status(NEW)

    @property
    def removed(self) -> list[ItemDiff]:
        return self.by_status(REMOVED)

    @property
    def regressed(self) -> list[ItemDiff]:
        return [d for d in self.items if d.regressed]

    @property
    def not_like_for_like(self) -> list[ItemDiff]:
        return [d for d in self.items if d.status == MATCHED and not d.like_for_like]

    @property
    def improvements(self) -> list[tuple[ItemDiff, MetricDiff]]:
        return [(d, m) for d in self.items for m in d.metrics if m.improved]

    @property
    def has_regression(self) -> bool:
        return any(d.regressed for d in self.items)

    @property
    def cost_delta(self) -> float | None:
        if self.cost_baseline is None or self.cost_current is None:
            return None
        return self.cost_current - self.cost_baseline

    @property
    def baseline_label(self) -> str:
        git = self.baseline_meta.get("git") or {}
        commit = str(git.get("commit") or "")[:12]
        branch = git.get("branch") or ""
        label = " ".join(p for p in (branch, commit) if p)
        return label or str(self.baseline_meta.get("finished_at") or "baseline")


def run_cost(run: RunResult) -> float | None:
    """Total model cost (subject + judge) in USD; None when no item recorded a cost."""
    total, seen = 0.0, False
    for item in run.items:
        for usage in item.usage.values():
            cost = usage.get("cost_usd")
            if cost is not None:
                total += float(cost)
                seen = True
    return total if seen else None


def _metric_names(*items: ItemResult | None) -> list[str]:
    names: dict[str, None] = {}
    for item in items:
        if item is not None:
            names.update(dict.fromkeys(item.aggregates))
    return list(names)


def _gated(item: ItemResult | None) -> set[str]:
    return {c.metric for c in item.checks} if item is not None else set()


def _recorded(item: ItemResult) -> dict[str, Check]:
    return {c.metric: c for c in item.checks if c.kind == "regression" and c.metric != "dataset"}


def _check_direction(check: Check | None, metric: str) -> str:
    # a recorded one-sided rule tells which way is worse, even when `direction:` overrode the name
    if check is not None and (check.min is None) != (check.max is None):
        return HIGHER_IS_BETTER if check.min is not None else LOWER_IS_BETTER
    return direction_of(metric)


def _item_diff(current: ItemResult, baseline: ItemResult) -> ItemDiff:
    checks = [c for c in current.checks if c.kind == "regression"]
    by_metric = {c.metric: c for c in checks if c.metric != "dataset"}
    if baseline.rows and current.rows:
        pairing = _pair_rows(
            current.rows, baseline.rows, current.dataset_sha256, baseline.dataset_sha256
        )
        cur_rows: Sequence[RowResult] = pairing.current
        base_rows: Sequence[RowResult] = pairing.baseline
        like = pairing.like_for_like
        notes: tuple[str, ...] = (pairing.note,) if pairing.note else ()
    else:
        cur_rows, base_rows = current.rows, ()
        like = bool(current.dataset_sha256) and current.dataset_sha256 == baseline.dataset_sha256
        notes = tuple(c.message for c in checks if c.metric == "dataset")
        if not like and not notes:
            side = "this run" if not current.rows else "the baseline"
            notes = (f"{NOT_LIKE_FOR_LIKE}: {side} has no rows for this item",)
    gated = _gated(current) | set(by_metric)
    metrics: list[MetricDiff] = []
    names = _metric_names(current, baseline)
    for name in [*by_metric, *names]:
        if any(m.metric == name for m in metrics):
            continue
        check = by_metric.get(name)
        agg = check.aggregate if check is not None else "mean"
        direction = _check_direction(check, name)
        base_value: float | None
        cur_value: float | None
        if check is not None and check.baseline is not None:
            base_value, cur_value = check.baseline, check.value
        else:
            cur_value = (
                _value(cur_rows, name, agg)
                if cur_rows
                else current.aggregates.get(name, {}).get(agg)
            )
            base_value = (
                _value(base_rows, name, agg)
                if base_rows
                else (baseline.aggregates.get(name, {}).get(agg) if like else None)
            )
        metrics.append(
            MetricDiff(
                metric=name,
                aggregate=agg,
                baseline=base_value,
                current=cur_value,
                direction=direction,
                verdict=check.verdict if check is not None else "",
                bound=check.bound if check is not None and check.bound != "-" else "",
                message=check.message if check is not None else "",
                gated=name in gated,
                improved=check is not None and REFRESH in check.message,
            )
        )
    return ItemDiff(
        nodeid=current.nodeid,
        status=MATCHED,
        current=current,
        baseline=baseline,
        metrics=tuple(metrics),
        like_for_like=like and not notes,
        notes=notes,
    )


def diff_runs(run: RunResult, baseline: RunResult) -> RunDiff:
    """Join `run` with `baseline` for the reports.

    The verdicts are the regression checks the run recorded: a diff shows a decision, it never
    makes one (`verdict.decision.decide_run` re-decides a run against a baseline first).
    """
    base_items = {i.nodeid: i for i in baseline.items}
    seen: set[str] = set()
    diffs: list[ItemDiff] = []
    for item in run.items:
        seen.add(item.nodeid)
        base = base_items.get(item.nodeid)
        if base is None:
            diffs.append(
                ItemDiff(
                    nodeid=item.nodeid,
                    status=NEW,
                    current=item,
                    baseline=None,
                    notes=("new: not in the baseline",),
                )
            )
            continue
        diffs.append(_item_diff(item, base))
    for nodeid, base in base_items.items():
        if nodeid not in seen:
            diffs.append(
                ItemDiff(
                    nodeid=nodeid,
                    status=REMOVED,
                    current=None,
                    baseline=base,
                    notes=("removed: in the baseline, not in this run",),
                )
            )
    return RunDiff(
        items=tuple(diffs),
        baseline_meta=dict(baseline.meta),
        cost_baseline=run_cost(baseline),
        cost_current=run_cost(run),
    )


def changed_rows(diff: ItemDiff, metric: str) -> list[tuple[str, float | None, float | None]]:
    """Per-row (id, baseline, current) values of `metric` for rows present in both runs."""
    if diff.current is None or diff.baseline is None:
        return []
    base = {_row_key(r): r for r in diff.baseline.rows}
    out = []
    for row in diff.current.rows:
        other = base.get(_row_key(row))
        if other is not None:
            out.append((row.id, other.metrics.get(metric), row.metrics.get(metric)))
    return out


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def iter_gated(diff: RunDiff) -> Iterable[tuple[ItemDiff, MetricDiff]]:
    for item in diff.items:
        for metric in item.metrics:
            if metric.gated:
                yield item, metric
