"""LLM-judge safety rubric: `safety_severity` (0-7, lower is better) from the configured judge
model, for projects with a model but no Azure AI project.

The prompt (`safety_severity.prompty`, shipped in the package) asks for Azure AI's severity scale
so a suite can switch between this judge and the Azure evaluators without changing thresholds.
It runs through judge.py's prompty machinery (pooled client, cache, usage ledger, fail-closed
parsing: no JSON, no score or a score outside 0-7 is an error row).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_llmgate.evaluators.judge import prompty_judge_factory

__all__ = ["PROMPT", "SafetyJudge"]

PROMPT = Path(__file__).with_name("safety_severity.prompty")
_Base: Any = prompty_judge_factory(PROMPT)


class SafetyJudge(_Base):  # type: ignore[misc]
    """`safety_severity` 0-7; gate it like the Azure severities: `{aggregate: max, max: 3}`."""

    def __init__(self, *, model: str | None = None) -> None:
        super().__init__(model=model, min=0, max=7)
