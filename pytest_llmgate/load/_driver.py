"""The load driver: sends a suite's requests on a rate or concurrency schedule and turns each
request into a `RowResult` (rows = requests), so the ordinary verdict path gates them.

Never retries: a 429 is a row with `rate_limited = 1` (counted, not an error and not hidden), any
other failure (5xx, timeout, refused connection, malformed answer) is an error row. Nothing is
read from or written to the call cache. Prompt subjects are sent by the driver itself on the gate
engine's pooled client for their model (streaming when `stream: true`, for the time to first
token); other subjects are called as they are, and an answer that came from the call cache is an
error row (a cached answer measures nothing).

Row metrics of a successful request: `latency_ms` (send to last byte), `ttft_ms` (to the first
content token, streaming only), `completion_tokens`, `prompt_tokens`, `cost_usd` and
`output_tokens_per_s` (completion tokens over the generation time: after the first token when
streaming, else over the whole latency). Every row has `rate_limited` (0 or 1) and, in its
details, when it started and ended (`t_start_s`, `t_end_s`, seconds from the run's start), the
HTTP status, and how late the schedule sent it (`lag_ms`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_llmgate.config.datasets import Row
from pytest_llmgate.load._config import LoadSpec
from pytest_llmgate.results.model import RowResult

__all__ = ["Outcome", "arrival_times", "drive", "sender_for"]


@dataclass(frozen=True)
class Outcome:
    """What one request came to."""

    kind: str  # "ok", "rate_limited" or "error"
    latency_ms: float
    ttft_ms: float | None = None
    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    status: int | None = None
    error: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)


Sender = Callable[[Mapping[str, Any]], Awaitable[Outcome]]


def arrival_times(rate: float, ramp_s: float, duration_s: float, limit: int) -> list[float]:
    """Send times (seconds from the start) for a rate that ramps linearly from 0 to `rate` over
    `ramp_s`, then holds for `duration_s`: the k-th request goes when the expected count reaches k
    (deterministic, so two runs send the same schedule)."""
    out: list[float] = []
    end = ramp_s + duration_s
    ramp_count = rate * ramp_s / 2
    for k in range(limit):
        ramping = k < ramp_count
        t = math.sqrt(2 * k * ramp_s / rate) if ramping else ramp_s + (k - ramp_count) / rate
        if t >= end:
            break
        out.append(t)
    return out


def _row(n: int, row: Row, outcome: Outcome, start: float, end: float, lag_ms: float) -> RowResult:
    metrics: dict[str, float] = {"rate_limited": 1.0 if outcome.kind == "rate_limited" else 0.0}
    errors: tuple[str, ...] = ()
    if outcome.kind == "ok":
        metrics["latency_ms"] = outcome.latency_ms
        gen_ms = outcome.latency_ms
        if outcome.ttft_ms is not None:
            metrics["ttft_ms"] = outcome.ttft_ms
            gen_ms = outcome.latency_ms - outcome.ttft_ms
        metrics["prompt_tokens"] = float(outcome.prompt_tokens)
        metrics["completion_tokens"] = float(outcome.completion_tokens)
        metrics["cost_usd"] = outcome.cost_usd
        if outcome.completion_tokens and gen_ms > 0:
            metrics["output_tokens_per_s"] = outcome.completion_tokens / (gen_ms / 1000)
    elif outcome.kind == "error":
        errors = (f"request {n}: {outcome.error}",)
    details: dict[str, Any] = {
        "t_start_s": round(start, 6),
        "t_end_s": round(end, 6),
        "lag_ms": round(lag_ms, 3),
    }
    if outcome.status is not None:
        details["status"] = outcome.status
    return RowResult(
        id=f"{row.id}#{n}",
        line=row.line,
        data=row.data,
        inputs=dict(outcome.inputs),
        output=outcome.text,
        metrics=metrics,
        details=details,
        errors=errors,
        latency_ms=outcome.latency_ms,
    )


def _describe(exc: BaseException) -> str:
    from pytest_llmgate.config.models import redact

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


async def drive(
    spec: LoadSpec, rows: Sequence[Row], send: Sender, clock: Callable[[], float] = time.monotonic
) -> list[RowResult]:
    """Run the schedule; one `RowResult` per request, in the order they were sent."""
    if not rows:
        return []
    results: dict[int, RowResult] = {}
    t0 = clock()
    end = spec.ramp_s + spec.duration_s

    async def one(n: int, scheduled: float) -> None:
        row = rows[n % len(rows)]
        start = clock() - t0
        try:
            outcome = await asyncio.wait_for(send(row.data), spec.timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            outcome = Outcome("error", (clock() - t0 - start) * 1000,
                              error=f"no answer within timeout_s {spec.timeout_s:g}")
        except Exception as exc:
            outcome = Outcome("error", (clock() - t0 - start) * 1000, error=_describe(exc))
        results[n] = _row(n, row, outcome, start, clock() - t0, (start - scheduled) * 1000)

    if spec.mode == "rate":
        assert spec.rate is not None
        tasks: set[asyncio.Task[None]] = set()
        for n, t in enumerate(arrival_times(spec.rate, spec.ramp_s, spec.duration_s,
                                            spec.max_requests)):
            delay = t - (clock() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            if len(tasks) >= spec.max_in_flight:
                # the client could not generate the rate: say so rather than queue silently
                now = clock() - t0
                results[n] = _row(n, rows[n % len(rows)], Outcome(
                    "error", 0.0,
                    error=f"not sent: {len(tasks)} requests in flight (max_in_flight "
                          f"{spec.max_in_flight}); the target rate outruns the deployment",
                ), now, now, (now - t) * 1000)
                continue
            task = asyncio.ensure_future(one(n, t))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
    else:
        assert spec.concurrency is not None
        counter = iter(range(spec.max_requests))

        async def user(index: int) -> None:
            begin = spec.ramp_s * index / spec.concurrency  # type: ignore[operator]
            delay = begin - (clock() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            while clock() - t0 < end:
                n = next(counter, None)
                if n is None:
                    return
                await one(n, clock() - t0)

        await asyncio.gather(*(user(i) for i in range(spec.concurrency)))
    return [results[n] for n in sorted(results)]


# --- senders ---------------------------------------------------------------------------------


def _classify(exc: BaseException, model: Any) -> Outcome | None:
    """A 429 or another HTTP/connection failure of the openai client, as an outcome."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai comes with the gate's model extras
        return None
    from pytest_llmgate.config.models import redact
    from pytest_llmgate.engine.llm import _classify as describe_failure

    if not isinstance(exc, openai.APIError):
        return None
    status = getattr(exc, "status_code", None)
    cause = describe_failure(exc, model).cause if model is not None else _describe(exc)
    kind = "rate_limited" if status == 429 else "error"
    return Outcome(kind, 0.0, status=status, error=redact(cause))


def sender_for(subject: Any, variant: str, spec: LoadSpec) -> Sender:
    """How to send one request for `subject` (see the module docstring)."""
    if hasattr(subject, "render") and hasattr(subject, "_variants"):
        return _prompt_sender(subject, variant, spec)
    return _subject_sender(subject, variant)


def _prompt_sender(subject: Any, variant: str, spec: LoadSpec) -> Sender:
    from pytest_llmgate.config.models import cost_usd
    from pytest_llmgate.engine.llm import get_pool
    from pytest_llmgate.engine.tokens import count_tokens

    settings = subject._variants[variant]
    model = subject._model(variant, settings.model)
    if not model.available:
        from pytest_llmgate.config.models import redact
        from pytest_llmgate.errors import ModelCallError

        raise ModelCallError(redact(f"{model.describe()}: {model.unavailable_reason()}"))
    pool = get_pool()
    params = dict(settings.params)
    # built (and openai imported, seconds) before the clock starts, on the loop that sends
    client = pool._client(pool._state(), model)

    async def send(data: Mapping[str, Any]) -> Outcome:
        inputs, messages = subject.render(data, variant)
        started = time.perf_counter()
        ttft: float | None = None
        parts: list[str] = []
        usage: Any = None
        try:
            if spec.stream:
                stream = await client.chat.completions.create(
                    model=model.request_model, messages=messages, stream=True,
                    stream_options={"include_usage": True}, timeout=spec.timeout_s, **params,
                )
                async for chunk in stream:
                    if chunk.choices:
                        piece = chunk.choices[0].delta.content
                        if piece:
                            if ttft is None:
                                ttft = (time.perf_counter() - started) * 1000
                            parts.append(piece)
                    if getattr(chunk, "usage", None) is not None:
                        usage = chunk.usage
            else:
                response = await client.chat.completions.create(
                    model=model.request_model, messages=messages, timeout=spec.timeout_s,
                    **params,
                )
                parts.append(response.choices[0].message.content or "")
                usage = response.usage
        except Exception as exc:
            latency = (time.perf_counter() - started) * 1000
            failed = _classify(exc, model)
            if failed is None:
                raise
            return Outcome(failed.kind, latency, status=failed.status, error=failed.error,
                           inputs=inputs)
        latency = (time.perf_counter() - started) * 1000
        text = "".join(parts)
        if usage is not None:
            prompt, completion = int(usage.prompt_tokens), int(usage.completion_tokens)
        else:  # the endpoint sent no usage: count what came back
            prompt, completion = 0, count_tokens(text, model.price_model or "gpt-4o")
        if spec.stream and ttft is None:
            return Outcome("error", latency, status=200, inputs=inputs,
                           error="the stream ended without a content token")
        return Outcome("ok", latency, ttft, text, prompt, completion,
                       cost_usd(model, prompt, completion), 200, inputs=inputs)

    return send


def _subject_sender(subject: Any, variant: str) -> Sender:
    from pytest_llmgate.results.usage import Ledger, current_ledger

    async def send(data: Mapping[str, Any]) -> Outcome:
        ledger = Ledger("subject")
        token = current_ledger.set(ledger)
        started = time.perf_counter()
        try:
            inputs, output = await subject.run(data, variant)
        except Exception as exc:
            latency = (time.perf_counter() - started) * 1000
            failed = _classify(exc, None)
            if failed is None:
                if "HTTP 429" in str(exc):  # the engine's error after its retries
                    return Outcome("rate_limited", latency, status=429, error=_describe(exc))
                raise
            return Outcome(failed.kind, latency, status=failed.status, error=failed.error)
        finally:
            current_ledger.reset(token)
        latency = (time.perf_counter() - started) * 1000
        if ledger.cache_hits:
            return Outcome("error", latency, error="answered from the call cache, which measures "
                           "nothing: run load suites with --llm-gate-cache off")
        return Outcome("ok", latency, None, str(output), ledger.prompt_tokens,
                       ledger.completion_tokens, ledger.cost_usd, inputs=inputs)

    return send
