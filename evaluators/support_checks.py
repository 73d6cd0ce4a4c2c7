"""Domain checks a support team adds next to the built-in metrics.

Referenced from suites as `evaluators.support_checks:FactsPreserved` and
`evaluators.support_checks:grounded_ratio`; they follow the azure-ai-evaluation convention
(keyword inputs named after row fields, a number or a dict of metrics back).
"""

from __future__ import annotations

import re

_FACT = re.compile(r"[$€£]?\d+(?:[.,]\d+)?\s?(?:%|gb|tb|mb|days?|hours?|minutes?|seats?)?", re.I)
_WORD = re.compile(r"[a-z0-9]+")


def _facts(text: str) -> set[str]:
    return {m.group(0).lower().replace(" ", "") for m in _FACT.finditer(text)}


class FactsPreserved:
    """Share of the reference answer's numbers, prices and durations that the response states.

    A wrong price or a missing "30 days" is the costliest support mistake; lexical overlap barely
    notices it. Rows whose reference has no such facts score 1.0 (nothing to get wrong).
    """

    outputs = ("facts_preserved",)

    def __init__(self, min_facts: int = 1) -> None:
        self.min_facts = min_facts

    def __call__(self, *, response: str, ground_truth: str) -> dict[str, float | str]:
        expected = _facts(ground_truth)
        if len(expected) < self.min_facts:
            return {"facts_preserved": 1.0}
        found = _facts(response)
        missing = sorted(expected - found)
        score = 1 - len(missing) / len(expected)
        result: dict[str, float | str] = {"facts_preserved": score}
        if missing:
            result["facts_preserved_reason"] = "missing: " + ", ".join(missing)
        return result


def grounded_ratio(*, response: str, context: str) -> float:
    """Share of the response's words that appear in the retrieved context (a cheap groundedness)."""
    words = _WORD.findall(response.lower())
    if not words:
        return 0.0
    source = set(_WORD.findall(context.lower()))
    return sum(1 for w in words if w in source) / len(words)
