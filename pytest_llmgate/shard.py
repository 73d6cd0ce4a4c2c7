"""Sharding (`--llm-gate-shard I/N`): which items and rows a shard runs, and how `llmgate merge`
joins the row slices of one item back together.

Why rows too: one item with 50,000 golden rows would otherwise sit on one machine while the others
idle. Items are dealt round-robin over their sorted node ids (the same on every machine). An item
with more than `LLMGATE_SHARD_SPLIT_ROWS` rows (default 1000) runs on every shard instead, shard I
taking the contiguous rows `[total*(I-1)//N, total*I//N)`. Each slice's result records its bounds
and the policy that was in force, so a merge re-aggregates all rows and re-applies the same
thresholds without reading any configuration: the merged verdict and reports equal those of the
unsharded run. (A shard's own verdict on a slice is provisional; the merge decides.)
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields, replace
from typing import Any

from pytest_llmgate.results import ItemResult
from pytest_llmgate.thresholds import Policy, RegressionRule, Rule

__all__ = [
    "SPLIT_ROWS_ENV",
    "ShardMergeError",
    "assign",
    "merge_slices",
    "part_record",
    "policy_from_dict",
    "policy_to_dict",
    "row_bounds",
    "split_threshold",
]

SPLIT_ROWS_ENV = "LLMGATE_SHARD_SPLIT_ROWS"
DEFAULT_SPLIT_ROWS = 1000


class ShardMergeError(ValueError):
    """Slices of an item that cannot be joined (a shard missing, or shards of different runs)."""


def split_threshold() -> int:
    """Items with more rows than this are split by rows (every shard must use the same value)."""
    raw = os.environ.get(SPLIT_ROWS_ENV, "").strip()
    try:
        return max(1, int(raw)) if raw else DEFAULT_SPLIT_ROWS
    except ValueError:
        return DEFAULT_SPLIT_ROWS


def row_bounds(total: int, index: int, count: int) -> tuple[int, int]:
    """Shard `index` (1-based) of `count`: a contiguous, near-equal slice of `total` rows."""
    return total * (index - 1) // count, total * index // count


def assign(
    items: Sequence[tuple[str, int]], index: int, count: int, threshold: int | None = None
) -> dict[str, tuple[int, int] | None]:
    """The items shard `index` of `count` runs: node id -> row bounds, or None for the whole item.

    `items` are (node id, row count) pairs in any order; the answer depends only on their set."""
    threshold = split_threshold() if threshold is None else threshold
    out: dict[str, tuple[int, int] | None] = {}
    whole = []
    for nodeid, rows in sorted(items):
        if count > 1 and rows > threshold and rows >= count:
            out[nodeid] = row_bounds(rows, index, count)
        else:
            whole.append(nodeid)
    for position, nodeid in enumerate(whole):
        if position % count == index - 1:
            out[nodeid] = None
    return out


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The policy as builtins (for the results JSON), field by field so new fields travel too."""
    out: dict[str, Any] = {
        f.name: getattr(policy, f.name) for f in fields(policy)
        if f.name not in ("rules", "regression")
    }
    out["rules"] = {m: [asdict(r) for r in rules] for m, rules in policy.rules.items()}
    out["regression"] = {m: asdict(r) for m, r in policy.regression.items()}
    return out


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    known = {f.name for f in fields(Policy)}
    rest = {k: v for k, v in data.items() if k in known and k not in ("rules", "regression")}
    return Policy(
        rules={m: tuple(Rule(**r) for r in rules) for m, rules in data.get("rules", {}).items()},
        regression={m: RegressionRule(**r) for m, r in data.get("regression", {}).items()},
        **rest,
    )


def part_record(
    index: int, count: int, bounds: tuple[int, int], total: int, policy: Policy
) -> dict[str, Any]:
    return {
        "shard": [index, count],
        "start": bounds[0],
        "stop": bounds[1],
        "rows": total,
        "policy": policy_to_dict(policy),
    }


def _judge(nodeid: str, rows: Sequence[Any], policy: Policy, extra: Sequence[Any]) -> Any:
    from pytest_llmgate import gate

    kwargs: dict[str, Any] = {}
    # a seeded judge (bootstrap intervals) must get the seed the session used for this item
    if "seed" in inspect.signature(gate.judge).parameters:
        from pytest_llmgate import stats

        seed_for = getattr(stats, "seed_for", None)
        if seed_for is not None:
            kwargs["seed"] = seed_for(nodeid)
    return gate.judge(rows, policy, extra, **kwargs)


def merge_slices(slices: Sequence[ItemResult], baseline: ItemResult | None = None) -> ItemResult:
    """Join the row slices of one item and decide it as the unsharded run would have."""
    from pytest_llmgate.gate import aggregates_for
    from pytest_llmgate.session import _usage

    nodeid = slices[0].nodeid
    parts = sorted(slices, key=lambda s: int((s.part or {}).get("start", 0)))
    first = parts[0].part or {}
    total = int(first.get("rows", 0))
    expected = 0
    for piece in parts:
        part = piece.part or {}
        if int(part.get("rows", -1)) != total or piece.dataset_sha256 != parts[0].dataset_sha256:
            raise ShardMergeError(f"{nodeid}: slices come from different datasets or runs")
        start, stop = int(part["start"]), int(part["stop"])
        if start > expected:
            raise ShardMergeError(
                f"{nodeid}: rows {expected}..{start - 1} of {total} are missing "
                f"(merge every shard of the run)"
            )
        if start < expected:
            raise ShardMergeError(f"{nodeid}: two slices overlap at row {start}")
        expected = stop
    if expected != total:
        raise ShardMergeError(
            f"{nodeid}: rows {expected}..{total - 1} of {total} are missing "
            f"(merge every shard of the run)"
        )
    rows = [row for piece in parts for row in piece.rows]
    policy = policy_from_dict(first.get("policy", {}))
    extra: list[Any] = []
    if baseline is not None:
        from pytest_llmgate.compare import regression_checks

        extra = list(
            regression_checks(rows, baseline, policy, dataset_sha256=parts[0].dataset_sha256)
        )
    verdict = _judge(nodeid, rows, policy, extra)
    return replace(
        parts[0],
        verdict=verdict.verdict,
        message="; ".join(verdict.notes),
        rows=tuple(rows),
        aggregates=aggregates_for(rows),
        checks=verdict.checks,
        usage=_usage(rows),
        duration_s=sum(p.duration_s for p in parts),
        part=None,
    )
