"""The gate policy: `thresholds.yaml` (and a suite's own `thresholds:`) resolved per item.

Layering, most specific last: project `metrics` < project `overrides` (in file order, glob-matched
on suite/subject/variant/dataset) < suite `metrics` < suite `overrides`. A layer that names a
metric replaces that metric's rules whole, so an override never half-merges with what it replaces.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmgate.config.schema import validate_located
from pytest_llmgate.errors import InputError
from pytest_llmgate.util.yamlio import Key, Located, dotted, load_yaml

__all__ = [
    "CompareRule",
    "Policy",
    "RegressionRule",
    "Rule",
    "Thresholds",
    "load_thresholds",
    "thresholds_from",
]

HIGHER_IS_BETTER = "higher_is_better"
LOWER_IS_BETTER = "lower_is_better"
# metrics where a rise is the regression (cost, latency, tokens, harm)
_LOWER_HINTS = (
    "cost",
    "latency",
    "tokens",
    "duration",
    "error",
    "toxicity",
    "pii",
    "severity",
    "defect",
    "injection",
    "length_",
    "violence",
    "sexual",
    "self_harm",
    "hate",
)


def direction_of(metric: str) -> str:
    """Whether a higher value is better for a metric (by name; overridable per rule)."""
    name = metric.lower()
    return LOWER_IS_BETTER if any(h in name for h in _LOWER_HINTS) else HIGHER_IS_BETTER


@dataclass(frozen=True)
class Rule:
    metric: str
    aggregate: str
    min: float | None = None
    max: float | None = None
    row_min: float | None = None
    row_max: float | None = None
    severity: str = "fail"
    source: str = ""
    strict: bool = False  # from a suite file: the metric must exist
    on: str = "value"  # value | ci_low | ci_high | interval
    pass_k: int | str = "all"  # with repeats: a row passes when k of its n repeats pass
    confidence: float = 0.95
    on_inconclusive: str = "fail"  # fail | warn | rerun (when on: interval)
    rerun_budget: int = 3  # extra repeats per row that `rerun` may spend
    per: str = "conversation"  # conversation (a row) | turn (each turn of a conversation row)


@dataclass(frozen=True)
class RegressionRule:
    metric: str
    aggregate: str = "mean"
    max_drop: float | None = None
    max_drop_pct: float | None = None
    max_rise: float | None = None
    max_rise_pct: float | None = None
    direction: str | None = None
    severity: str = "fail"
    source: str = ""
    significance: float | None = None  # require a paired test's p below this to call it a drop
    min_effect: float | None = None  # and a worsening at least this large
    # compare the limits alone, without the default paired test (a deterministic pipeline)
    literal: bool = False


@dataclass(frozen=True)
class CompareRule:
    """`compare_variants:` "variant `candidate` must not be worse than variant `reference`" on
    `metric`, over the golden rows both answered: a regression rule whose baseline is the
    reference variant of the same subject and dataset in the same run (same limits, same paired
    test; see compare.regression_checks)."""

    metric: str
    candidate: str
    reference: str
    aggregate: str = "mean"
    max_drop: float | None = None
    max_drop_pct: float | None = None
    max_rise: float | None = None
    max_rise_pct: float | None = None
    direction: str | None = None
    severity: str = "fail"
    source: str = ""
    significance: float | None = None
    min_effect: float | None = None
    literal: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        """A more specific layer's rule with the same key replaces this one."""
        return (self.candidate, self.reference, self.metric)

    def as_regression(self) -> RegressionRule:
        return RegressionRule(
            metric=self.metric,
            aggregate=self.aggregate,
            max_drop=self.max_drop,
            max_drop_pct=self.max_drop_pct,
            max_rise=self.max_rise,
            max_rise_pct=self.max_rise_pct,
            direction=self.direction,
            severity=self.severity,
            source=self.source,
            significance=self.significance,
            min_effect=self.min_effect,
            literal=self.literal,
        )


@dataclass(frozen=True)
class Policy:
    """Rules in force for one item."""

    rules: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    regression: Mapping[str, RegressionRule] = field(default_factory=dict)
    max_error_rate: float = 0.0
    # multiplicity correction across the run's regression tests (holm | bh | bonferroni | none)
    correction: str = "holm"
    # A/B rules whose candidate is this item's variant (decided once the reference has run)
    compare: tuple[CompareRule, ...] = ()


@dataclass(frozen=True)
class _Layer:
    match: Mapping[str, str]
    defaults: Mapping[str, Any]
    metrics: Mapping[str, tuple[Rule, ...]]
    regression: Mapping[str, RegressionRule]
    correction: str | None = None  # `regression.correction:`, when this layer sets it
    key: Key = ()  # where the layer is in its file: () or ("overrides", i), under a suite's key
    compare: tuple[CompareRule, ...] = ()  # `compare_variants:`

    def matches(self, names: Mapping[str, str]) -> bool:
        return all(fnmatch.fnmatchcase(names[k], p) for k, p in self.match.items())


@dataclass(frozen=True)
class Thresholds:
    """A parsed threshold file (or a suite's `thresholds:` block)."""

    path: Path | None
    layers: tuple[_Layer, ...]  # the first holds the file's own `defaults:` and `metrics:`
    strict: bool = False
    doc: Located | None = field(default=None, compare=False, repr=False)  # for load-time checks

    def metric_sources(self) -> dict[str, str]:
        """metric -> `file:line` of its rule in the base `metrics:` layer (for the 'matched no
        item' warning; overrides target some items only, so they are not expected everywhere)."""
        found: dict[str, str] = {}
        for layer in self.layers[:1]:
            for metric, rules in layer.metrics.items():
                found.setdefault(metric, rules[0].source)
        return found

    def apply(
        self, policy: Policy, *, suite: str, subject: str, variant: str, dataset: str
    ) -> Policy:
        """Layer this file's matching rules on top of `policy`."""
        names = {"suite": suite, "subject": subject, "variant": variant, "dataset": dataset}
        rules = dict(policy.rules)
        regression = dict(policy.regression)
        max_error_rate = policy.max_error_rate  # the base layer carries the file's defaults
        correction = policy.correction
        compare = {rule.key: rule for rule in policy.compare}
        for layer in self.layers:
            if not layer.matches(names):
                continue
            rules.update(layer.metrics)
            regression.update(layer.regression)
            compare.update((r.key, r) for r in layer.compare if r.candidate == variant)
            if "max_error_rate" in layer.defaults:
                max_error_rate = float(layer.defaults["max_error_rate"])
            if layer.correction is not None:
                correction = layer.correction
        return Policy(
            rules=rules,
            regression=regression,
            max_error_rate=max_error_rate,
            correction=correction,
            compare=tuple(compare.values()),
        )


def _source(doc: Located, key: Key) -> str:
    line = doc.line(key)
    return f"{doc.path.name}:{line}" if line else doc.path.name


def _rules(
    doc: Located, key: Key, metrics: Mapping[str, Any], defaults: Mapping[str, Any], strict: bool
) -> dict[str, tuple[Rule, ...]]:
    from pytest_llmgate.config.aggregates import is_aggregate

    out: dict[str, tuple[Rule, ...]] = {}
    for metric, spec in (metrics or {}).items():
        items = spec if isinstance(spec, list) else [spec]
        built: list[Rule] = []
        for index, raw in enumerate(items):
            where: Key = (*key, metric, index) if isinstance(spec, list) else (*key, metric)
            aggregate = raw.get("aggregate", defaults.get("aggregate", "mean"))
            if not is_aggregate(aggregate):
                raise doc.error((*where, "aggregate"), f"unknown aggregate {aggregate!r}")
            if "min" not in raw and "max" not in raw:
                raise doc.error(where, "a rule needs a bound: min and/or max")
            row = raw.get("row") or {}
            row_low, row_high = row.get("min"), row.get("max")
            if row_low is not None and row_high is not None and row_low > row_high:
                raise doc.error(
                    (*where, "row"), f"min {row_low:g} is greater than max {row_high:g}"
                )
            if aggregate == "pass_rate" and not row:
                raise doc.error(
                    where, "aggregate pass_rate needs a row bound, e.g. row: {min: 0.5}"
                )
            if row and aggregate != "pass_rate":
                raise doc.error((*where, "row"), "a row bound only applies to aggregate pass_rate")
            low, high = raw.get("min"), raw.get("max")
            if low is not None and high is not None and low > high:
                raise doc.error(where, f"min {low:g} is greater than max {high:g}")
            built.append(
                Rule(
                    metric=metric,
                    aggregate=aggregate,
                    min=None if low is None else float(low),
                    max=None if high is None else float(high),
                    row_min=row.get("min"),
                    row_max=row.get("max"),
                    severity=raw.get("severity", defaults.get("severity", "fail")),
                    source=_source(doc, where),
                    strict=strict,
                    on=raw.get("on", defaults.get("on", "value")),
                    pass_k=raw.get("pass_k", defaults.get("pass_k", "all")),
                    confidence=float(raw.get("confidence", defaults.get("confidence", 0.95))),
                    on_inconclusive=raw.get(
                        "on_inconclusive", defaults.get("on_inconclusive", "fail")
                    ),
                    rerun_budget=int(raw.get("rerun_budget", defaults.get("rerun_budget", 3))),
                    per=raw.get("per", defaults.get("per", "conversation")),
                )
            )
        out[metric] = tuple(built)
    return out


def _regression(doc: Located, key: Key, raw: Mapping[str, Any] | None) -> dict[str, RegressionRule]:
    from pytest_llmgate.config.aggregates import is_aggregate

    out: dict[str, RegressionRule] = {}
    for metric, spec in (raw or {}).items():
        if metric == CORRECTION_KEY:
            continue  # the run-level setting, see _correction
        if not is_aggregate(spec.get("aggregate", "mean")):
            raise doc.error(
                (*key, metric, "aggregate"), f"unknown aggregate {spec['aggregate']!r}"
            )
        keys = ("max_drop", "max_drop_pct", "max_rise", "max_rise_pct", "significance")
        if not any(k in spec for k in keys):
            raise doc.error(
                (*key, metric),
                "a regression rule needs max_drop, max_drop_pct, max_rise, max_rise_pct "
                "or significance",
            )
        out[metric] = RegressionRule(
            metric=metric,
            aggregate=spec.get("aggregate", "mean"),
            max_drop=spec.get("max_drop"),
            max_drop_pct=spec.get("max_drop_pct"),
            max_rise=spec.get("max_rise"),
            max_rise_pct=spec.get("max_rise_pct"),
            direction=spec.get("direction"),
            severity=spec.get("severity", "fail"),
            source=_source(doc, (*key, metric)),
            significance=spec.get("significance"),
            min_effect=spec.get("min_effect"),
            literal=bool(spec.get("literal", False)),
        )
    return out


COMPARE_KEY = "compare_variants"


def _compare(doc: Located, key: Key, raw: list[Any] | None) -> tuple[CompareRule, ...]:
    """`compare_variants:` (schema-checked already): a list of A/B rules."""
    from pytest_llmgate.config.aggregates import is_aggregate

    out: dict[tuple[str, str, str], CompareRule] = {}
    for index, spec in enumerate(raw or []):
        where: Key = (*key, index)
        aggregate = spec.get("aggregate", "mean")
        if not is_aggregate(aggregate) or aggregate == "pass_rate":
            raise doc.error(
                (*where, "aggregate"),
                f"unknown aggregate {aggregate!r} for a comparison (mean, median, pNN, ...)",
            )
        if spec["candidate"] == spec["reference"]:
            raise doc.error(
                (*where, "reference"),
                f"candidate and reference are the same variant {spec['candidate']!r}",
            )
        limits = ("max_drop", "max_drop_pct", "max_rise", "max_rise_pct", "significance")
        if not any(k in spec for k in limits):
            raise doc.error(
                where,
                "a comparison needs max_drop, max_drop_pct, max_rise, max_rise_pct or "
                "significance (e.g. max_drop: 0 for \"not worse at all\")",
            )
        rule = CompareRule(
            metric=spec["metric"],
            candidate=spec["candidate"],
            reference=spec["reference"],
            aggregate=aggregate,
            max_drop=spec.get("max_drop"),
            max_drop_pct=spec.get("max_drop_pct"),
            max_rise=spec.get("max_rise"),
            max_rise_pct=spec.get("max_rise_pct"),
            direction=spec.get("direction"),
            severity=spec.get("severity", "fail"),
            source=_source(doc, where),
            significance=spec.get("significance"),
            min_effect=spec.get("min_effect"),
            literal=bool(spec.get("literal", False)),
        )
        if rule.key in out:
            raise doc.error(
                where,
                f"a second comparison of {rule.candidate!r} with {rule.reference!r} on "
                f"{rule.metric!r} (the first is at {out[rule.key].source})",
            )
        out[rule.key] = rule
    return tuple(out.values())


CORRECTION_KEY = "correction"
CORRECTIONS = ("holm", "bh", "bonferroni", "none")


def _correction(doc: Located, key: Key, raw: Mapping[str, Any] | None) -> str | None:
    """`regression.correction:` (holm | bh | bonferroni | none), or None when not set here."""
    if not raw or CORRECTION_KEY not in raw:
        return None
    value = raw[CORRECTION_KEY]
    if value not in CORRECTIONS:
        raise doc.error(
            (*key, CORRECTION_KEY),
            f"unknown correction {value!r} (choose from {', '.join(CORRECTIONS)})",
        )
    return str(value)


def thresholds_from(doc: Located, key: Key = (), *, strict: bool = False) -> Thresholds:
    """Build thresholds from a located document (the whole file, or a suite's sub-block)."""
    data = doc.data
    for part in key:
        data = data[part]
    if data is None:
        data = {}
    _non_finite(doc, key, data)
    if key:
        sub = Located(
            path=doc.path,
            data=data,
            lines={k[len(key) :]: v for k, v in doc.lines.items() if k[: len(key)] == key},
        )
        validate_against = sub
    else:
        validate_against = doc
    try:
        validate_located(validate_against, "thresholds")
    except InputError as exc:
        if not key:
            raise
        # the block was validated on its own: put the suite's path back in front of the field
        field_name = ".".join(p for p in (dotted(key), exc.field) if p)
        raise InputError(exc.path, exc.problem, line=exc.line, field=field_name) from None
    defaults = data.get("defaults") or {}
    layers = [
        _Layer(
            {},
            defaults,
            _rules(doc, (*key, "metrics"), data.get("metrics") or {}, defaults, strict),
            _regression(doc, (*key, "regression"), data.get("regression")),
            _correction(doc, (*key, "regression"), data.get("regression")),
            key=key,
            compare=_compare(doc, (*key, COMPARE_KEY), data.get(COMPARE_KEY)),
        )
    ]
    for index, override in enumerate(data.get("overrides") or []):
        okey: Key = (*key, "overrides", index)
        for name, pattern in override["match"].items():
            problem = glob_problem(pattern)
            if problem:
                raise doc.error((*okey, "match", name), problem)
        odefaults = {**defaults, **(override.get("defaults") or {})}
        layers.append(
            _Layer(
                override["match"],
                override.get("defaults") or {},
                _rules(doc, (*okey, "metrics"), override.get("metrics") or {}, odefaults, strict),
                _regression(doc, (*okey, "regression"), override.get("regression")),
                _correction(doc, (*okey, "regression"), override.get("regression")),
                key=okey,
                compare=_compare(doc, (*okey, COMPARE_KEY), override.get(COMPARE_KEY)),
            )
        )
    return Thresholds(path=doc.path, layers=tuple(layers), strict=strict, doc=doc)


def glob_problem(pattern: str) -> str | None:
    """Why an override's `match:` glob is unusable, or None.

    fnmatch never raises: an unclosed `[` silently becomes a literal and the override then
    matches nothing, so the gate quietly keeps the rules the override meant to replace.
    """
    if pattern == "":
        return "empty pattern (matches nothing; use '*' for anything)"
    index = 0
    while index < len(pattern):
        if pattern[index] == "[":
            end = index + 1
            if end < len(pattern) and pattern[end] == "!":
                end += 1
            if end < len(pattern) and pattern[end] == "]":
                end += 1  # a ']' first in the set is a literal
            close = pattern.find("]", end)
            if close < 0:
                return (
                    f"unclosed '[' in glob {pattern!r} (write '[[]' for a literal '[')"
                )
            index = close
        index += 1
    return None


def _non_finite(doc: Located, key: Key, value: Any) -> None:
    """NaN compares false with everything, so `min: .nan` would pass every value; inf bounds
    nothing. Both are refused wherever a number is expected."""
    if isinstance(value, float) and not math.isfinite(value):
        raise doc.error(key, f"must be a finite number, got {value!r}")
    if isinstance(value, Mapping):
        for name, item in value.items():
            _non_finite(doc, (*key, str(name)), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _non_finite(doc, (*key, index), item)


def load_thresholds(path: Path) -> Thresholds:
    """Load and validate a thresholds.yaml file."""
    doc = load_yaml(path)
    if doc.data is None:
        doc = Located(path=path, data={}, lines={})
    if not isinstance(doc.data, dict):
        raise doc.error((), "expected a mapping at the top level")
    return thresholds_from(doc)
