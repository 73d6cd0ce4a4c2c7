"""Multiplicity control across a run's regression tests.

A pull request is judged by many paired tests at once (metrics x items); at 5% each, ten unchanged
metrics raise a false alarm in 40% of runs. Every significance-tested regression check's p-value is
adjusted: within an item by `holm` (default), `bonferroni` or `none`, then multiplied by the number
of items compared with the baseline (`family`). By the union bound the run's family-wise false-alarm
rate stays at the rules' level, and each item is decided as soon as it finishes (pytest reports it
then). Benjamini-Hochberg is not offered: it needs every p-value of the run before any item could be
decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pytest_llmgate.results import Check

__all__ = ["METHODS", "adjust", "apply_correction"]

METHODS = ("holm", "bonferroni", "none")


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values, in the input order."""
    m = len(p_values)
    if method == "none" or m == 0:
        return list(p_values)
    if method == "bonferroni":
        return [min(1.0, p * m) for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[i]))
            out[i] = running
        return out
    known = ", ".join(METHODS)
    raise ValueError(f"unknown multiplicity correction {method!r} (use one of {known})")


def apply_correction(
    checks: Sequence[Check], method: str, alphas: Sequence[float | None], *, family: int = 1
) -> list[Check]:
    """One item's `checks` with significance-tested regression checks re-decided on p-values
    adjusted within the item (`method`) and across `family` compared items.

    `alphas[i]` is the significance level of `checks[i]`'s rule (None: not a significance test).
    Adjusted p-values are never below the raw ones, so a correction can only turn a breach into
    "within noise", never the reverse."""
    tested = [
        i
        for i, (c, a) in enumerate(zip(checks, alphas, strict=True))
        if c.kind == "regression" and c.p_value is not None and a is not None
    ]
    within = adjust([checks[i].p_value for i in tested], method)  # type: ignore[misc]
    adjusted = [min(1.0, p * max(1, family)) for p in within]
    scope = f"{len(tested)} test(s) of this item x {family} compared item(s)"
    out = list(checks)
    for i, p_adj in zip(tested, adjusted, strict=True):
        check, alpha = checks[i], alphas[i]
        assert alpha is not None
        updated = replace(check, p_adjusted=p_adj)
        if check.verdict in ("fail", "warn") and p_adj >= alpha:
            updated = replace(
                updated,
                verdict="pass",
                message=f"{check.message}; within noise after {method} correction over "
                f"{scope} (adjusted p={p_adj:.3g} >= {alpha:g})",
            )
        out[i] = updated
    return out
