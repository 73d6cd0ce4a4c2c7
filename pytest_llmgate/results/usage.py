"""Per-row accounting of model calls (tokens, cost, latency) without threading state through APIs.

Why a context variable: subjects and judges are user code that calls our model client deep inside;
the runner opens a fresh ledger per row phase and the client appends to whatever ledger is current.
`asyncio` tasks and `asyncio.to_thread` copy the context, so concurrent rows never mix their calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = [
    "USAGE_FIELDS",
    "USAGE_METRICS",
    "CallRecord",
    "Ledger",
    "current_ledger",
    "current_repeat",
    "record_call",
    "usage_metrics",
    "usage_totals",
]

# What a row records of its model calls, per role: the row metric that carries each field. The
# names are metrics (thresholds gate `cost_usd`, `judge_cost_usd`...); this table is the one place
# that says which metric holds which role's usage, for the runner that writes them and the
# verdict and policy checks that read them.
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "cost_usd")
USAGE_METRICS: dict[str, dict[str, str]] = {
    "subject": {name: name for name in USAGE_FIELDS},
    "judge": {name: f"judge_{name}" for name in USAGE_FIELDS},
}


@dataclass(frozen=True)
class CallRecord:
    """One model call made while producing or judging a row."""

    role: str  # "subject" or "judge"
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    cached: bool = False
    system_fingerprint: str | None = None
    # False when no price is known for the model (an Azure deployment name not mapped to its
    # model, a local model): its cost_usd 0.0 is unknown, not free, and a cost rule fails closed
    priced: bool = True


@dataclass
class Ledger:
    """The calls of one row phase (subject or evaluation)."""

    role: str
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.calls)

    @property
    def cost_usd(self) -> float:
        return math.fsum(c.cost_usd for c in self.calls)  # exact: same total in any call order

    @property
    def unpriced(self) -> list[str]:
        """The models of calls whose price is unknown (their cost counts as 0.0)."""
        return sorted({c.model for c in self.calls if not c.priced})

    @property
    def cache_hits(self) -> int:
        return sum(1 for c in self.calls if c.cached)


current_ledger: ContextVar[Ledger | None] = ContextVar("llmgate_ledger", default=None)
# the repeat index of the sample being produced: part of every model call's cache key, so repeats
# are independent samples (the subject phase sees the row's repeat, a judge its judge repeat)
current_repeat: ContextVar[int] = ContextVar("llmgate_repeat", default=0)


def record_call(record: CallRecord) -> None:
    """Append a call to the ledger of the row being run (a no-op outside a gate run)."""
    ledger = current_ledger.get()
    if ledger is not None:
        ledger.calls.append(record)


def usage_metrics(ledger: Ledger) -> dict[str, float]:
    """The row metrics of one phase's calls (none when it made no call)."""
    if not ledger.calls:
        return {}
    names = USAGE_METRICS[ledger.role]
    return {
        names["prompt_tokens"]: float(ledger.prompt_tokens),
        names["completion_tokens"]: float(ledger.completion_tokens),
        names["cost_usd"]: ledger.cost_usd,
    }


def usage_totals(rows_metrics: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Token and cost totals per role over rows' metrics (roles without any usage left out)."""
    sums = {role: dict.fromkeys(USAGE_FIELDS, 0.0) for role in USAGE_METRICS}
    for metrics in rows_metrics:
        for role, names in USAGE_METRICS.items():
            for name, metric in names.items():
                sums[role][name] += metrics.get(metric, 0.0)
    return {role: values for role, values in sums.items() if any(values.values())}
