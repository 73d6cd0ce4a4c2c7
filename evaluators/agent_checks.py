"""Final-state checks for the agent example (user-land code, used by suites/agent.yaml)."""

from __future__ import annotations

from typing import Any


def refund_matches(calls: dict[str, list[dict[str, Any]]], expected_refund: float | None) -> bool:
    """The order store ends in the expected state: exactly one refund of the expected amount,
    or no refund at all when none is due."""
    refunds = calls.get("issue_refund", [])
    if expected_refund is None:
        return not refunds
    return len(refunds) == 1 and refunds[0].get("amount") == expected_refund
