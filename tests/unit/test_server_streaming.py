"""The test server's streaming answers and load counters, read with the real openai client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from typing import Any

import openai

from pytest_llmgate.testing import LLMServer

MESSAGES = [{"role": "user", "content": "Context: Refunds take five business days.\n"
                                        "Question: How long do refunds take?"}]


def _stream(llm: LLMServer, **kwargs: Any) -> tuple[str, Any, list[Any]]:
    async def go() -> tuple[str, Any, list[Any]]:
        client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="k", max_retries=0)
        try:
            chunks = [c async for c in await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, **kwargs)]
        finally:
            await client.close()
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = next((c.usage for c in chunks if c.usage), None)
        return text, usage, chunks

    return asyncio.run(go())


def test_a_stream_says_what_the_plain_answer_says(llm: LLMServer) -> None:
    plain = openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0)
    answer = plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    plain.close()
    text, usage, chunks = _stream(llm, stream_options={"include_usage": True})
    assert text == answer.choices[0].message.content
    assert usage.completion_tokens == answer.usage.completion_tokens
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == len(
        text.split())
    assert chunks[-2].choices[0].finish_reason == "stop"
    _, no_usage, _ = _stream(llm)
    assert no_usage is None


def test_counters_record_each_request(llm: LLMServer) -> None:
    llm.configure(latency_ms=30, token_interval_ms=2)
    _stream(llm)
    llm.error_rate_429 = 1.0
    with contextlib.suppress(openai.RateLimitError):
        _stream(llm)
    assert llm.statuses == {200: 1, 429: 1}
    ok, limited = llm.timings
    assert ok["stream"] and ok["route"] == "chat" and ok["status"] == 200
    assert 30 <= ok["ttft_ms"] < ok["ms"]  # words follow the first one token_interval_ms apart
    assert limited["status"] == 429 and not limited["stream"]
    url = llm.base_url.removesuffix("/v1") + "/_llmgate/stats"
    with urllib.request.urlopen(url, timeout=10) as resp:
        stats = json.loads(resp.read())
    assert stats["statuses"] == {"200": 1, "429": 1}
    assert len(stats["timings"]) == 2
    llm.reset_counters()
    assert llm.timings == [] and not llm.statuses
