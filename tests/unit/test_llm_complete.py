"""Legacy text completions (`/completions`, Prompt Flow's `api: completion` nodes) through the
engine over real HTTP: priced, cached under their own operation, retried, and failing closed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from pytest_llmgate.config.models import ModelConfig
from pytest_llmgate.engine.cache import ResponseCache
from pytest_llmgate.engine.llm import ChatResult, ModelPool
from pytest_llmgate.errors import ModelCallError
from pytest_llmgate.results.usage import Ledger, current_ledger
from pytest_llmgate.testing import LLMServer

pytest.importorskip("openai")
T = TypeVar("T")
PROMPT = "Context: The warranty lasts two years.\nQuestion: How long is the warranty?\n"


def run(pool: ModelPool, body: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            return await body()
        finally:
            await pool.aclose()

    return asyncio.run(main())


def test_completion_is_priced_cached_and_recorded(
    llm: LLMServer, llm_model: ModelConfig, tmp_path: Path
) -> None:
    pool = ModelPool(cache=ResponseCache(tmp_path, "rw"))
    ledger = Ledger("subject")

    async def twice() -> tuple[ChatResult, ChatResult, ChatResult]:
        current_ledger.set(ledger)
        first = await pool.complete(llm_model, PROMPT, params={"max_tokens": 40})
        again = await pool.complete(llm_model, PROMPT, params={"max_tokens": 40})
        # the same text as a chat message is another operation: never answered from this entry
        chat = await pool.chat(llm_model, [{"role": "user", "content": PROMPT}],
                               params={"max_tokens": 40})
        return first, again, chat

    first, again, chat = run(pool, twice)
    assert first.text == "The warranty lasts two years."
    assert (first.cached, again.cached, chat.cached) == (False, True, False)
    assert again.text == first.text and again.cost_usd == first.cost_usd > 0
    assert first.cost_usd == pytest.approx(
        (first.prompt_tokens * 2.5 + first.completion_tokens * 10) / 1e6
    )
    assert llm.routes["completions"] == 1 and llm.routes["chat"] == 1
    assert llm.log[0]["body"]["prompt"] == PROMPT
    assert [c.cached for c in ledger.calls] == [False, True, False]


def test_completion_retries_then_fails_closed(llm: LLMServer, llm_model: ModelConfig) -> None:
    llm.configure(error_rate_500=1.0, retry_after=0)
    pool = ModelPool()
    with pytest.raises(ModelCallError, match=r"HTTP 500 .*\(after 3 attempts\)"):
        run(pool, lambda: pool.complete(dataclasses.replace(llm_model, max_retries=2), PROMPT))
    assert llm.routes["completions"] == 3


def test_prompt_is_not_a_param(llm_model: ModelConfig) -> None:
    pool = ModelPool()
    with pytest.raises(ModelCallError, match="'prompt' is the completion's text"):
        run(pool, lambda: pool.complete(llm_model, PROMPT, params={"prompt": "other"}))
