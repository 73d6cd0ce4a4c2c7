"""Multiple testing: a pull request is judged by many regression tests at once (metrics x items).

Each paired test holds its own false-alarm rate (say 5%), but with 20 unchanged metrics the chance
that *some* test fires is about 64%. `adjust` turns raw p-values into adjusted ones that control
the family-wise error rate (Holm, Bonferroni) or the false discovery rate (Benjamini-Hochberg)
across the run; `apply_correction` re-decides an item's regression checks with them, times the
number of compared items (see its docstring). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pytest_llmgate.results.model import Check

__all__ = ["METHODS", "adjust", "apply_correction"]

METHODS = ("holm", "bh", "bonferroni", "none")


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values, in the input's order; compare each with the family's alpha.

    - bonferroni: p * m (family-wise error rate, any dependence);
    - holm: step-down Bonferroni, uniformly more powerful, same guarantee;
    - bh: Benjamini-Hochberg step-up (false discovery rate, independent or positively dependent
      tests);
    - none: unchanged.
    """
    if method not in METHODS:
        raise ValueError(f"unknown correction {method!r} (choose from {', '.join(METHODS)})")
    for p in p_values:
        if not 0.0 <= p <= 1.0:  # also refuses NaN
            raise ValueError(f"a p-value must be within 0..1, got {p}")
    m = len(p_values)
    if method == "none" or m == 0:
        return [float(p) for p in p_values]
    if method == "bonferroni":
        return [min(1.0, p * m) for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, index in enumerate(order):  # rank 0 is the smallest p
            running = max(running, min(1.0, (m - rank) * p_values[index]))
            adjusted[index] = running
        return adjusted
    running = 1.0  # bh: from the largest p down
    for rank in range(m - 1, -1, -1):
        index = order[rank]
        running = min(running, min(1.0, m / (rank + 1) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _in_family(check: Check) -> bool:
    return check.kind == "regression" and check.p_value is not None


def apply_correction(
    checks: Sequence[Check], method: str, alpha: float = 0.05, *, family: int = 1
) -> list[Check]:
    """One item's checks with every paired regression test corrected for multiplicity.

    The p-values of the item's tests (every regression check that carries one: a test was made,
    whatever its outcome) are adjusted with `method`, then multiplied by `family`, the number of
    items of the run compared with the baseline. By the union bound the run's family-wise
    false-alarm rate stays at the rules' level (for `bh`: when nothing changed, which is the
    false alarm that matters), and each item is decided as soon as it finishes, which pytest
    needs to report it. A check that breached on its raw p-value stays breached only when its
    adjusted p-value is below its own level (`check.alpha`, else `alpha`); it then passes with a
    message saying so. Adjusting never turns a pass into a breach (adjusted p >= raw p)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    if family < 1:
        raise ValueError(f"family must be at least 1, got {family}")
    tested = [i for i, c in enumerate(checks) if _in_family(c)]
    within = adjust([checks[i].p_value for i in tested], method)  # type: ignore[misc]
    factor = 1 if method == "none" else family
    out = list(checks)
    scope = f"{len(tested)} test(s) of this item x {family} compared item(s)"
    for index, p_within in zip(tested, within, strict=True):
        check = checks[index]
        p_adj = min(1.0, p_within * factor)
        level = check.alpha if check.alpha is not None else alpha
        updated = replace(check, p_adjusted=p_adj)
        breached = check.verdict in ("fail", "warn")
        if breached and p_adj >= level and method != "none":
            updated = replace(
                updated,
                verdict="pass",
                message=f"{check.message}; within noise after {method} correction over "
                f"{scope} (adjusted p={p_adj:.3g} >= {level:g})",
            )
        out[index] = updated
    return out
