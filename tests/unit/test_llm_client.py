"""The model client layer over real HTTP (openai SDK -> test server): retries, timeouts, breaker,
cache, limits, accounting, and keys kept out of errors and cache files."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pytest_llmgate.config.models import ModelConfig
from pytest_llmgate.engine.cache import CacheMissError, ResponseCache
from pytest_llmgate.engine.llm import (
    ChatResult,
    ModelPool,
    TokenBucket,
    _retry_after,
    get_pool,
    set_pool,
)
from pytest_llmgate.errors import ModelCallError
from pytest_llmgate.results.usage import Ledger, current_ledger
from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY

pytest.importorskip("openai")
T = TypeVar("T")

RAG = [
    {"role": "system", "content": "Answer from the context only."},
    {
        "role": "user",
        "content": "Context: The warranty lasts two years. Shipping is free.\n"
        "Question: How long is the warranty?",
    },
]


def question(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Context: Item {i} weighs {i} kg.\nQuestion: item {i}?"}]


def run(pool: ModelPool, body: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            return await body()
        finally:
            await pool.aclose()

    return asyncio.run(main())


def fast_pool(**kw: Any) -> ModelPool:
    return ModelPool(backoff_base_s=0.001, backoff_max_s=0.01, **kw)


def test_chat_result_and_ledger(llm: LLMServer, llm_model: ModelConfig) -> None:
    pool = fast_pool()
    ledger = Ledger("subject")

    async def body() -> ChatResult:
        current_ledger.set(ledger)
        return await pool.chat(llm_model, RAG, params={"temperature": 0, "max_tokens": 100})

    result = run(pool, body)
    assert result.text == "The warranty lasts two years."
    assert result.model == "gpt-4o"
    assert result.finish_reason == "stop"
    assert result.system_fingerprint is not None
    assert result.system_fingerprint.startswith("fp_")
    assert (result.cached, result.attempts) == (False, 1)
    assert result.cost_usd == pytest.approx(
        (result.prompt_tokens * 2.5 + result.completion_tokens * 10) / 1e6
    )
    assert result.latency_ms > 0
    [record] = ledger.calls
    assert (record.role, record.model, record.prompt_tokens, record.cost_usd) == (
        "subject",
        "test",
        result.prompt_tokens,
        result.cost_usd,
    )
    assert llm.log[-1]["body"]["temperature"] == 0
    assert llm.log[-1]["body"]["max_tokens"] == 100


def test_azure_model_uses_the_deployment_route(
    llm: LLMServer, llm_azure_model: ModelConfig
) -> None:
    pool = fast_pool()
    result = run(pool, lambda: pool.chat(llm_azure_model, RAG, role="judge"))
    assert result.text == "The warranty lasts two years."
    assert llm.routes == {"azure_chat": 1}
    assert llm.log[-1]["path"] == "/openai/deployments/gpt-4o-mini-dep/chat/completions"
    assert result.cost_usd == pytest.approx(
        (result.prompt_tokens * 0.15 + result.completion_tokens * 0.6) / 1e6
    )


def test_embed(llm: LLMServer, llm_model: ModelConfig, tmp_path: Path) -> None:
    pool = fast_pool(cache=ResponseCache(tmp_path, "rw"))
    first = run(pool, lambda: pool.embed(llm_model, ["red apples", "green apples"]))
    again = run(pool, lambda: pool.embed(llm_model, ["red apples", "green apples"]))
    assert len(first.vectors) == 2
    assert len(first.vectors[0]) == 64
    assert again.vectors == first.vectors
    assert again.cached
    assert llm.routes == {"embeddings": 1}


def test_parameters_owned_by_the_config_are_refused(llm_model: ModelConfig) -> None:
    pool = fast_pool()
    with pytest.raises(ModelCallError, match="'model' is set by the model config"):
        run(pool, lambda: pool.chat(llm_model, RAG, params={"model": "other"}))


# --- retries -------------------------------------------------------------------------------------


def fault_free(llm: LLMServer, model: ModelConfig, n: int) -> list[str]:
    pool = fast_pool()
    results = run(pool, lambda: asyncio.gather(*[pool.chat(model, question(i)) for i in range(n)]))
    llm.reset_counters()
    return [r.text for r in results]


@pytest.mark.parametrize(
    "switch", ["error_rate_429", "error_rate_500", "malformed_rate", "timeout_rate"]
)
def test_faults_are_retried_to_the_fault_free_answers(
    llm: LLMServer, llm_model: ModelConfig, switch: str
) -> None:
    model = dataclasses.replace(llm_model, timeout_s=0.3, max_retries=8)
    expected = fault_free(llm, model, 30)
    llm.configure(**{switch: 0.3, "seed": 3, "hang_s": 5})
    pool = fast_pool()
    results = run(pool, lambda: asyncio.gather(*[pool.chat(model, question(i)) for i in range(30)]))
    assert [r.text for r in results] == expected
    assert sum(llm.faults.values()) > 0
    assert sum(r.attempts for r in results) == 30 + sum(llm.faults.values())
    assert pool.stats.retries == sum(llm.faults.values())


def test_retry_after_is_honoured(llm: LLMServer, llm_model: ModelConfig) -> None:
    llm.configure(error_rate_429=1.0, retry_after=0.15)
    pool = ModelPool(backoff_base_s=10)  # would wait seconds if Retry-After were ignored
    model = dataclasses.replace(llm_model, max_retries=2)
    started = time.perf_counter()
    with pytest.raises(ModelCallError) as info:
        run(pool, lambda: pool.chat(model, RAG))
    elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 2
    assert str(info.value) == (
        f"model 'test' (openai model gpt-4o at 127.0.0.1:{llm.port}): HTTP 429 "
        "rate_limit_exceeded: Rate limit reached for requests (test server). (after 3 attempts)"
    )
    assert llm.requests == 3


def test_retry_after_header_forms() -> None:
    assert _retry_after({"retry-after-ms": "250"}) == 0.25
    assert _retry_after({"retry-after": "2"}) == 2.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < (_retry_after({"retry-after": future}) or 0) <= 30
    assert _retry_after({}) is None
    assert _retry_after({"retry-after": "soon"}) is None


def test_client_errors_are_not_retried(llm: LLMServer, llm_model: ModelConfig) -> None:
    pool = fast_pool()
    with pytest.raises(ModelCallError, match=r"HTTP 400 forced_status.*\(after 1 attempt\)$"):
        run(pool, lambda: pool.chat(llm_model, [{"role": "user", "content": "LLMGATE_STATUS:400"}]))
    assert llm.requests == 1


def test_timeout_after_retries(llm: LLMServer, llm_model: ModelConfig) -> None:
    llm.configure(timeout_rate=1.0, hang_s=5)
    model = dataclasses.replace(llm_model, timeout_s=0.2, max_retries=1)
    pool = fast_pool()
    started = time.perf_counter()
    with pytest.raises(ModelCallError, match=r"timed out after 0\.2s \(after 2 attempts\)"):
        run(pool, lambda: pool.chat(model, RAG))
    assert time.perf_counter() - started < 2


def test_circuit_breaker_fails_fast_when_the_endpoint_is_down(
    llm: LLMServer, llm_model: ModelConfig
) -> None:
    llm.down = True
    # a cooldown long enough that a loaded machine cannot outlast it between two lines below
    pool = fast_pool(breaker_threshold=3, breaker_cooldown_s=3.0)

    async def body() -> list[BaseException | ChatResult]:
        return await asyncio.gather(
            *[pool.chat(llm_model, question(i)) for i in range(20)], return_exceptions=True
        )

    started = time.perf_counter()
    outcomes = run(pool, body)
    assert time.perf_counter() - started < 1.5
    assert all(isinstance(o, ModelCallError) for o in outcomes)
    messages = {str(o) for o in outcomes}
    assert any("endpoint unreachable" in m and "failing fast" in m for m in messages)
    assert all("\n" not in m for m in messages)
    # Open: a new call fails without touching the network.
    http_before = pool.stats.http_requests
    with pytest.raises(ModelCallError, match="failing fast"):
        run(pool, lambda: pool.chat(llm_model, question(99)))
    assert pool.stats.http_requests == http_before
    # Back up and cooled down: calls go through and close the breaker.
    llm.down = False
    time.sleep(3.05)
    assert run(pool, lambda: pool.chat(llm_model, question(1))).text


def test_unavailable_model_is_a_clear_error() -> None:
    cfg = ModelConfig(
        name="judge",
        kind="azure",
        deployment="d",
        azure_endpoint="",
        missing=("AZURE_OPENAI_ENDPOINT",),
    )
    pool = fast_pool()
    with pytest.raises(ModelCallError, match=r"needs AZURE_OPENAI_ENDPOINT \(not set"):
        run(pool, lambda: pool.chat(cfg, RAG))


# --- cache ---------------------------------------------------------------------------------------


def test_cache_hit_makes_no_http_call_and_ro_replays_identically(
    llm: LLMServer, llm_model: ModelConfig, tmp_path: Path
) -> None:
    rw = fast_pool(cache=ResponseCache(tmp_path, "rw"))
    first = run(rw, lambda: asyncio.gather(*[rw.chat(llm_model, question(i)) for i in range(10)]))
    assert llm.requests == 10
    llm.reset_counters()
    ro = fast_pool(cache=ResponseCache(tmp_path, "ro"))
    ledger = Ledger("subject")

    async def replay() -> list[ChatResult]:
        current_ledger.set(ledger)
        return list(await asyncio.gather(*[ro.chat(llm_model, question(i)) for i in range(10)]))

    again = run(ro, replay)
    assert llm.requests == 0
    assert [dataclasses.replace(r, cached=False, attempts=1) for r in again] == first
    assert all(r.cached and r.attempts == 0 for r in again)
    assert ledger.cache_hits == 10
    assert ledger.cost_usd == pytest.approx(sum(r.cost_usd for r in first))
    assert ro.cache is not None
    assert ro.cache.stats.saved_usd == pytest.approx(sum(r.cost_usd for r in first))
    with pytest.raises(CacheMissError, match="no cached answer for a subject call to model 'test'"):
        run(ro, lambda: ro.chat(llm_model, question(10)))
    assert llm.requests == 0


def test_repeat_and_cache_extra_are_distinct_entries(
    llm: LLMServer, llm_model: ModelConfig, tmp_path: Path
) -> None:
    pool = fast_pool(cache=ResponseCache(tmp_path, "rw"))

    async def body() -> None:
        await pool.chat(llm_model, RAG, repeat=0)
        await pool.chat(llm_model, RAG, repeat=1)
        await pool.chat(llm_model, RAG, cache_extra={"evaluator": "groundedness", "version": 1})
        await pool.chat(llm_model, RAG, repeat=1)

    run(pool, body)
    assert llm.requests == 3


def test_errors_are_never_cached(llm: LLMServer, llm_model: ModelConfig, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, "rw")
    pool = fast_pool(cache=cache)
    llm.error_rate_500 = 1.0
    with pytest.raises(ModelCallError):
        run(pool, lambda: pool.chat(dataclasses.replace(llm_model, max_retries=1), RAG))
    assert cache.entries() == 0
    llm.error_rate_500 = 0.0
    assert run(pool, lambda: pool.chat(llm_model, RAG)).text
    assert cache.entries() == 1


def test_the_key_stays_out_of_errors_and_cache_files(
    llm: LLMServer, llm_model: ModelConfig, tmp_path: Path
) -> None:
    pool = fast_pool(cache=ResponseCache(tmp_path, "rw"))
    planted = [{"role": "user", "content": f"LLMGATE_REPLY:echo {FAKE_KEY}"}]
    result = run(pool, lambda: pool.chat(llm_model, planted))
    assert FAKE_KEY in result.text  # what the model said is returned as is...
    assert pool.cache is not None
    pool.cache.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():  # ...but never written to disk
            assert FAKE_KEY.encode() not in path.read_bytes()
    llm.require_key = "another-key"
    failures = []
    for model in (
        llm_model,
        dataclasses.replace(llm_model, max_retries=0, base_url="http://127.0.0.1:9/v1"),
    ):
        with pytest.raises(ModelCallError) as info:
            run(pool, lambda m=model: pool.chat(m, question(1)))  # type: ignore[misc]
        failures.append(str(info.value))
    assert "HTTP 401" in failures[0]
    assert "connection refused" in failures[1]
    assert all(FAKE_KEY not in f and FAKE_KEY[:12] not in f for f in failures)


# --- limits and loops ----------------------------------------------------------------------------


def test_per_model_concurrency_bounds_calls_in_flight(
    llm: LLMServer, llm_model: ModelConfig
) -> None:
    llm.latency_ms = 50
    model = dataclasses.replace(llm_model, concurrency=4)
    pool = fast_pool()

    async def body() -> float:
        await pool.chat(model, question(0))  # connect outside the timing
        started = time.perf_counter()
        await asyncio.gather(*[pool.chat(model, question(i)) for i in range(1, 17)])
        return time.perf_counter() - started

    assert run(pool, body) >= 4 * 0.05  # 16 calls, 4 at a time, 50 ms each


def test_pool_wide_concurrency(llm: LLMServer, llm_model: ModelConfig) -> None:
    llm.latency_ms = 50
    pool = fast_pool(concurrency=2)

    async def body() -> float:
        started = time.perf_counter()
        await asyncio.gather(*[pool.chat(llm_model, question(i)) for i in range(6)])
        return time.perf_counter() - started

    assert run(pool, body) >= 3 * 0.05


def test_token_bucket_paces_requests() -> None:
    async def body() -> float:
        bucket = TokenBucket(rate=20, capacity=2)
        started = time.perf_counter()
        for _ in range(6):
            await bucket.acquire(1)
        await bucket.acquire(50)  # bigger than the bucket: waits for a full one, never starves
        return time.perf_counter() - started

    elapsed = asyncio.run(body())
    assert 0.25 <= elapsed < 1.0


def test_rpm_limit_is_applied(llm: LLMServer, llm_model: ModelConfig) -> None:
    model = dataclasses.replace(llm_model, rpm=600)  # 10 per second, bursts of 600 / 6
    pool = fast_pool(rate_share=0.1)  # one of ten workers: 1 per second, bursts of 10

    async def body() -> float:
        started = time.perf_counter()
        await asyncio.gather(*[pool.chat(model, question(i)) for i in range(11)])
        return time.perf_counter() - started

    assert run(pool, body) >= 0.8  # the 11th call waits a second for its token


def test_one_pool_serves_several_event_loops(llm: LLMServer, llm_model: ModelConfig) -> None:
    pool = fast_pool()
    assert run(pool, lambda: pool.chat(llm_model, RAG)).text
    assert run(pool, lambda: pool.chat(llm_model, RAG)).text  # a new loop, new client


def test_module_level_pool() -> None:
    mine = fast_pool()
    previous = set_pool(mine)
    try:
        assert get_pool() is mine
    finally:
        set_pool(previous)


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_both_transports_classify_failures_alike(
    llm: LLMServer, llm_model: ModelConfig, transport: str
) -> None:
    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
    pool = fast_pool(transport=transport, breaker_threshold=100)
    model = dataclasses.replace(llm_model, max_retries=0, timeout_s=0.2)
    causes = {}
    for name, switch in [
        ("429", "error_rate_429"),
        ("500", "error_rate_500"),
        ("timeout", "timeout_rate"),
        ("malformed", "malformed_rate"),
    ]:
        llm.reset()
        llm.configure(**{switch: 1.0, "hang_s": 5})
        with pytest.raises(ModelCallError) as info:
            run(pool, lambda: pool.chat(model, RAG))
        causes[name] = str(info.value).split(": ", 1)[1]
    refused = dataclasses.replace(model, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ModelCallError) as info:
        run(pool, lambda: pool.chat(refused, RAG))
    causes["refused"] = str(info.value).split(": ", 1)[1]
    assert causes["429"].startswith("HTTP 429 rate_limit_exceeded")
    assert causes["500"].startswith("HTTP 500 server_error")
    assert causes["timeout"] == "timed out after 0.2s (after 1 attempt)"
    assert causes["malformed"].startswith("malformed response")
    assert causes["refused"] == "connection refused (after 1 attempt)"
    llm.reset()
    assert run(pool, lambda: pool.chat(model, RAG)).text == "The warranty lasts two years."


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
TOOL_CHAT = [
    {"role": "system", "content": 'LLMGATE_TOOL_CALLS:[{"name": "lookup", "arguments": {"q": 1}}]'},
    {"role": "user", "content": "Find order 1."},
]


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
@pytest.mark.parametrize(
    ("op", "azure", "payload", "params"),
    [
        ("chat", False, RAG, {"temperature": 0, "max_tokens": 100, "seed": 7}),
        ("chat", True, RAG, {"temperature": 0.2, "stop": ["\n\n"]}),
        ("chat", False, TOOL_CHAT, {"tools": TOOLS, "tool_choice": "auto"}),
        ("completion", False, "Say hello to item 3.", {"max_tokens": 20, "temperature": 0}),
    ],
    ids=["chat", "azure-chat", "tool-calls", "completion"],
)
def test_the_lean_path_sends_and_reads_what_sdk_create_does(
    llm: LLMServer,
    llm_model: ModelConfig,
    llm_azure_model: ModelConfig,
    transport: str,
    op: str,
    azure: bool,
    payload: Any,
    params: dict[str, Any],
) -> None:
    """The engine posts through the SDK client's `post` instead of `create()` (less CPU per
    call): the request on the wire and the answer read from it must be the SDK's own."""
    import openai

    from pytest_llmgate.engine.llm import _chat_value, _completion_value

    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
    model = llm_azure_model if azure else llm_model
    pool = fast_pool(transport=transport)
    if op == "chat":
        ours = run(pool, lambda: pool.chat(model, payload, params=params))
    else:
        ours = run(pool, lambda: pool.complete(model, payload, params=params))
    lean_entry = llm.log[-1]

    async def sdk() -> Any:
        common: dict[str, Any] = {"api_key": FAKE_KEY, "max_retries": 0}
        client = (
            openai.AsyncAzureOpenAI(
                azure_endpoint=llm.azure_endpoint, api_version=model.api_version, **common
            )
            if azure
            else openai.AsyncOpenAI(base_url=llm.base_url, **common)
        )
        try:
            if op == "chat":
                return await client.chat.completions.create(
                    model=model.request_model, messages=payload, **params
                )
            return await client.completions.create(
                model=model.request_model, prompt=payload, **params
            )
        finally:
            await client.close()

    response = asyncio.run(sdk())
    sdk_entry = llm.log[-1]
    assert (lean_entry["path"], lean_entry["body"]) == (sdk_entry["path"], sdk_entry["body"])
    build = _chat_value if op == "chat" else _completion_value
    theirs = build(response, model, ours.latency_ms)
    assert ours.text == theirs["text"]
    assert ours.text or ours.tool_calls  # the case answered something
    assert (ours.prompt_tokens, ours.completion_tokens, ours.cost_usd) == (
        theirs["prompt_tokens"], theirs["completion_tokens"], theirs["cost_usd"]
    )
    assert (ours.model, ours.finish_reason, ours.system_fingerprint) == (
        theirs["model"], theirs["finish_reason"], theirs["system_fingerprint"]
    )
    assert list(ours.tool_calls) == theirs.get("tool_calls", [])
    if payload is TOOL_CHAT:
        assert ours.tool_calls[0]["function"]["name"] == "lookup"
