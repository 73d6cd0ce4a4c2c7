"""`semantic_similarity`: cosine similarity of the response and ground-truth embeddings.

The embeddings come from the configured embeddings endpoint (a model named `embeddings` in the
`models:` mapping unless `model:` names another: Azure OpenAI, OpenAI or any compatible server)
through the gate's engine, `llm.embed`: pooled client, retries honouring Retry-After, the call
cache, and the row's usage ledger, so the embedding cost shows up as `judge_cost_usd`.

Both texts of a row go in ONE request (the API takes a list of inputs; equal texts are sent once),
so a row costs one round trip and one cache entry.

Fail closed: a missing, non-text or blank input is an error for the row (an empty request is an
HTTP 400 from the real API, and "nothing" has no meaning to compare); an input longer than the
model's input limit is an error naming its size unless `truncate: true`, which cuts it to the limit
and says so in the row's details; an answer with the wrong number of vectors, vectors of different
sizes, non-finite components or a zero vector is an error, never a score. An embeddings model
that is not configured (or whose key is not set) makes every row an error naming it: the item
fails rather than being skipped, since the judge-model skip does not know this model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pytest_llmgate.errors import EvaluationError

__all__ = ["DEFAULT_MAX_INPUT_TOKENS", "SemanticSimilarity", "cosine"]

# OpenAI's text-embedding-3-* and ada-002 accept at most 8192 tokens per input.
DEFAULT_MAX_INPUT_TOKENS = 8192
VERSION = "1"


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity in [-1, 1]; raises `EvaluationError` on vectors it cannot compare."""
    if len(a) != len(b) or not a:
        raise EvaluationError(f"embeddings of different sizes ({len(a)} and {len(b)})")
    if not all(math.isfinite(x) for x in (*a, *b)):
        raise EvaluationError("an embedding has a non-finite component")
    # scale first: components of 1e200 would overflow the dot product
    scale_a = max(abs(x) for x in a)
    scale_b = max(abs(x) for x in b)
    if scale_a == 0 or scale_b == 0:
        raise EvaluationError("an embedding is the zero vector: its direction is undefined")
    ua = [x / scale_a for x in a]
    ub = [x / scale_b for x in b]
    dot = math.fsum(x * y for x, y in zip(ua, ub, strict=True))
    norm = math.sqrt(math.fsum(x * x for x in ua)) * math.sqrt(math.fsum(y * y for y in ub))
    return max(-1.0, min(1.0, dot / norm))


class SemanticSimilarity:
    """`semantic_similarity` (cosine, -1..1; 1 = same direction) of response vs ground truth.

    Args: `model` (name in `models:`, default `embeddings`), `dimensions` (text-embedding-3-*
    only), `max_input_tokens` (default 8192), `truncate` (cut over-long inputs instead of failing).
    """

    outputs = ("semantic_similarity",)
    uses_models = True  # the session loads the models for it (it is not a judge: no judge skip)
    version = VERSION

    def __init__(
        self,
        *,
        model: str = "embeddings",
        dimensions: int | None = None,
        max_input_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
        truncate: bool = False,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("model must name a model in `models:`")
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise ValueError(f"dimensions must be a positive integer, not {dimensions!r}")
        limit = max_input_tokens
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"max_input_tokens must be a positive integer, not {limit!r}")
        if not isinstance(truncate, bool):
            raise ValueError(f"truncate must be true or false, not {truncate!r}")
        self.model = model
        self.dimensions = dimensions
        self.max_input_tokens = max_input_tokens
        self.truncate = truncate

    def _text(self, field: str, value: Any, model_name: str) -> tuple[str, bool]:
        from pytest_llmgate.engine.tokens import count_tokens

        if not isinstance(value, str):
            raise EvaluationError(f"{field} must be text, not {type(value).__name__}")
        if not value.strip():
            raise EvaluationError(f"{field} is empty: there is nothing to embed")
        tokens = count_tokens(value, model_name)
        if tokens <= self.max_input_tokens:
            return value, False
        if not self.truncate:
            raise EvaluationError(
                f"{field} is {tokens} tokens, over the embedding input limit of "
                f"{self.max_input_tokens} (set truncate: true to embed its start)"
            )
        # shrink proportionally until it fits (one step with the estimate, a few with a tokenizer)
        while tokens > self.max_input_tokens:
            value = value[: max(1, int(len(value) * self.max_input_tokens / tokens) - 1)]
            tokens = count_tokens(value, model_name)
        return value, True

    async def __call__(self, *, response: Any, ground_truth: Any) -> dict[str, Any]:
        from pytest_llmgate.engine.llm import embed
        from pytest_llmgate.engine.runtime import model_for

        model = model_for(self.model, "judge")
        name = model.model or model.request_model
        first, cut_first = self._text("response", response, name)
        second, cut_second = self._text("ground_truth", ground_truth, name)
        inputs = list(dict.fromkeys((first, second)))
        params = {"dimensions": self.dimensions} if self.dimensions else None
        result = await embed(
            model,
            inputs,
            params=params,
            role="judge",
            cache_extra={"evaluator": "semantic_similarity", "version": VERSION},
        )
        if len(result.vectors) != len(inputs):
            raise EvaluationError(
                f"the embeddings endpoint returned {len(result.vectors)} vectors for "
                f"{len(inputs)} inputs"
            )
        vectors = dict(zip(inputs, result.vectors, strict=True))
        out: dict[str, Any] = {
            "semantic_similarity": cosine(vectors[first], vectors[second]),
        }
        truncated = [f for f, cut in (("response", cut_first), ("ground_truth", cut_second)) if cut]
        if truncated:
            out["semantic_similarity_truncated"] = truncated
        return out
