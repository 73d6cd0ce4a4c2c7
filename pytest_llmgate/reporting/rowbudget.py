"""Which rows the HTML report embeds when a run has more than its row budget.

A streamed million-row run (`<results>.rows.jsonl.gz`) as a page of every row is hundreds of MB
that no browser opens, and building it holds every row at once. The page gets a budget of rows
(`DEFAULT_ROW_BUDGET`, `--llm-gate-html-rows`, `llmgate report --html-rows`), shared between
items (`shares`: a small item keeps all its rows, big ones split the rest evenly). An item over
its share keeps, in this order:

1. the worst rows of each metric (`WORST_PER_METRIC` per metric, at most a quarter of its share),
2. every errored and every failing row (a row past a row-level bound, as the report marks it),
   when they fit in what is left with a quarter kept for (3); else an even split between them,
   each a deterministic sample by row id,
3. a sample of the other rows by row id, so the page still shows what a typical row looks like.

Sampling by a hash of the row id (not by position) picks the same golden rows in every variant
and in the baseline, so the variant matrix and the baseline diff line up.

`scan_rows` makes one pass over an item's rows holding only row indices, hash keys and one
histogram per metric (never the rows): from the columns already in memory when the run streamed
its rows (`storedrows.built_columns`), else from the rows as they are read. Histograms come from
every row, so they, like the metric tables (the item's aggregates), equal the results JSON.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_llmgate.results.model import ItemResult, RowResult

__all__ = [
    "BINS",
    "DEFAULT_ROW_BUDGET",
    "WORST_PER_METRIC",
    "RowScan",
    "parse_row_budget",
    "row_key",
    "scan_rows",
    "shares",
]

# rows embedded per page (bench/bench_report.py, busy 2-core box): with every row, the bench's
# 20k / 50k / 100k-row runs are 2.9 / 7.0 / 15 MB pages built in 1.2 / 5.5 / 13 s that open in
# Chromium in 1.1 / 1.3 / 2.2 s; a streamed 200k-row item is 44 MB and peaks at 1 GiB to build.
# 20k leaves room for rows much wider than the bench's and keeps both under a couple of seconds.
DEFAULT_ROW_BUDGET = 20_000
WORST_PER_METRIC = 10
BINS = 20


def parse_row_budget(text: str) -> int | None:
    """A budget as the option and `llmgate report --html-rows` take it: a positive row count,
    or `all` (None: every row). Kept free of heavy imports: the option parser calls it."""
    text = text.strip()
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"expected a positive row count or all, got {text!r}")
    return value


def shares(sizes: Sequence[int], budget: int | None) -> list[int | None]:
    """Rows each item may embed: None for every item when all rows fit (or there is no budget);
    else the water level: items at or under it keep their rows, the bigger ones split what is
    left evenly (the remainder to the first of them in item order)."""
    if budget is None or sum(sizes) <= budget:
        return [None] * len(sizes)
    left = budget
    order = sorted(range(len(sizes)), key=lambda i: (sizes[i], i))
    out: list[int | None] = [None] * len(sizes)
    for position, index in enumerate(order):
        if sizes[index] > left // (len(sizes) - position):
            big = sorted(order[position:])
            level, extra = divmod(left, len(big))
            for rank, i in enumerate(big):
                out[i] = level + (1 if rank < extra else 0)
            for i in order[:position]:
                out[i] = level  # at or under the level: all their rows
            return out
        left -= sizes[index]
    raise AssertionError("unreachable: the sizes fit the budget")  # pragma: no cover


def row_key(row_id: str) -> int:
    """A row's place in the sample: the same in every run, process and variant."""
    digest = hashlib.blake2b(row_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class _Smallest:
    """The `cap` (key, index) pairs with the smallest keys seen, without holding the others."""

    __slots__ = ("cap", "heap", "seen")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.heap: list[tuple[int, int]] = []  # (-key, -index): the root is the largest kept
        self.seen = 0

    def add(self, key: int, index: int) -> None:
        self.seen += 1
        heap = self.heap
        if len(heap) < self.cap:
            heapq.heappush(heap, (-key, -index))
        elif heap and (key, index) < (-heap[0][0], -heap[0][1]):
            heapq.heapreplace(heap, (-key, -index))

    def ordered(self) -> list[int]:
        return [-i for _, i in sorted(self.heap, key=lambda e: (-e[0], -e[1]))]


@dataclass(frozen=True)
class RowScan:
    """What one pass over an item's rows found: histograms, and (over its share) which rows the
    page embeds and the sentence that says so."""

    hist: dict[str, list[int]]
    keep: frozenset[int] | None = None  # row positions to embed; None: every row
    total: int = 0
    errored: int = 0  # rows with errors (`ItemResult.error_count`, without a second pass)
    note: str = ""


def _light_rows(item: ItemResult) -> Iterator[RowResult]:
    from pytest_llmgate.results.storedrows import built_columns

    columns = built_columns(item.rows)
    if columns is not None:
        return (columns.light_row(i) for i in range(columns.rows))
    return iter(item.rows)


def _low_is_bad(item: ItemResult, metric: str) -> bool:
    from pytest_llmgate.config.thresholds import HIGHER_IS_BETTER, direction_of

    for check in item.checks:
        if check.kind == "threshold" and check.metric == metric:
            return check.min is not None or check.max is None
    return direction_of(metric) == HIGHER_IS_BETTER


def scan_rows(item: ItemResult, ranges: Mapping[str, tuple[float, float]],
              share: int | None, budget: int | None = None) -> RowScan:
    """One pass over `item`'s rows: histograms over `ranges`, and the rows to embed when the
    item has more than `share` (see the module docstring)."""
    from pytest_llmgate.reporting._common import row_failures

    bins = {m: [0] * BINS for m in ranges if m in item.aggregates}
    scale = {m: (lo, BINS / (hi - lo) if hi > lo else 0.0) for m, (lo, hi) in ranges.items()
             if m in bins}
    total = len(item.rows)
    select = share is not None and total > share
    quota = share if share is not None else total
    failures = row_failures(item)
    kinds = (_Smallest(quota), _Smallest(quota), _Smallest(quota))  # errored, failing, other
    gated = {c.metric for c in item.checks if c.kind == "threshold"}
    metrics = sorted(item.aggregates, key=lambda m: m not in gated)  # gated first (stable)
    worst: dict[str, tuple[bool, list[tuple[float, int, int]]]] = {
        m: (_low_is_bad(item, m), []) for m in metrics}
    errored = 0
    for index, row in enumerate(_light_rows(item)):
        errored += bool(row.errors)
        values = row.metrics
        for metric, value in values.items():
            found = scale.get(metric)
            if found is None or not math.isfinite(value):
                continue
            slot = int((value - found[0]) * found[1])
            bins[metric][min(max(slot, 0), BINS - 1)] += 1
        if not select:
            continue
        status = 2 if row.errors else 1 if failures(row) else 0
        kinds[(2, 1, 0).index(status)].add(row_key(row.id), index)
        if status == 2:
            continue
        for metric, (low_is_bad, heap) in worst.items():
            score = values.get(metric)
            if score is None:
                continue
            bad = -score if low_is_bad else score  # larger: worse
            full = len(heap) >= WORST_PER_METRIC
            if (full and bad <= heap[0][0]) or not math.isfinite(bad):
                continue  # no worse than the kept ones (a tie goes to the earlier row)
            if full:
                heapq.heapreplace(heap, (bad, -index, status))
            else:
                heapq.heappush(heap, (bad, -index, status))
    if not select:
        return RowScan(bins, None, total, errored)
    return _choose(item, bins, total, quota, budget, kinds, worst)


def _choose(item: ItemResult, bins: dict[str, list[int]], total: int, quota: int,
            budget: int | None, kinds: tuple[_Smallest, _Smallest, _Smallest],
            worst: Mapping[str, tuple[bool, list[tuple[float, int, int]]]]) -> RowScan:
    ranked = {m: sorted(heap, reverse=True) for m, (_, heap) in worst.items()}
    chosen: dict[int, int] = {}  # worst rows: position -> status
    per_metric = dict.fromkeys(ranked, 0)
    for rank in range(WORST_PER_METRIC):
        for metric, entries in ranked.items():
            if rank < len(entries) and len(chosen) < quota // 4:
                chosen.setdefault(-entries[rank][1], entries[rank][2])
                per_metric[metric] += 1
    errored, failing, other = (k.seen for k in kinds)
    worst_failing = sum(1 for s in chosen.values() if s == 1)
    worst_other = len(chosen) - worst_failing
    left = quota - len(chosen)
    failing_left, other_left = failing - worst_failing, other - worst_other
    problems = left - min(other_left, left // 4)
    take_errored = min(errored, max(problems // 2, problems - failing_left))
    take_failing = min(failing_left, problems - take_errored)
    take_other = min(other_left, left - take_errored - take_failing)
    keep = set(chosen)
    for kind, take in zip(kinds, (take_errored, take_failing, take_other), strict=True):
        added = 0
        for index in kind.ordered():
            if added == take:
                break
            if index not in keep:
                keep.add(index)
                added += 1
    note = _note(item, total, len(keep), quota, budget, (errored, take_errored),
                 (failing, take_failing + worst_failing), (other, take_other + worst_other),
                 len(chosen), {m: n for m, n in per_metric.items() if n})
    return RowScan(bins, frozenset(keep), total, errored, note)


def _count(shown: int, total: int, what: str, how: str) -> str:
    if shown == total:
        return f"all {total:,} {what}" if total != 1 else f"the {what.rstrip('s')}"
    return f"{shown:,} of {total:,} {what} ({how})"


def _note(item: ItemResult, total: int, shown: int, quota: int, budget: int | None,
          errored: tuple[int, int], failing: tuple[int, int], other: tuple[int, int],
          worst: int, per_metric: Mapping[str, int]) -> str:
    names = list(per_metric)
    parts = []
    if errored[0]:
        parts.append(_count(errored[1], errored[0], "errored rows", "a sample by row id"))
    if failing[0]:
        parts.append(_count(failing[1], failing[0], "failing rows", "a sample by row id"))
    if worst:
        low, high = min(per_metric.values()), max(per_metric.values())
        listed = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        each = f"{low}" if low == high else f"{low} to {high}"
        parts.append(f"the worst {each} rows by each of {listed} ({worst:,} rows)")
    if other[0]:
        parts.append(_count(other[1], other[0], "other rows", "a sample by row id"))
    where = getattr(item.rows, "path", None)
    rest = (f"every row is in {where.name}" if where is not None
            else "every row is in the results JSON")
    why = f"the page's row budget is {budget:,} rows" if budget is not None else "row budget"
    if budget is None or quota != budget:
        why += f", {quota:,} for this item"
    kept = "; ".join(parts) if parts else "no rows"
    return f"showing {shown:,} of {total:,} rows ({why}): {kept}; {rest}."
