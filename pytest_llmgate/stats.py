"""Aggregates over per-row scores: mean, median, min, max, sum, std, count, percentiles, pass rate.

Percentiles use linear interpolation between closest ranks (NumPy's default "linear" method), so
`p50 == median` and results agree with `numpy.percentile`. Pure Python: no NumPy import needed.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from pytest_llmgate.config.aggregates import AGGREGATE_PATTERN, is_aggregate

__all__ = [
    "AGGREGATE_PATTERN",
    "aggregate",
    "betainc",
    "bootstrap_interval",
    "clip_interval",
    "interval",
    "is_aggregate",
    "mcnemar_p",
    "mean_interval",
    "metric_range",
    "paired_mde",
    "pass_rate",
    "percentile",
    "seed_for",
    "sign_flip_p",
    "summarize",
    "t_cdf",
    "t_quantile",
    "wilson_interval",
]

SUMMARY = ("mean", "median", "min", "max", "std", "p10", "p90", "p95", "sum", "count")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linear interpolation."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(sorted_values[low])
    fraction = position - low
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def aggregate(values: Sequence[float], name: str) -> float | None:
    """Aggregate `values` by `name`; None when there is nothing to aggregate."""
    if name == "count":
        return float(len(values))
    if not values:
        return None
    if name == "mean":
        return _mean(values)
    if name == "sum":
        return math.fsum(values)
    if name == "min":
        return float(min(values))
    if name == "max":
        return float(max(values))
    if name == "std":
        if len(values) < 2:
            return 0.0
        mean = _mean(values)
        return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
    ordered = sorted(values)
    if name == "median":
        return percentile(ordered, 50)
    match = AGGREGATE_PATTERN.match(name)
    if match and match.group(2) is not None:
        return percentile(ordered, int(match.group(2)))
    raise ValueError(f"unknown aggregate {name!r}")


def pass_rate(
    values: Sequence[float | None], low: float | None, high: float | None
) -> float | None:
    """Share of rows whose value lies within [low, high]; a missing value (error) never passes."""
    if not values:
        return None
    passed = sum(
        1
        for v in values
        if v is not None and (low is None or v >= low) and (high is None or v <= high)
    )
    return passed / len(values)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """The standard aggregates recorded for every metric in the results."""
    out: dict[str, float] = {}
    ordered: list[float] | None = None
    for name in SUMMARY:
        if name in ("median", "p10", "p90", "p95") and values:
            # one sort for all four percentiles (aggregate() would sort each time): the same
            # numbers, n log n once instead of four times per metric
            ordered = ordered if ordered is not None else sorted(values)
            out[name] = percentile(ordered, 50 if name == "median" else int(name[1:]))
            continue
        value = aggregate(values, name)
        if value is not None:
            out[name] = value
    return out


# ---- uncertainty ---------------------------------------------------------------------------------
# Methods (documented in docs/verdicts.md):
# - mean: Student's t interval (exact quantile) on per-row means, clipped to the metric's range
#   (repeats are averaged within a row first, so a
#   row is the independent unit: a cluster-level interval);
# - pass_rate: Wilson score interval on rows;
# - every other aggregate: percentile bootstrap over rows (resampling rows with their repeats),
#   seeded from the item id so reports are reproducible;
# - paired regression tests: sign-flip permutation test on per-row deltas (exact below 16 rows),
#   and an exact McNemar test for 0/1 metrics.


def _normal_quantile(p: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, to machine precision)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def _stirling_tail(x: float) -> float:
    """lgamma(x) - [(x - 1/2) log x - x + log(2 pi)/2], for x >= 10 (error < 1e-17)."""
    inv, inv2 = 1.0 / x, 1.0 / (x * x)
    return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680))))


def _log_beta(a: float, b: float) -> float:
    """log B(a, b) for a + b >= 170, without the cancellation of lgamma(a+b) - lgamma(a)."""
    big, small = max(a, b), min(a, b)
    if small >= 10:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # lgamma(big + small) - lgamma(big) by Stirling, the large terms combined analytically
    ratio = (
        (big - 0.5) * math.log1p(small / big)
        + small * math.log(big + small)
        - small
        + _stirling_tail(big + small)
        - _stirling_tail(big)
    )
    return math.lgamma(small) - ratio


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be within 0..1, got {x}")
    if x in (0.0, 1.0):
        return x
    power = a * math.log(x) + b * math.log1p(-x)
    if a + b < 170:  # Gamma itself is accurate to a few ulps; a difference of lgammas is not
        front = math.gamma(a + b) / (math.gamma(a) * math.gamma(b)) * math.exp(power)
    else:
        front = math.exp(power - _log_beta(a, b))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def _t_centre_mass(t: float, df: float) -> float:
    """P(0 < T < |t|), accurate near 0 (no cancellation against 1/2)."""
    return 0.5 * betainc(0.5, df / 2.0, t * t / (df + t * t))


def _t_tail(t: float, df: float) -> float:
    """P(T > |t|), accurate far out in the tail."""
    return 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """Student-t cumulative distribution, through the regularized incomplete beta function."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if t * t < df:
        mass = _t_centre_mass(t, df)
        return 0.5 + mass if t > 0 else 0.5 - mass
    tail = _t_tail(t, df)
    return 1.0 - tail if t > 0 else tail


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def t_quantile(p: float, df: float) -> float:
    """Student-t quantile, exact to machine precision: Newton's method on the t distribution
    (through the regularized incomplete beta function; the central mass near the median, the
    tail mass far out, so neither loses digits to cancellation), closed forms for df 1 and 2."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be within (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    sign = 1.0 if p > 0.5 else -1.0
    tail = 1.0 - p if p > 0.5 else p  # exact in floating point for p >= 0.5 (Sterbenz)
    if df == 1:
        return sign / math.tan(math.pi * tail)
    if df == 2:
        return sign * (1.0 - 2.0 * tail) / math.sqrt(2.0 * tail * (1.0 - tail))
    use_tail = tail < 0.25
    target = tail if use_tail else abs(p - 0.5)

    def excess(t: float) -> float:  # increasing in t > 0, zero at the quantile
        return target - _t_tail(t, df) if use_tail else _t_centre_mass(t, df) - target

    low, high = 0.0, max(1.0, -2.0 * _normal_quantile(tail))
    while excess(high) < 0:
        low, high = high, high * 2.0
    t = -_normal_quantile(tail)
    t = t if low < t < high else (low + high) / 2
    for _ in range(200):
        f = excess(t)
        if f == 0:
            return sign * t
        if f > 0:
            high = t
        else:
            low = t
        nxt = t - f / _t_pdf(t, df)
        if not low < nxt < high:
            nxt = (low + high) / 2
        if abs(nxt - t) <= 4e-16 * abs(t):
            return sign * nxt
        t = nxt
    return sign * t


# Known ranges of the built-in metrics: an interval of a mean never leaves them. Exact names, then
# suffixes; a metric not listed has no known range (only timing/cost/token counts are >= 0).
_UNIT_METRICS = frozenset(
    {
        "f1_score",
        "exact_match",
        "bleu_score",
        "gleu_score",
        "meteor_score",
        "facts_preserved",
        "grounded_ratio",
        "word_overlap",
        "pass",
        "passed",
    }
)
_JUDGE_1_5 = frozenset(
    {"groundedness", "relevance", "coherence", "fluency", "similarity", "retrieval"}
)
_SAFETY_0_7 = frozenset({"violence", "sexual", "self_harm", "hate_unfairness"})


def metric_range(metric: str) -> tuple[float | None, float | None]:
    """(low, high) a metric's per-row values cannot leave; None where unbounded or unknown."""
    name = metric.lower()
    if name in _UNIT_METRICS or name.startswith("rouge") or name.endswith(("_ratio", "_rate")):
        return 0.0, 1.0
    if name in _JUDGE_1_5:
        return 1.0, 5.0
    if name in _SAFETY_0_7 or (name.endswith("_score") and name[:-6] in _SAFETY_0_7):
        return 0.0, 7.0
    if name.endswith(("_ms", "_s", "_usd")) or "latency" in name or "tokens" in name:
        return 0.0, None
    if name.startswith(("cost", "length_")) or "cost_usd" in name:
        return 0.0, None
    return None, None


def clip_interval(
    ci: tuple[float, float] | None, bounds: tuple[float | None, float | None]
) -> tuple[float, float] | None:
    """Clip an interval to a metric's range (the true mean cannot lie outside it)."""
    if ci is None:
        return None
    low, high = ci
    lo, hi = bounds
    if lo is not None:
        low, high = max(low, lo), max(high, lo)
    if hi is not None:
        low, high = min(low, hi), min(high, hi)
    return float(low), float(high)


def mean_interval(
    values: Sequence[float],
    level: float = 0.95,
    bounds: tuple[float | None, float | None] = (None, None),
) -> tuple[float, float] | None:
    """Two-sided t interval for the mean, clipped to `bounds`; None when it cannot be estimated.

    Fewer than two values: no interval. No spread at all (every value the same): the t interval
    would have zero width, which claims certainty the data do not give; with a bounded range the
    values are rescaled to 0..1 and given a Wilson interval (the widest a bounded variable of that
    mean allows), without a range there is no interval."""
    n = len(values)
    if n < 2:
        return None
    mean = _mean(values)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    lo, hi = bounds
    if sd <= 1e-12 * max(1.0, abs(mean)):
        if lo is None or hi is None or hi <= lo:
            return None
        share = min(1.0, max(0.0, (mean - lo) / (hi - lo)))
        scaled = wilson_interval(share * n, n, level)
        assert scaled is not None
        return lo + scaled[0] * (hi - lo), lo + scaled[1] * (hi - lo)
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return clip_interval((mean - half, mean + half), bounds)


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion."""
    if n <= 0:
        return None
    z = _normal_quantile(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def seed_for(text: str) -> int:
    """A stable seed from an item id (hash() is salted per process)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _quantile_of(name: str) -> float | None:
    """The quantile (0..1) an aggregate estimates, or None for a non-quantile aggregate."""
    if name == "median":
        return 0.5
    match = AGGREGATE_PATTERN.match(name)
    if match and match.group(2) is not None:
        return int(match.group(2)) / 100.0
    return None


def bootstrap_interval(
    groups: Sequence[Sequence[float]],
    name: str,
    level: float = 0.95,
    *,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[float, float] | None:
    """Percentile bootstrap of aggregate `name` over per-row means, resampling rows whole.

    Rows without any spread give every resample the same value, a zero-width interval that claims
    a certainty the data do not give: then a quantile gets the distribution-free order-statistic
    interval [min, max], valid only when 1 - q^n - (1-q)^n reaches the level (n >= 6 for the
    median at 95%); other aggregates (min, max, std) cannot be estimated."""
    import random

    groups = [g for g in groups if g]
    if len(groups) < 2:
        return None
    n = len(groups)
    means = [math.fsum(g) / len(g) for g in groups]  # a row is the unit
    if max(means) - min(means) <= 1e-12 * max(1.0, abs(means[0])):
        q = _quantile_of(name)
        if q is None or 1.0 - q**n - (1.0 - q) ** n < level:
            return None
        return float(min(means)), float(max(means))
    rng = random.Random(seed)
    stats: list[float] = []
    for _ in range(resamples):
        value = aggregate([means[rng.randrange(n)] for _ in range(n)], name)
        if value is not None:
            stats.append(value)
    stats.sort()
    alpha = (1 - level) / 2
    return percentile(stats, alpha * 100), percentile(stats, (1 - alpha) * 100)


def interval(
    groups: Sequence[Sequence[float]],
    name: str,
    level: float = 0.95,
    *,
    seed: int = 0,
    bounds: tuple[float | None, float | None] = (None, None),
) -> tuple[float, float] | None:
    """Confidence interval of aggregate `name` over rows given as groups of repeat values, within
    the metric's range `bounds`; None when it cannot be estimated (see mean_interval)."""
    if name in ("count", "sum") or not groups:
        return None
    if name == "mean":
        # an array of the row means (8 bytes each): `groups` may be a million stored rows'
        return mean_interval(array("d", (_mean(g) for g in groups if g)), level, bounds)
    return clip_interval(bootstrap_interval(groups, name, level, seed=seed), bounds)


def sign_flip_p(
    deltas: Sequence[float], *, worse_is_negative: bool = True, seed: int = 0, resamples: int = 4000
) -> float:
    """One-sided p-value that the mean paired delta is this far in the worse direction by chance.

    Paired sign-flip permutation test: under no change, each row's delta is equally likely to have
    either sign. Exact enumeration up to 15 rows; seeded Monte Carlo beyond.
    """
    import itertools
    import random

    # an array (8 bytes a row): a streamed item pairs a million rows
    values = array("d", (d if worse_is_negative else -d for d in deltas if d == d))
    n = len(values)
    if n == 0:
        return 1.0
    observed = math.fsum(values)
    tol = 1e-12 * max(1.0, abs(observed))
    if n <= 15:
        count = 0
        total = 0
        for signs in itertools.product((1, -1), repeat=n):
            total += 1
            if math.fsum(s * v for s, v in zip(signs, values, strict=True)) <= observed + tol:
                count += 1
        return count / total
    rng = random.Random(seed)
    count = 1  # the observed assignment itself (keeps p > 0)
    for _ in range(resamples):
        flipped = math.fsum(v if rng.random() < 0.5 else -v for v in values)
        if flipped <= observed + tol:
            count += 1
    return count / (resamples + 1)


def mcnemar_p(worsened: int, improved: int) -> float:
    """Exact one-sided McNemar p: P(X >= worsened) for X ~ Binomial(worsened + improved, 1/2)."""
    n = worsened + improved
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(worsened, n + 1))
    return float(min(1.0, tail / 2**n))


def paired_mde(
    deltas: Sequence[float], alpha: float = 0.05, power: float = 0.8, *, binary: bool = False
) -> float | None:
    """Minimum detectable effect of a one-sided paired test over `deltas` (one per row).

    The smallest true mean worsening the test flags with probability `power` at level `alpha`,
    given the observed spread of per-row deltas: (t(1-alpha) + t(power)) * sd / sqrt(n), with
    n - 1 degrees of freedom. An exact sign-flip or McNemar test cannot go below 2^-k with k
    changed rows, so at least ceil(log2(1/alpha)) rows must change: for a 0/1 metric that is a
    floor of k/n on the mean. None below two rows, or when the test can never reach `alpha`.
    """
    values = array("d", (d for d in deltas if d == d))
    n = len(values)
    if n < 2:
        return None
    rows_needed = math.ceil(math.log2(1.0 / alpha) - 1e-12)
    if rows_needed > n:
        return None
    mean = _mean(values)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    spread = (t_quantile(1.0 - alpha, n - 1) + t_quantile(power, n - 1)) * sd / math.sqrt(n)
    return max(spread, rows_needed / n) if binary else spread
