"""The aggregate names a threshold may use (`mean`, `pass_rate`, `p95`, ...): the grammar the
thresholds file is checked against; `verdict.stats` computes them."""

from __future__ import annotations

import re

__all__ = ["AGGREGATE_PATTERN", "is_aggregate"]

AGGREGATE_PATTERN = re.compile(r"^(mean|median|min|max|sum|std|count|pass_rate|p(\d{1,3}))$")


def is_aggregate(name: str) -> bool:
    """True for a known aggregate name (percentiles p0 to p100)."""
    match = AGGREGATE_PATTERN.match(name)
    if match is None:
        return False
    return match.group(2) is None or int(match.group(2)) <= 100
