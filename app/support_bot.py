"""An offline, extractive support answerer: picks sentences from the retrieved context.

It stands in for an LLM-backed RAG answerer in the example suites, so `pytest suites/ --llm-gate`
runs with no API key. Strategies are what variants vary:

- `overlap`: the sentence(s) sharing the most content words with the question (the good one);
- `first`:   the first sentence of the context, a naive baseline that often misses the answer.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9€$%]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def sentences(context: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(context.strip()) if s.strip()]


def answer(question: str, context: str, strategy: str = "overlap", max_sentences: int = 1) -> str:
    """Answer `question` from `context` by extracting sentences."""
    parts = sentences(context)
    if not parts:
        return "I'm sorry, I don't have information about that."
    if strategy == "first":
        return " ".join(parts[:max_sentences])
    if strategy != "overlap":
        raise ValueError(f"unknown strategy {strategy!r}")
    wanted = _words(question)
    ranked = sorted(range(len(parts)), key=lambda i: (-len(wanted & _words(parts[i])), i))
    chosen = sorted(ranked[:max_sentences])
    return " ".join(parts[i] for i in chosen)


class SupportBot:
    """The same answerer as a class, the way an app with set-up cost is usually wrapped."""

    def __init__(self, strategy: str = "overlap", greeting: str = "") -> None:
        self.strategy = strategy
        self.greeting = greeting

    async def __call__(self, question: str, context: str, max_sentences: int = 1) -> dict[str, str]:
        text = answer(question, context, self.strategy, max_sentences)
        return {"response": f"{self.greeting}{text}", "context": context}
