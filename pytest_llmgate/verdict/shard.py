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

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import GateError
from pytest_llmgate.results.model import ItemResult, RowResult, RunResult
from pytest_llmgate.results.storedrows import JoinedRows, StoredRows

__all__ = [
    "SPLIT_ROWS_ENV",
    "ShardMergeError",
    "assign",
    "merge_runs",
    "merge_slices",
    "part_record",
    "row_bounds",
    "run_fingerprint",
    "split_threshold",
]

SPLIT_ROWS_ENV = "LLMGATE_SHARD_SPLIT_ROWS"
DEFAULT_SPLIT_ROWS = 1000


class ShardMergeError(GateError):
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


def part_record(index: int, count: int, bounds: tuple[int, int], total: int) -> dict[str, Any]:
    return {"shard": [index, count], "start": bounds[0], "stop": bounds[1], "rows": total}


def run_fingerprint(
    run_items: Sequence[str], thresholds: Path | None, git: Mapping[str, Any]
) -> str:
    """What makes shards parts of one run: the same items, policy file and commit."""
    digest = hashlib.sha256()
    for nodeid in sorted(run_items):
        digest.update(nodeid.encode() + b"\0")
    if thresholds is not None and thresholds.is_file():
        digest.update(thresholds.read_bytes())
    digest.update(str(git.get("commit") or "").encode())
    return digest.hexdigest()[:16]


def merge_slices(slices: Sequence[ItemResult]) -> ItemResult:
    """Join the row slices of one item and decide it as the unsharded run would have."""
    from pytest_llmgate.verdict.decision import reapply

    nodeid = slices[0].nodeid
    parts = sorted(slices, key=lambda s: int((s.part or {}).get("start", 0)))
    first = parts[0].part or {}
    total = int(first.get("rows", 0))
    expected = 0
    for piece in parts:
        part = piece.part or {}
        if int(part.get("rows", -1)) != total or piece.dataset_sha256 != parts[0].dataset_sha256:
            raise ShardMergeError(f"{nodeid}: slices come from different datasets or runs")
        if piece.policy != parts[0].policy:
            raise ShardMergeError(f"{nodeid}: slices were gated by different policies")
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
    errored = [p for p in parts if p.verdict == "error" and not p.rows]
    if errored:  # a slice that crashed: the item has no complete rows to decide on
        return replace(parts[0], verdict="error", message=errored[0].message, part=None)
    rows: Sequence[RowResult]
    if any(isinstance(piece.rows, StoredRows) for piece in parts):  # not loaded: joined
        rows = JoinedRows(nodeid, [piece.rows for piece in parts])
    else:
        rows = [row for piece in parts for row in piece.rows]
    merged = reapply(parts[0], rows)
    return replace(merged, duration_s=sum(p.duration_s for p in parts), part=None)


def _content(item: ItemResult) -> str:
    """An item without its timings: the same item run twice differs only in those."""
    data = item.to_dict()
    data.pop("duration_s", None)
    if data.pop("rows_stored", None) is not None:  # streamed rows: what they are, not where
        data["rows"] = [r.to_dict() for r in item.rows]
    for row in data["rows"]:
        row.pop("latency_ms", None)
        row.get("metrics", {}).pop("latency_ms", None)
    data.pop("aggregates", None)
    return json.dumps(data, sort_keys=True, default=str)


def _check_parts(parts: Sequence[tuple[RunResult, str]]) -> int:
    """Every shard of one run, each exactly once: returns N, or raises with what is wrong."""
    shards: dict[int, str] = {}
    count: int | None = None
    fingerprints: dict[str, str] = {}
    for run, source in parts:
        shard = run.meta.get("shard")
        if not shard:
            raise ShardMergeError(
                f"{source}: not a shard of a sharded run (run with --llm-gate-shard I/N); "
                "--allow-unsharded merges the results of separate runs"
            )
        index, total = int(shard[0]), int(shard[1])
        if count is None:
            count = total
        elif total != count:
            raise ShardMergeError(
                f"{source}: shard {index}/{total} is not part of a {count}-shard run"
            )
        if index in shards:
            raise ShardMergeError(
                f"{source}: shard {index}/{total} is given twice ({shards[index]})"
            )
        shards[index] = source
        fingerprint = str(run.meta.get("fingerprint") or "")
        fingerprints[source] = fingerprint
    if len(set(fingerprints.values())) > 1:
        shown = ", ".join(f"{s}={f or 'none'}" for s, f in fingerprints.items())
        raise ShardMergeError(
            f"the parts come from different runs (items, thresholds or commit differ: {shown})"
        )
    assert count is not None
    missing = sorted(set(range(1, count + 1)) - set(shards))
    if missing:
        raise ShardMergeError(
            f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing: a merge needs every "
            "shard of the run, or an item could be absent and the gate green"
        )
    return count


def merge_runs(
    parts: Sequence[tuple[RunResult, str]], *, allow_unsharded: bool = False
) -> RunResult:
    """Join the parts of one sharded run (or, with `allow_unsharded`, separate runs of disjoint
    items) into one run. Refuses a missing or repeated shard, parts of different runs, and an
    item in two parts with different results. Items a shard had to run and did not are errors."""
    if not parts:
        raise ShardMergeError("nothing to merge")
    sharded = not allow_unsharded
    if sharded:
        _check_parts(parts)
    merged: list[ItemResult] = []
    whole: dict[str, tuple[ItemResult, str]] = {}
    slices: dict[str, list[ItemResult]] = {}
    for run, source in parts:
        if run.kind != "run":
            raise ShardMergeError(f"{source}: a {run.kind} has no results to merge")
        for item in run.items:
            if item.part:  # a row slice of a large item: joined below
                if item.nodeid not in slices:
                    merged.append(item)
                slices.setdefault(item.nodeid, []).append(item)
                continue
            seen = whole.get(item.nodeid)
            if seen is None:
                whole[item.nodeid] = (item, source)
                merged.append(item)
            else:
                same = "the same results" if _content(seen[0]) == _content(item) else (
                    "different results"
                )
                raise ShardMergeError(
                    f"{item.nodeid} is in {seen[1]} and {source} (with {same}): each item "
                    "belongs to one part; is a file given twice?"
                )
    out = [merge_slices(slices[i.nodeid]) if i.part else i for i in merged]
    present = {i.nodeid for i in out}
    if sharded:
        expected = {n for run, _ in parts for n in run.meta.get("shard_items") or ()}
        required = set(parts[0][0].meta.get("run_items") or ())
        for nodeid in sorted(required - expected):
            raise ShardMergeError(f"{nodeid}: no shard was assigned this item")
        out.extend(
            ItemResult(
                nodeid=nodeid,
                suite=nodeid.split("::", 1)[0],
                subject="",
                variant="",
                dataset="",
                verdict="error",
                message="no result: its shard was assigned this item but left no result",
            )
            for nodeid in sorted(expected - present)
        )
    order = {n: i for i, n in enumerate(parts[0][0].meta.get("run_items") or ())}
    out.sort(key=lambda i: order.get(i.nodeid, len(order)))  # the unsharded run's order
    first = parts[0][0]
    meta = dict(first.meta)
    starts = [str(r.meta["started_at"]) for r, _ in parts if r.meta.get("started_at")]
    ends = [str(r.meta["finished_at"]) for r, _ in parts if r.meta.get("finished_at")]
    meta.update(shard=None, merged_from=[source for _, source in parts])
    for key in ("shard_items", "fingerprint"):
        meta.pop(key, None)
    if starts:
        meta["started_at"] = min(starts)
    if ends:
        meta["finished_at"] = max(ends)
    return RunResult(
        items=tuple(out),
        meta=meta,
        incomplete=any(r.incomplete for r, _ in parts),
        warnings=tuple(w for r, _ in parts for w in r.warnings),
    )
