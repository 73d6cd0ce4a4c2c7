"""The async model client layer: every subject and judge call to a model goes through here.

One pooled `openai.AsyncOpenAI` / `AsyncAzureOpenAI` per model config and event loop, reused for the
whole run (building a client per call costs tens of ms of CPU: CA bundle, TLS). The SDK's own
retries are off (`max_retries=0`): this module retries, so that it can honour `Retry-After` /
`retry-after-ms`, back off with full jitter, count attempts and trip a circuit breaker.

Per call: cache lookup (a hit never builds a client, never imports openai) -> circuit breaker ->
rpm/tpm token buckets -> the pool-wide and per-model semaphores -> the HTTP call -> cache write.
Every call, cached or not, is appended to the current row's ledger (`usage.record_call`). A call
that still fails after its retries raises `ModelCallError` naming the model and the cause, never the
key.

`latency_ms` is the duration of the successful HTTP attempt (the model's latency); time spent queued
or in retries is not counted, so a run with injected faults reports what a fault-free run reports,
and a cached answer reports the latency recorded with it. `cost_usd` of a cached answer is the cost
of the original call (the cache's stats count it as money saved).

State bound to an event loop (clients, semaphores, buckets) is kept per loop, so a runner may use
`asyncio.run` per item; call `aclose()` at the end of each loop to close its connections.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pytest_llmgate.config.models import ModelConfig, cost_usd, priced, redact
from pytest_llmgate.engine.cache import ResponseCache, cache_key
from pytest_llmgate.errors import ModelCallError
from pytest_llmgate.results.usage import CallRecord, record_call

__all__ = [
    "ChatResult",
    "EmbedResult",
    "ModelPool",
    "PoolStats",
    "TokenBucket",
    "aclose",
    "chat",
    "complete",
    "embed",
    "get_pool",
    "set_pool",
]

Role = Literal["subject", "judge"]


@dataclass(frozen=True)
class ChatResult:
    """One chat completion as the gate sees it."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    model: str  # the model name the endpoint reported
    system_fingerprint: str | None = None
    finish_reason: str | None = None
    cached: bool = False
    attempts: int = 1
    tool_calls: tuple[dict[str, Any], ...] = ()  # OpenAI `tool_calls` of the reply, if any


@dataclass(frozen=True)
class EmbedResult:
    vectors: list[list[float]]
    prompt_tokens: int
    cost_usd: float
    latency_ms: float
    model: str
    cached: bool = False
    attempts: int = 1


@dataclass
class PoolStats:
    calls: int = 0
    cache_hits: int = 0
    http_requests: int = 0
    retries: int = 0
    failures: int = 0


class TokenBucket:
    """Tokens refill at `rate` per second up to `capacity`. A request larger than the capacity
    waits for a full bucket and then drives it negative, so it is delayed but never starved."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                need = min(amount, self.capacity)
                if self.tokens >= need:
                    self.tokens -= amount
                    return
                await asyncio.sleep((need - self.tokens) / self.rate)


class _Failure(Exception):
    def __init__(
        self,
        cause: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        refused: bool = False,
    ) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retryable = retryable
        self.retry_after = retry_after
        self.refused = refused


class _Breaker:
    """Opens after `threshold` consecutive refused connections to one endpoint; while open, calls
    fail at once; after `cooldown_s` calls go through again and one success closes it."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.refused = 0
        self.open_until = 0.0
        self._lock = threading.Lock()

    def check(self, model: ModelConfig) -> None:
        remaining = self.open_until - time.monotonic()
        if remaining > 0:
            raise ModelCallError(
                redact(
                    f"model {model.describe()}: endpoint unreachable ({self.refused} connections "
                    f"refused in a row); failing fast for the next {remaining:.0f}s"
                )
            )

    def failure(self, refused: bool) -> None:
        with self._lock:
            self.refused = self.refused + 1 if refused else 0
            if self.refused >= self.threshold:
                self.open_until = time.monotonic() + self.cooldown_s

    def success(self) -> None:
        with self._lock:
            self.refused = 0
            self.open_until = 0.0


class _LoopState:
    def __init__(self, pool_concurrency: int | None) -> None:
        self.clients: dict[ModelConfig, Any] = {}
        self.semaphores: dict[ModelConfig, asyncio.Semaphore] = {}
        self.buckets: dict[ModelConfig, tuple[TokenBucket | None, TokenBucket | None]] = {}
        self.limit = asyncio.Semaphore(pool_concurrency) if pool_concurrency else None


class ModelPool:
    """Clients, limits, retries, breaker and cache for a run. One per session (see `set_pool`)."""

    def __init__(
        self,
        *,
        cache: ResponseCache | None = None,
        concurrency: int | None = None,
        rate_share: float = 1.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_retry_after_s: float = 60.0,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 30.0,
        rng: random.Random | None = None,
        transport: str | None = None,
    ) -> None:
        self.cache = cache
        # "auto" uses openai's aiohttp transport when aiohttp is installed (it comes with
        # azure-ai-evaluation): ~25% less client CPU per call than httpx's connection pool.
        self.transport = transport or os.environ.get("LLMGATE_HTTP_TRANSPORT", "auto")
        if self.transport not in ("auto", "httpx", "aiohttp"):
            raise ValueError(f"transport must be auto, httpx or aiohttp, not {self.transport!r}")
        self.concurrency = concurrency
        self.rate_share = rate_share  # 1 / number of xdist workers sharing the rpm/tpm budget
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self.breaker_threshold = breaker_threshold
        self.breaker_cooldown_s = breaker_cooldown_s
        self.stats = PoolStats()
        self._rng = rng or random.Random()
        self._breakers: dict[str, _Breaker] = {}
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._identities: dict[ModelConfig, dict[str, str]] = {}

    # --- public calls ----------------------------------------------------------------------------

    async def chat(
        self,
        model: ModelConfig,
        messages: Sequence[Mapping[str, Any]],
        *,
        params: Mapping[str, Any] | None = None,
        role: Role = "subject",
        repeat: int = 0,
        cache_extra: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """One chat completion (through the cache); raises `ModelCallError` on failure."""
        request = {"messages": list(messages), **_check_params(params)}
        value, attempts = await self._through_cache(
            model, "chat", request, role, repeat, cache_extra
        )
        return _answered(role, model, value, attempts)

    async def complete(
        self,
        model: ModelConfig,
        prompt: str,
        *,
        params: Mapping[str, Any] | None = None,
        role: Role = "subject",
        repeat: int = 0,
        cache_extra: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """One legacy text completion (`/completions`, Prompt Flow's `api: completion` nodes)
        through the cache, retries and limits like `chat`; raises `ModelCallError` on failure."""
        checked = _check_params(params)
        if "prompt" in checked:
            raise ModelCallError("parameter 'prompt' is the completion's text, not a param")
        request = {"prompt": prompt, **checked}
        value, attempts = await self._through_cache(
            model, "completion", request, role, repeat, cache_extra
        )
        return _answered(role, model, value, attempts)

    async def embed(
        self,
        model: ModelConfig,
        inputs: Sequence[str],
        *,
        params: Mapping[str, Any] | None = None,
        role: Role = "subject",
        cache_extra: Mapping[str, Any] | None = None,
    ) -> EmbedResult:
        """Embeddings of `inputs` (through the cache)."""
        request = {"input": list(inputs), **_check_params(params)}
        value, attempts = await self._through_cache(model, "embed", request, role, 0, cache_extra)
        result = EmbedResult(
            vectors=value["vectors"],
            prompt_tokens=value["prompt_tokens"],
            cost_usd=value["cost_usd"],
            latency_ms=value["latency_ms"],
            model=value["model"],
            cached=attempts == 0,
            attempts=attempts,
        )
        _record(role, model, result)
        return result

    def unreachable(self) -> list[str]:
        """Endpoints whose breaker opened (connections refused): for the one-line run summary."""
        return [endpoint for endpoint, b in self._breakers.items() if b.open_until > 0]

    async def aclose(self) -> None:
        """Close the clients of the running loop (call before the loop ends) and commit the
        cache's pending writes (closing its file: it reopens on the next call)."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            for client in state.clients.values():
                await client.close()
        if self.cache is not None:
            await asyncio.to_thread(self.cache.close)

    # --- internals -------------------------------------------------------------------------------

    async def _through_cache(
        self,
        model: ModelConfig,
        op: str,
        request: dict[str, Any],
        role: str,
        repeat: int,
        extra: Mapping[str, Any] | None,
    ) -> tuple[dict[str, Any], int]:
        self.stats.calls += 1
        if not model.available:
            raise ModelCallError(redact(f"{model.describe()}: {model.unavailable_reason()}"))
        key = None
        if self.cache is not None and self.cache.mode != "off":
            identity = self._identities.get(model)
            if identity is None:
                identity = self._identities[model] = model.cache_identity()
            key = cache_key(op=op, model=identity, request=request, repeat=repeat, extra=extra)
            hit = self.cache.lookup(key, lambda: f"a {role} call to model {model.describe()}")
            if hit is not None:
                self.stats.cache_hits += 1
                if not hit.get("cost_usd") and hit.get("prompt_tokens"):
                    hit = _repriced(model, hit)  # unpriced when written; a price may exist now
                return hit, 0
        value, attempts = await self._send(model, op, request)
        if key is not None and self.cache is not None:
            self.cache.put(key, value, meta={"op": op, "model": model.request_model})
        return value, attempts

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState(self.concurrency)
        return state

    def _client(self, state: _LoopState, model: ModelConfig) -> Any:
        client = state.clients.get(model)
        if client is None:
            import openai  # seconds to import: only when a call really goes out

            key = model.api_key.get() if model.api_key else "not-needed"
            common: dict[str, Any] = {"api_key": key, "max_retries": 0, "timeout": model.timeout_s}
            http_client = self._http_client(openai)
            if http_client is not None:
                common["http_client"] = http_client
            if model.kind == "azure":
                client = openai.AsyncAzureOpenAI(
                    azure_endpoint=model.azure_endpoint or "",
                    api_version=model.api_version,
                    **common,
                )
            else:
                client = openai.AsyncOpenAI(base_url=model.base_url, **common)
            state.clients[model] = client
        return client

    def _http_client(self, openai: Any) -> Any:
        if self.transport == "httpx":
            return None
        try:
            return openai.DefaultAioHttpClient()
        except (RuntimeError, ImportError, AttributeError):
            if self.transport == "aiohttp":
                raise ModelCallError("the aiohttp transport needs `pip install aiohttp`") from None
            return None

    def _buckets(self, state: _LoopState, model: ModelConfig) -> tuple[TokenBucket | None, ...]:
        buckets = state.buckets.get(model)
        if buckets is None:
            # Azure enforces per-minute quotas over 10-second windows: allow a sixth as a burst.
            share = self.rate_share
            rpm = TokenBucket(model.rpm * share / 60, model.rpm * share / 6) if model.rpm else None
            tpm = TokenBucket(model.tpm * share / 60, model.tpm * share / 6) if model.tpm else None
            buckets = state.buckets[model] = (rpm, tpm)
        return buckets

    async def _send(
        self, model: ModelConfig, op: str, request: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        state = self._state()
        client = self._client(state, model)
        semaphore = state.semaphores.get(model)
        if semaphore is None:
            semaphore = state.semaphores[model] = asyncio.Semaphore(model.concurrency)
        breaker = self._breakers.get(model.endpoint)
        if breaker is None:
            breaker = self._breakers[model.endpoint] = _Breaker(
                self.breaker_threshold, self.breaker_cooldown_s
            )
        rpm, tpm = self._buckets(state, model)
        attempt = 0
        while True:
            breaker.check(model)
            if rpm is not None:
                await rpm.acquire(1)
            if tpm is not None:
                await tpm.acquire(_token_estimate(request))
            try:
                if state.limit is not None:
                    async with state.limit, semaphore:
                        value = await self._attempt(client, model, op, request)
                else:
                    async with semaphore:
                        value = await self._attempt(client, model, op, request)
            except _Failure as failure:
                # Off the semaphore while backing off, so waiting does not hold a slot.
                breaker.failure(failure.refused)
                self.stats.failures += 1
                if not failure.retryable or attempt >= model.max_retries:
                    tries = attempt + 1
                    raise ModelCallError(
                        redact(
                            f"model {model.describe()}: {failure.cause} "
                            f"(after {tries} attempt{'s' if tries > 1 else ''})"
                        )
                    ) from None
                await asyncio.sleep(self._delay(attempt, failure.retry_after))
                attempt += 1
                self.stats.retries += 1
                continue
            breaker.success()
            return value, attempt + 1

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(0.0, retry_after), self.max_retry_after_s)
        # Full jitter (AWS architecture blog): spreads retries of a burst of throttled calls.
        return self._rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))

    async def _attempt(
        self, client: Any, model: ModelConfig, op: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        self.stats.http_requests += 1
        started = time.perf_counter()
        try:
            if op in _LEAN_PATHS:
                response: Any = await _post_lean(client, _LEAN_PATHS[op], model, request)
            else:
                response = await client.embeddings.create(model=model.request_model, **request)
        except Exception as exc:
            raise _classify(exc, model) from None
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        try:
            if op == "chat":
                return _chat_value(JsonView.of(response), model, latency_ms)
            if op == "completion":
                return _completion_value(JsonView.of(response), model, latency_ms)
            return _embed_value(response, model, latency_ms)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise _Failure(f"malformed response ({type(exc).__name__})", retryable=True) from None


# Chat and text completions are posted through the SDK client's own `post` (its transport, auth,
# Azure deployment routing, status errors), skipping what `create()` adds on top: the typed
# transform of the request and the pydantic model of the answer. The request body is the same
# JSON; the answer is read from the same fields. Measured (`bench/bench_lean.py`, 2,000 calls):
# about 40% less client CPU per call than `create()` on the same transport. Embeddings keep
# `create()`: it asks for base64 vectors and decodes them, which a plain post would not.
_LEAN_PATHS = {"chat": "/chat/completions", "completion": "/completions"}


async def _post_lean(
    client: Any, path: str, model: ModelConfig, request: Mapping[str, Any]
) -> Any:
    """The decoded JSON answer of one POST through the SDK client (raises the SDK's errors)."""
    import httpx

    response = await client.post(
        path, body={"model": model.request_model, **request}, cast_to=httpx.Response
    )
    return response.json()  # not JSON: ValueError, classified as a malformed response


class JsonView:
    """Attribute access over a decoded JSON answer, the way the SDK's models read it: an absent
    field is None, lists index and iterate as views. Lets one set of field readers serve both
    the lean path (plain JSON) and SDK objects (flows' own clients)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    @staticmethod
    def of(value: Any) -> Any:
        if isinstance(value, dict):
            return JsonView(value)
        if isinstance(value, list):
            return [JsonView.of(v) for v in value]
        return value

    def __getattr__(self, name: str) -> Any:
        return JsonView.of(self._data.get(name))


def _answered(
    role: Role, model: ModelConfig, value: Mapping[str, Any], attempts: int
) -> ChatResult:
    """The result of a chat or completion call from its cached-answer value, recorded on the
    row's ledger (a completion's value has no tool calls)."""
    result = ChatResult(
        text=value["text"],
        prompt_tokens=value["prompt_tokens"],
        completion_tokens=value["completion_tokens"],
        cost_usd=value["cost_usd"],
        latency_ms=value["latency_ms"],
        model=value["model"],
        system_fingerprint=value.get("system_fingerprint"),
        finish_reason=value.get("finish_reason"),
        cached=attempts == 0,
        attempts=attempts,
        tool_calls=tuple(value.get("tool_calls") or ()),
    )
    _record(role, model, result, result.completion_tokens, result.system_fingerprint)
    return result


def _record(
    role: Role,
    model: ModelConfig,
    result: ChatResult | EmbedResult,
    completion_tokens: int = 0,
    system_fingerprint: str | None = None,
) -> None:
    """Append one call (cached or not) to the current row's usage ledger."""
    known = priced(model) or priced(result.model)
    name = model.name
    if not known and model.deployment and model.deployment != name:
        name = f"{name} (deployment {model.deployment})"  # what the price must be given for
    record_call(
        CallRecord(
            role=role,
            model=name,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=result.cost_usd,
            latency_ms=result.latency_ms,
            cached=result.cached,
            system_fingerprint=system_fingerprint,
            priced=known,
        )
    )


def _check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(params or {})
    for reserved in ("model", "messages", "input"):
        if reserved in out:
            raise ModelCallError(f"parameter {reserved!r} is set by the model config, not params")
    return out


def _token_estimate(request: Mapping[str, Any]) -> int:
    # What the tpm limiter charges before the call: ~4 characters per token plus the output budget.
    chars = len(
        str(request.get("messages") or request.get("input") or request.get("prompt") or "")
    )
    budget = request.get("max_completion_tokens") or request.get("max_tokens") or 0
    return chars // 4 + int(budget)


def _chat_value(response: Any, model: ModelConfig, latency_ms: float) -> dict[str, Any]:
    choice = response.choices[0]
    message = choice.message
    text = message.content
    if text is None:
        text = getattr(message, "refusal", None) or ""
    usage = response.usage
    prompt = int(usage.prompt_tokens) if usage else 0
    completion = int(usage.completion_tokens) if usage else 0
    return {
        "text": str(text),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": _cost(model, response, prompt, completion),
        "latency_ms": latency_ms,
        "model": str(response.model or model.request_model),
        "system_fingerprint": getattr(response, "system_fingerprint", None),
        "finish_reason": choice.finish_reason,
        **_tool_calls(message),
    }


def _cost(model: ModelConfig, response: Any, prompt: int, completion: int) -> float:
    """By the config's price, else by the model the response reports (Azure names the model
    behind a deployment there); 0.0 when neither is known (recorded as unpriced)."""
    if priced(model):
        return cost_usd(model, prompt, completion)
    return cost_usd(str(getattr(response, "model", "") or ""), prompt, completion)


def _repriced(model: ModelConfig, value: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = int(value["prompt_tokens"]), int(value.get("completion_tokens") or 0)
    name = model if priced(model) else str(value.get("model") or "")
    return {**value, "cost_usd": cost_usd(name, prompt, completion)}


def _completion_value(response: Any, model: ModelConfig, latency_ms: float) -> dict[str, Any]:
    choice = response.choices[0]
    usage = response.usage
    prompt = int(usage.prompt_tokens) if usage else 0
    completion = int(usage.completion_tokens) if usage else 0
    return {
        "text": str(choice.text or ""),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": _cost(model, response, prompt, completion),
        "latency_ms": latency_ms,
        "model": str(response.model or model.request_model),
        "system_fingerprint": getattr(response, "system_fingerprint", None),
        "finish_reason": choice.finish_reason,
    }


def _tool_calls(message: Any) -> dict[str, Any]:
    """The reply's tool calls as plain OpenAI dicts (cached with the answer); none: nothing."""
    calls = getattr(message, "tool_calls", None)
    if not calls:
        return {}
    return {
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }
            for call in calls
        ]
    }


def _embed_value(response: Any, model: ModelConfig, latency_ms: float) -> dict[str, Any]:
    vectors = [[float(x) for x in item.embedding] for item in response.data]
    prompt = int(response.usage.prompt_tokens) if response.usage else 0
    return {
        "vectors": vectors,
        "prompt_tokens": prompt,
        "cost_usd": cost_usd(model, prompt, 0),
        "latency_ms": latency_ms,
        "model": str(response.model or model.request_model),
    }


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000
        seconds = headers.get("retry-after")
        if seconds is None:
            return None
        try:
            return float(seconds)
        except ValueError:
            when = email.utils.parsedate_to_datetime(seconds)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _classify(exc: Exception, model: ModelConfig) -> _Failure:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        chain: list[BaseException] = []
        cur: BaseException | None = exc
        while cur is not None and len(chain) < 8:
            chain.append(cur)
            cur = cur.__cause__ or cur.__context__
        # Checked before the type: openai's aiohttp transport reports a refused connection as a
        # connect *timeout*, and the circuit breaker must see it as a refusal.
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return _Failure("connection refused", retryable=True, refused=True)
        if isinstance(exc, openai.APITimeoutError):
            return _Failure(f"timed out after {model.timeout_s:g}s", retryable=True)
        refused = any("connection refused" in str(e).lower() for e in chain)
        cause = "connection refused" if refused else f"connection failed ({chain[-1]!s:.120})"
        return _Failure(cause, retryable=True, refused=refused)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("error", body) if isinstance(body, dict) else {}
        code = (
            str(detail.get("code") or detail.get("type") or "") if isinstance(detail, dict) else ""
        )
        message = str(detail.get("message") or "") if isinstance(detail, dict) else ""
        retryable = (status in (408, 409, 429) or status >= 500) and code != "insufficient_quota"
        cause = (
            f"HTTP {status}"
            + (f" {code}" if code else "")
            + (f": {message:.200}" if message else "")
        )
        return _Failure(cause, retryable=retryable, retry_after=_retry_after(exc.response.headers))
    if isinstance(exc, (openai.APIResponseValidationError, ValueError)):
        return _Failure(f"malformed response ({type(exc).__name__})", retryable=True)
    return _Failure(f"{type(exc).__name__}: {exc!s:.200}", retryable=False)


# --- the session's pool --------------------------------------------------------------------------

_pool: ModelPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> ModelPool:
    """The pool set by the runner, or a default one without a cache."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ModelPool()
        return _pool


def set_pool(pool: ModelPool | None) -> ModelPool | None:
    """Install `pool` for the session; returns the previous one."""
    global _pool
    with _pool_lock:
        previous, _pool = _pool, pool
    return previous


async def chat(
    model: ModelConfig,
    messages: Sequence[Mapping[str, Any]],
    *,
    params: Mapping[str, Any] | None = None,
    role: Role = "subject",
    repeat: int = 0,
    cache_extra: Mapping[str, Any] | None = None,
) -> ChatResult:
    """A chat completion through the session's pool (see `ModelPool.chat`).

    `repeat` defaults to the repeat index of the row sample being produced (`usage.current_repeat`).
    """
    from pytest_llmgate.results.usage import current_repeat

    return await get_pool().chat(
        model,
        messages,
        params=params,
        role=role,
        repeat=repeat or current_repeat.get(),
        cache_extra=cache_extra,
    )


async def complete(
    model: ModelConfig,
    prompt: str,
    *,
    params: Mapping[str, Any] | None = None,
    role: Role = "subject",
    repeat: int = 0,
    cache_extra: Mapping[str, Any] | None = None,
) -> ChatResult:
    """A legacy text completion through the session's pool (see `ModelPool.complete`)."""
    from pytest_llmgate.results.usage import current_repeat

    return await get_pool().complete(
        model,
        prompt,
        params=params,
        role=role,
        repeat=repeat or current_repeat.get(),
        cache_extra=cache_extra,
    )


async def embed(
    model: ModelConfig,
    inputs: Sequence[str],
    *,
    params: Mapping[str, Any] | None = None,
    role: Role = "subject",
    cache_extra: Mapping[str, Any] | None = None,
) -> EmbedResult:
    """Embeddings through the session's pool (see `ModelPool.embed`)."""
    return await get_pool().embed(model, inputs, params=params, role=role, cache_extra=cache_extra)


async def aclose() -> None:
    """Close the session pool's clients on the running loop."""
    if _pool is not None:
        await _pool.aclose()
