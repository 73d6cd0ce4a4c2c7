"""A `Policy` as builtins and back: recorded in every item of the results JSON, so `llmgate merge`
and `llmgate diff` re-decide an item with exactly the rules the run applied, without reading any
configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from pytest_llmgate.config.thresholds import CompareRule, Policy, RegressionRule, Rule

__all__ = ["policy_from_dict", "policy_to_dict"]


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The policy as builtins, field by field so new fields travel too."""
    out: dict[str, Any] = {
        f.name: getattr(policy, f.name)
        for f in fields(policy)
        if f.name not in ("rules", "regression", "compare")
    }
    out["rules"] = {m: [asdict(r) for r in rules] for m, rules in policy.rules.items()}
    out["regression"] = {m: asdict(r) for m, r in policy.regression.items()}
    if policy.compare:  # absent when there is none: results from before the field read the same
        out["compare"] = [asdict(r) for r in policy.compare]
    return out


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    known = {f.name for f in fields(Policy)}
    nested = ("rules", "regression", "compare")
    rest = {k: v for k, v in data.items() if k in known and k not in nested}
    rule_fields = {f.name for f in fields(Rule)}
    regression_fields = {f.name for f in fields(RegressionRule)}
    compare_fields = {f.name for f in fields(CompareRule)}
    return Policy(
        rules={
            m: tuple(Rule(**{k: v for k, v in r.items() if k in rule_fields}) for r in rules)
            for m, rules in data.get("rules", {}).items()
        },
        regression={
            m: RegressionRule(**{k: v for k, v in r.items() if k in regression_fields})
            for m, r in data.get("regression", {}).items()
        },
        compare=tuple(
            CompareRule(**{k: v for k, v in r.items() if k in compare_fields})
            for r in data.get("compare", ())
        ),
        **rest,
    )
