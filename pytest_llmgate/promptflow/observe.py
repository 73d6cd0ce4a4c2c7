"""Model calls a flow's own code makes (Python tools, flex flows, prompty): cache, retries, cost.

A Python tool or a flex flow often builds its own `openai.OpenAI` / `AzureOpenAI` client: those
calls never pass through the gate's engine. The openai SDK's `create` methods (chat and legacy
completions, sync and async) are wrapped once, process-wide; a call made while a flow line runs
under the gate (`in_flow`) and not by the gate's own engine (`gate_call`) gets what a gate call
gets:
- the session's call cache, under the gate's own key scheme (`cache.cache_key` with the model
  identity `ModelConfig.cache_identity()` would give the same endpoint and model), and the gate's
  own value format, so a re-run of a flow suite is served from the cache, a read-only cache
  (`--llm-gate-cache ro`) refuses a miss, and a flow's call and a prompt subject's identical call
  share one entry. A hit returns a response rebuilt from the cached answer (text, tool calls,
  finish reason, usage, model, fingerprint; not logprobs or the response id);
- the gate's retry policy: the user's client is used with its own retries off (a copy made by
  `with_options(max_retries=0)`, sharing its HTTP connections), and a 408/409/429/5xx, timeout or
  connection error is retried with the gate's backoff honouring `Retry-After`, up to the model
  default of retries; a call that still fails raises the SDK's own exception, so the row errors;
- tokens and cost in the row's ledger, priced by the model the response reports (Azure reports
  the model behind a deployment), else the model or deployment requested.
Calls that cannot be replayed from a cached answer (streaming, raw responses, `n > 1`,
logprobs) are only accounted, as before. Outside a flow line the wrapper only forwards.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["gate_call", "in_flow", "install"]

in_flow: contextvars.ContextVar[bool] = contextvars.ContextVar("llmgate_in_flow", default=False)
gate_call: contextvars.ContextVar[bool] = contextvars.ContextVar("llmgate_gate_call", default=False)
_lock = threading.Lock()
_installed = False
_MARK = "__llmgate_observed__"
_RAW_HEADER = "x-stainless-raw-response"
# the copy of each user client with the SDK's own retries off (the gate retries instead)
_no_retry_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _price(response_model: str, requested: str, prompt: int, completion: int) -> float | None:
    """USD by the model the response reports, else the model or deployment requested (mapped
    by `models.register_deployment`); None: no price known."""
    from pytest_llmgate.config.models import cost_usd, price_for

    for name in (response_model, requested):
        if name and price_for(name) is not None:
            return cost_usd(name, prompt, completion)
    return None


def _account(response: Any, started: float, requested: str = "") -> None:
    """Tokens and cost of an uncached call whose answer is not replayable (streams, n > 1)."""
    from pytest_llmgate.results.usage import CallRecord, current_ledger, record_call

    ledger = current_ledger.get()
    usage = getattr(response, "usage", None)
    if ledger is None or usage is None:
        return
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    model = str(getattr(response, "model", "") or "")
    cost = _price(model, requested, prompt, completion)
    record_call(
        CallRecord(
            role=ledger.role,
            model=model or requested or "flow",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost or 0.0,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            system_fingerprint=getattr(response, "system_fingerprint", None),
            priced=cost is not None,
        )
    )


def _watched() -> bool:
    return in_flow.get() and not gate_call.get()


# --- one call ------------------------------------------------------------------------------------


@dataclass
class _Call:
    """A replayable call: its model (for identity, retries and messages) and its cache key."""

    op: str  # "chat" or "completion"
    model: Any  # ModelConfig
    key: str | None
    pool: Any  # llm.ModelPool


def _given(kwargs: dict[str, Any]) -> dict[str, Any]:
    from openai import NotGiven, Omit

    return {k: v for k, v in kwargs.items() if not isinstance(v, (NotGiven, Omit))}


def _replayable(op: str, kwargs: dict[str, Any]) -> bool:
    if kwargs.get("stream") or kwargs.get("n") not in (None, 1) or kwargs.get("logprobs"):
        return False
    if kwargs.get("best_of") not in (None, 1) or kwargs.get("echo"):
        return False
    headers = kwargs.get("extra_headers") or {}
    if any(str(name).lower() == _RAW_HEADER for name in headers):
        return False  # `with_raw_response` / `with_streaming_response` expect the raw HTTP reply
    if op == "chat":
        return isinstance(kwargs.get("messages"), (list, tuple))
    return isinstance(kwargs.get("prompt"), str)


def _model_of(client: Any, requested: str) -> Any:
    """A `ModelConfig` describing the user's client: its cache identity is what the gate's own
    config for the same endpoint and model gives."""
    import openai

    from pytest_llmgate.config.models import ModelConfig

    timeout = client.timeout if isinstance(client.timeout, (int, float)) else 60.0
    if isinstance(client, (openai.AzureOpenAI, openai.AsyncAzureOpenAI)):
        endpoint = getattr(client, "_azure_endpoint", None) or str(client.base_url).split(
            "/openai", 1
        )[0]
        deployment = getattr(client, "_azure_deployment", None) or requested
        return ModelConfig(
            name="flow client",
            kind="azure",
            model=requested,
            deployment=deployment,
            azure_endpoint=str(endpoint),
            api_version=getattr(client, "_api_version", None),
            timeout_s=float(timeout),
            source="a flow's own client",
        )
    return ModelConfig(
        name="flow client",
        kind="openai",
        model=requested,
        base_url=str(client.base_url),
        timeout_s=float(timeout),
        source="a flow's own client",
    )


def _plan(resource: Any, op: str, kwargs: dict[str, Any]) -> tuple[_Call, dict[str, Any] | None]:
    """The call's model and key, and its cached answer (None: a miss, or no cache)."""
    from pytest_llmgate.engine.cache import cache_key
    from pytest_llmgate.engine.llm import get_pool
    from pytest_llmgate.results.usage import current_repeat

    pool = get_pool()
    model = _model_of(resource._client, str(kwargs.get("model") or ""))
    request = {k: v for k, v in kwargs.items() if k != "model"}
    call = _Call(op, model, None, pool)
    cache = pool.cache
    pool.stats.calls += 1
    if cache is None or cache.mode == "off":
        return call, None
    try:
        call.key = cache_key(op=op, model=model.cache_identity(), request=request,
                             repeat=current_repeat.get())
    except (TypeError, ValueError):  # a parameter the key cannot hold: not cached, still retried
        return call, None
    hit = cache.lookup(call.key, f"a flow's own {op} call to {model.describe()}")
    if hit is not None:
        pool.stats.cache_hits += 1
    return call, hit


def _rebuild(op: str, value: dict[str, Any]) -> Any:
    """An SDK response object from a cached answer (the gate's value format)."""
    from openai.types import Completion
    from openai.types.chat import ChatCompletion

    usage = {
        "prompt_tokens": value["prompt_tokens"],
        "completion_tokens": value["completion_tokens"],
        "total_tokens": value["prompt_tokens"] + value["completion_tokens"],
    }
    common = {
        "id": "llmgate-cached",
        "created": 0,
        "model": value["model"],
        "usage": usage,
        "system_fingerprint": value.get("system_fingerprint"),
    }
    finish = value.get("finish_reason") or "stop"
    if op == "completion":
        choice = {"index": 0, "text": value["text"], "finish_reason": finish, "logprobs": None}
        return Completion.model_validate(
            {**common, "object": "text_completion", "choices": [choice]}
        )
    tool_calls = value.get("tool_calls") or None
    message = {
        "role": "assistant",
        "content": None if tool_calls and not value["text"] else value["text"],
        "tool_calls": tool_calls,
    }
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    return ChatCompletion.model_validate(
        {**common, "object": "chat.completion", "choices": [choice]}
    )


def _record(call: _Call, value: dict[str, Any], cached: bool) -> None:
    from pytest_llmgate.config.models import priced
    from pytest_llmgate.results.usage import CallRecord, current_ledger, record_call

    ledger = current_ledger.get()
    if ledger is None:
        return
    known = priced(value["model"] or "") or priced(call.model.request_model)
    record_call(
        CallRecord(
            role=ledger.role,
            model=value["model"] or call.model.request_model,
            prompt_tokens=value["prompt_tokens"],
            completion_tokens=value["completion_tokens"],
            cost_usd=value["cost_usd"],
            latency_ms=value["latency_ms"],
            cached=cached,
            system_fingerprint=value.get("system_fingerprint"),
            priced=known,
        )
    )


def _replay(call: _Call, hit: dict[str, Any]) -> Any | None:
    try:
        response = _rebuild(call.op, hit)
    except (KeyError, TypeError, ValueError):  # an entry this version cannot replay: a miss
        return None
    if not hit.get("cost_usd"):  # unpriced when written: a deployment may be mapped by now
        cost = _price(hit["model"], call.model.request_model, hit["prompt_tokens"],
                      hit["completion_tokens"])
        hit = {**hit, "cost_usd": cost or 0.0}
    _record(call, hit, cached=True)
    return response


def _answered(call: _Call, response: Any, started: float) -> None:
    """Record a fresh answer and write it to the cache in the gate's value format."""
    from pytest_llmgate.engine.llm import _chat_value, _completion_value

    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    try:
        build = _chat_value if call.op == "chat" else _completion_value
        value = build(response, call.model, latency_ms)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        _account(response, started, call.model.request_model)
        return
    value["cost_usd"] = _price(
        value["model"], call.model.request_model, value["prompt_tokens"],
        value["completion_tokens"],
    ) or 0.0
    _record(call, value, cached=False)
    cache = call.pool.cache
    if call.key is not None and cache is not None:
        cache.put(call.key, value, meta={"op": call.op, "model": call.model.request_model})


def _retry_delay(call: _Call, exc: Exception, attempt: int) -> float | None:
    """Seconds to wait before retrying after `exc`, or None: give up (re-raise it)."""
    import openai

    from pytest_llmgate.engine.llm import _classify

    call.pool.stats.failures += 1
    if not isinstance(exc, openai.APIError):
        return None
    failure = _classify(exc, call.model)
    if not failure.retryable or attempt >= call.model.max_retries:
        return None
    call.pool.stats.retries += 1
    delay: float = call.pool._delay(attempt, failure.retry_after)
    return delay


def _no_retry(resource: Any, op: str) -> Any:
    """The same resource on a copy of its client with the SDK's own retries off."""
    client = resource._client
    if getattr(client, "max_retries", 0) == 0:
        return resource
    with _lock:
        quiet = _no_retry_clients.get(client)
        if quiet is None:
            try:
                quiet = client.with_options(max_retries=0)
            except Exception:  # a client subclass that cannot be copied keeps its own retries
                return resource
            _no_retry_clients[client] = quiet
    return quiet.chat.completions if op == "chat" else quiet.completions


# --- the wrappers --------------------------------------------------------------------------------


def _begin(
    client: Any, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[dict[str, Any], Any, Any]:
    """(the call's arguments, its planned call or None when it cannot be keyed, the cached
    answer replayed or None): what both wrappers decide before anything is sent."""
    given = _given(kwargs)
    if args or not _replayable(op, given):
        return given, None, None
    call, hit = _plan(client, op, given)
    return given, call, _replay(call, hit) if hit is not None else None


def _wrap_sync(original: Callable[..., Any], op: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _watched():
            return original(self, *args, **kwargs)
        given, call, replayed = _begin(self, op, args, kwargs)
        if call is None:  # not one the cache can key: sent as is, and accounted
            started = time.perf_counter()
            response = original(self, *args, **kwargs)
            _account(response, started, str(given.get("model") or ""))
            return response
        if replayed is not None:
            return replayed
        resource = _no_retry(self, op)
        attempt = 0
        while True:
            started = time.perf_counter()
            call.pool.stats.http_requests += 1
            try:
                response = original(resource, **kwargs)
            except Exception as exc:
                delay = _retry_delay(call, exc, attempt)
                if delay is None:
                    raise
                time.sleep(delay)
                attempt += 1
                continue
            _answered(call, response, started)
            return response

    setattr(create, _MARK, True)
    return create


def _wrap_async(original: Callable[..., Any], op: str) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _watched():
            return await original(self, *args, **kwargs)
        given, call, replayed = _begin(self, op, args, kwargs)
        if call is None:  # not one the cache can key: sent as is, and accounted
            started = time.perf_counter()
            response = await original(self, *args, **kwargs)
            _account(response, started, str(given.get("model") or ""))
            return response
        if replayed is not None:
            return replayed
        resource = _no_retry(self, op)
        attempt = 0
        while True:
            started = time.perf_counter()
            call.pool.stats.http_requests += 1
            try:
                response = await original(resource, **kwargs)
            except Exception as exc:
                delay = _retry_delay(call, exc, attempt)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                attempt += 1
                continue
            _answered(call, response, started)
            return response

    setattr(create, _MARK, True)
    return create


def install() -> None:
    """Wrap the openai SDK's create methods once (idempotent; a missing SDK is no error)."""
    global _installed
    with _lock:
        if _installed:
            return
        try:
            from openai.resources import completions
            from openai.resources.chat import completions as chat
        except ImportError:
            _installed = True
            return
        for cls, asynchronous, op in (
            (chat.Completions, False, "chat"),
            (chat.AsyncCompletions, True, "chat"),
            (completions.Completions, False, "completion"),
            (completions.AsyncCompletions, True, "completion"),
        ):
            original = cls.create
            if not getattr(original, _MARK, False):
                wrapped = (_wrap_async if asynchronous else _wrap_sync)(original, op)
                setattr(cls, "create", wrapped)  # noqa: B010 - mypy forbids assigning a method
        _installed = True
