"""Tokens and cost of the model calls a flow's own code makes (Python tools, flex flows).

A Python tool or a flex flow often builds its own `openai.OpenAI` / `AzureOpenAI` client: those
calls never pass through the gate's engine, so without this they would leave a row's usage empty
and a `cost_usd` threshold would error with "not produced". The openai SDK's `create` methods
(chat and legacy completions, sync and async) are wrapped once, process-wide: a call made while a
flow line runs under the gate (`in_flow`) and not by the gate's own engine (`gate_call`) is
recorded in the row's ledger with the usage and model its response reports, priced like any
other call. Outside a flow line the wrapper only forwards.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["gate_call", "in_flow", "install"]

in_flow: contextvars.ContextVar[bool] = contextvars.ContextVar("llmgate_in_flow", default=False)
gate_call: contextvars.ContextVar[bool] = contextvars.ContextVar("llmgate_gate_call", default=False)
_lock = threading.Lock()
_installed = False
_MARK = "__llmgate_observed__"


def _account(response: Any, started: float) -> None:
    from pytest_llmgate.config.models import cost_usd
    from pytest_llmgate.results.usage import CallRecord, current_ledger, record_call

    ledger = current_ledger.get()
    usage = getattr(response, "usage", None)
    if ledger is None or usage is None:
        return
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    model = str(getattr(response, "model", "") or "")
    record_call(
        CallRecord(
            role=ledger.role,
            model=model or "flow",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost_usd(model, prompt, completion) if model else 0.0,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            system_fingerprint=getattr(response, "system_fingerprint", None),
        )
    )


def _watched() -> bool:
    return in_flow.get() and not gate_call.get()


def _wrap_sync(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _watched():
            return original(self, *args, **kwargs)
        started = time.perf_counter()
        response = original(self, *args, **kwargs)
        _account(response, started)
        return response

    setattr(create, _MARK, True)
    return create


def _wrap_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _watched():
            return await original(self, *args, **kwargs)
        started = time.perf_counter()
        response = await original(self, *args, **kwargs)
        _account(response, started)
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
        for cls, asynchronous in (
            (chat.Completions, False),
            (chat.AsyncCompletions, True),
            (completions.Completions, False),
            (completions.AsyncCompletions, True),
        ):
            original = cls.create
            if not getattr(original, _MARK, False):
                wrapped = (_wrap_async if asynchronous else _wrap_sync)(original)
                setattr(cls, "create", wrapped)  # noqa: B010 - mypy forbids assigning a method
        _installed = True
