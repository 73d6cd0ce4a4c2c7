"""`--llm-gate-dry-run`: count the model calls a run would make and estimate their cost offline.

Subject prompts are rendered for every row and counted with the offline tokenizer
(`pytest_llmgate.engine.tokens`: exact with bpe-openai installed, else characters / 4).
Completions are
estimated at the request's `max_tokens` (capped at 512) or 256. Judge prompts are estimated as
the row's text plus 1,200 tokens of rubric (azure-ai-evaluation's prompts are 900-1,500 tokens)
and 100 completion tokens. Nothing is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Estimate", "estimate_item"]

JUDGE_RUBRIC_TOKENS = 1200
JUDGE_COMPLETION_TOKENS = 100
DEFAULT_COMPLETION_TOKENS = 256


@dataclass(frozen=True)
class Estimate:
    subject_calls: int
    judge_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    priced_as: str

    def line(self) -> str:
        if not self.subject_calls and not self.judge_calls:
            return "dry run: no model calls (offline subject and evaluators)"
        return (
            f"dry run: {self.subject_calls} subject calls, {self.judge_calls} judge calls, "
            f"~{self.prompt_tokens + self.completion_tokens:,} tokens, "
            f"~${self.cost_usd:.4f} ({self.priced_as})"
        )


def _model(name: str | None, role: str) -> Any:
    try:
        from pytest_llmgate.engine.runtime import model_for

        return model_for(name, role)
    except Exception:
        return None


def _cost(model: Any, prompt: int, completion: int) -> tuple[float, str]:
    from pytest_llmgate.config.models import cost_usd

    if model is None:
        return cost_usd("gpt-4o", prompt, completion), "priced as gpt-4o: no model configured"
    return cost_usd(model, prompt, completion), f"priced as {model.price_model}"


def estimate_item(
    subject: Any, evaluators: Sequence[Any], rows: Sequence[Any], variant: str, repeats: int
) -> Estimate:
    """Calls, tokens and cost of one item, without calling anything."""
    from pytest_llmgate.engine.tokens import count_message_tokens, count_tokens

    subject_calls = judge_calls = prompt_tokens = completion_tokens = 0
    cost = 0.0
    priced = "no model calls"
    from pytest_llmgate.subjects.prompt import PromptSubject

    if isinstance(subject, PromptSubject):
        settings = subject._variants[variant]
        model = _model(settings.model, "subject")
        name = model.price_model if model is not None else "gpt-4o"
        max_tokens = settings.params.get("max_tokens") or settings.params.get(
            "max_completion_tokens"
        )
        completion = min(int(max_tokens), 512) if max_tokens else DEFAULT_COMPLETION_TOKENS
        for row in rows:
            _, messages = subject.render(row.data, variant)
            tokens = count_message_tokens(messages, name)
            part, priced = _cost(model, tokens * repeats, completion * repeats)
            cost += part
            prompt_tokens += tokens * repeats
            completion_tokens += completion * repeats
            subject_calls += repeats
    judges = [e for e in evaluators if e.needs_model]
    if judges:
        model = _model(None, "judge")
        for row in rows:
            text = " ".join(str(v) for v in row.data.values() if isinstance(v, str))
            tokens = JUDGE_RUBRIC_TOKENS + count_tokens(text)
            for judge in judges:
                calls = repeats * max(1, getattr(judge, "repeat", 1))
                part, priced_j = _cost(model, tokens * calls, JUDGE_COMPLETION_TOKENS * calls)
                cost += part
                prompt_tokens += tokens * calls
                completion_tokens += JUDGE_COMPLETION_TOKENS * calls
                judge_calls += calls
                priced = priced if subject_calls else priced_j
    return Estimate(subject_calls, judge_calls, prompt_tokens, completion_tokens, cost, priced)
