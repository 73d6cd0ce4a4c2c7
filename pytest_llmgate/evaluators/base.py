"""The evaluator calling convention and the normalisation of what evaluators return.

Evaluators follow azure-ai-evaluation's convention so theirs plug in unchanged: keyword arguments
named after row fields (`response`, `query`, `context`, `ground_truth`, ...), returning a number, a
bool, or a dict of named metrics. Anything that is not a finite number where a score is expected is
an `EvaluationError` for that row: never a score of 0, never a pass.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_llmgate.errors import EvaluationError

__all__ = ["BoundEvaluator", "Signature", "normalize_output", "signature_of"]

_OK_STATUS = frozenset({"completed", "success", "succeeded", "ok"})
# keys of azure-ai-evaluation results that restate configuration or a pass/fail we decide ourselves
_SKIP_SUFFIXES = ("_threshold", "_passed", "_result")
# keys that describe a score rather than being one: None there means "nothing to say"
_DETAIL_SUFFIXES = (
    "reason",
    "label",
    "result",
    "properties",
    "explanation",
    "details",
    "detail",
    "status",
    "threshold",
    "passed",
    "error",
    "errors",
    "message",
    "version",
    "model",
    "info",
    "notes",
    "comment",
    "kinds",
    "matches",
    "patterns",
)
# usage numbers azure nests in `K_properties`: the row's own ledger records usage, and letting
# these through would overwrite the subject's `prompt_tokens` / `latency_ms`
_USAGE_KEYS = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_token_count",
        "output_token_count",
        "total_token_count",
        "cost_usd",
        "latency_ms",
        "duration",
    }
)


@dataclass(frozen=True)
class Signature:
    """Which keyword arguments a callable takes."""

    params: tuple[str, ...]
    required: frozenset[str]
    var_kwargs: bool
    is_async: bool


def signature_of(fn: Callable[..., Any]) -> Signature:
    """Introspect a function, bound method or callable instance."""
    target: Any = fn
    if not inspect.isfunction(fn) and not inspect.ismethod(fn) and callable(fn):
        target = fn.__call__  # type: ignore[operator]
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return Signature((), frozenset(), True, False)
    params: list[str] = []
    required: set[str] = set()
    var_kwargs = False
    # `self` counts as nothing: an unbound `Class.__call__(self, *args, **kwargs)` (azure's
    # evaluator classes) declares its inputs in overloads exactly as the bound method does
    parameters = [p for p in sig.parameters.values() if p.name != "self"]
    if all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        # azure-ai-evaluation declares its inputs only in @overload signatures
        overloads = _overload_params(target)
        if overloads:
            return Signature(overloads, frozenset(), True, inspect.iscoroutinefunction(target))
    for p in parameters:
        if p.name == "self":
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kwargs = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            params.append(p.name)
            if p.default is p.empty:
                required.add(p.name)
    is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(fn)
    return Signature(tuple(params), frozenset(required), var_kwargs, is_async)


def _overload_params(target: Any) -> tuple[str, ...]:
    import typing

    func = getattr(target, "__func__", target)
    try:
        overloads = typing.get_overloads(func)
    except Exception:
        return ()
    names: dict[str, None] = {}
    for overload in overloads:
        for p in inspect.signature(overload).parameters.values():
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names[p.name] = None
    return tuple(names)


def _number(key: str, value: Any) -> float:
    """A finite float, or an `EvaluationError` naming the metric (never an OverflowError that
    would escape the row: `float(10**400)` raises, it does not return inf)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            bits = int(value).bit_length()
            raise EvaluationError(
                f"metric {key!r} is an integer too large for a float ({bits} bits)"
            ) from None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise EvaluationError(f"metric {key!r} is not a number: {exc}") from None
    if not math.isfinite(number):
        raise EvaluationError(f"metric {key!r} is {number!r}, not a finite number")
    return number


def _flatten(
    prefix_key: str | None,
    value: Mapping[str, Any],
    metrics: dict[str, float],
    details: dict[str, Any],
) -> None:
    for key, item in value.items():
        key = str(key)
        if key.endswith("_status") and isinstance(item, str) and item.lower() not in _OK_STATUS:
            reason = value.get(key[: -len("_status")] + "_reason") or value.get("error") or item
            raise EvaluationError(f"{key} is {item!r}: {reason}")
        if prefix_key is not None and key in _USAGE_KEYS:
            continue
        if key.endswith(_SKIP_SUFFIXES) and not isinstance(item, Mapping):
            if item is not None and isinstance(item, (str, int, float, bool)):
                details[key] = item  # azure's own names (K_passed, K_threshold) stay readable
            continue
        if isinstance(item, bool):
            metrics[key] = 1.0 if item else 0.0
        elif isinstance(item, numbers.Real):
            base = key[: -len("_score")] if key.endswith("_score") else None
            if base is not None and base in value and value[base] == item:
                details[key] = item  # azure restates K as K_score: one metric, both names kept
                continue
            metrics[key] = _number(key, item)
        elif isinstance(item, Mapping):
            if key.endswith("_properties"):
                _flatten(key, item, metrics, details)
            else:
                details[key] = dict(item)
        elif item is None:
            if key.lower().endswith(_DETAIL_SUFFIXES):
                continue  # an absent explanation, label or error: nothing to record
            # a score that is None would silently drop the row from the aggregate
            raise EvaluationError(f"metric {key!r} is None, not a number")
        else:
            details[key] = item


def normalize_output(name: str, value: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """Turn an evaluator's return value into (metrics, details); raise on anything unscoreable."""
    if isinstance(value, bool):
        return {name: 1.0 if value else 0.0}, {}
    if isinstance(value, numbers.Real):
        return {name: _number(name, value)}, {}
    if isinstance(value, Mapping):
        metrics: dict[str, float] = {}
        details: dict[str, Any] = {}
        _flatten(None, value, metrics, details)
        if not metrics:
            raise EvaluationError(
                f"returned no numeric metric (keys: {', '.join(map(str, value))})"
            )
        return metrics, details
    raise EvaluationError(
        f"returned {type(value).__name__}, expected a number, a bool or a dict of metrics"
    )


@dataclass
class BoundEvaluator:
    """An evaluator configured in a suite: what to call, with which inputs, under which name."""

    name: str
    use: str
    args: dict[str, Any]
    fn: Callable[..., Any]
    signature: Signature
    inputs: dict[str, Any] = field(default_factory=dict)
    prefix: str = ""
    outputs: tuple[str, ...] | None = None
    inline: bool = False  # cheap, CPU-bound built-ins run on the event loop thread
    needs_model: bool = False
    version: str = "1"
    repeat: int = 1  # judge repeats: re-judge the same answer, average the scores
    timeout: float | None = None  # seconds per call (suite `timeout:`); None: the run's default

    @property
    def spec(self) -> dict[str, Any]:
        """What the results record so a run can be re-scored."""
        spec: dict[str, Any] = {"name": self.name, "use": self.use, "version": self.version}
        if self.args:
            spec["args"] = self.args
        if self.inputs:
            spec["inputs"] = self.inputs
        if self.prefix:
            spec["prefix"] = self.prefix
        # evaluators whose scores depend on installed data (METEOR's WordNet) say which they used
        sources = getattr(self.fn, "data_sources", None)
        if isinstance(sources, dict) and sources:
            spec["data"] = dict(sources)
        return spec


def item_level_metrics(
    evaluators: Sequence[BoundEvaluator], rows: Sequence[Any]
) -> tuple[dict[str, float], list[str]]:
    """Metrics of evaluators that also score the item as a whole (an `aggregate(rows, prefix=)`
    method, e.g. a Prompt Flow evaluation flow's aggregation node and its `log_metric` calls).

    Thresholds gate these values directly, whatever the rule's aggregate. An exception, or a
    value that is not a finite number, is an item error, never a score.
    """
    metrics: dict[str, float] = {}
    errors: list[str] = []
    for ev in evaluators:
        hook = getattr(ev.fn, "aggregate", None)
        if not callable(hook):
            continue
        try:
            got = hook(rows, prefix=ev.prefix)
            for key, value in dict(got).items():
                metrics[str(key)] = _number(str(key), value)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # user code: SystemExit and friends are errors here too
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            kind = type(exc).__name__
            errors.append(f"evaluator {ev.name}: aggregation: {kind}: {text}".rstrip(": "))
    return metrics, errors


@dataclass(frozen=True)
class EvaluatorEntry:
    """An evaluator as written in a suite file (already schema-checked), before it is resolved."""

    name: str
    use: str
    args: Mapping[str, Any]
    inputs: Mapping[str, Any]
    prefix: str
    key: tuple[str | int, ...]
    repeat: int | None = None
    timeout: float | None = None
    outputs: tuple[str, ...] | None = None  # declared metric names, for evaluators that cannot
