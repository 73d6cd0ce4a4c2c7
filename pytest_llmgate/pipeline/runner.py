"""The async engine: runs one item's rows concurrently (bounded), then scores them.

No pytest import here: the engine is shared by the plugin, the Python API and the CLI. Each row
runs the subject under a time limit with a fresh usage ledger, then every evaluator; anything user
code raises (`BaseException` included), a timeout, NaN or an unscoreable return is recorded as an
error on the row, never as a score and never a lost row. Only `KeyboardInterrupt` (Ctrl-C,
SIGTERM) stops the run, so the session can write what it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmgate.config.datasets import Row
from pytest_llmgate.config.mapping import MappingError, resolve
from pytest_llmgate.engine.loop import MAX_THREADS, retrieve, run_sync
from pytest_llmgate.errors import GateError
from pytest_llmgate.evaluators.base import BoundEvaluator, normalize_output
from pytest_llmgate.evaluators.binding import response_of, source_of, value_of
from pytest_llmgate.results.model import RowResult, json_safe
from pytest_llmgate.results.usage import Ledger, current_ledger, current_repeat, usage_metrics
from pytest_llmgate.subjects.base import Subject
from pytest_llmgate.subjects.python import call_maybe_async

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RunOptions",
    "evaluator_inputs",
    "run_rows",
    "run_rows_sync",
]



DEFAULT_TIMEOUT_S = 300.0  # options.DEFAULT_TIMEOUT_S (the engine does not import pytest)


@dataclass(frozen=True)
class RunOptions:
    """How rows run. Time limits are per call (one subject call, one evaluator call): the
    subject's or evaluator's own `timeout:` when given, else `default_timeout_s`
    (`--llm-gate-timeout`); `None` there means no limit (the Python API may ask for that)."""

    concurrency: int = 16
    timeout_s: float | None = None
    evaluator_timeout_s: float | None = None
    repeats: int = 1  # subject repeats: each row is generated (and scored) this many times
    default_timeout_s: float | None = DEFAULT_TIMEOUT_S

    def subject_limit(self) -> tuple[float | None, str]:
        return self._limit(self.timeout_s)

    def evaluator_limit(self, ev: BoundEvaluator) -> tuple[float | None, str]:
        return self._limit(_seconds(ev.timeout) or self.evaluator_timeout_s)

    def _limit(self, own: float | None) -> tuple[float | None, str]:
        seconds = _seconds(own)
        if seconds is not None:
            return seconds, f"its timeout: {seconds:g}"
        # a NaN or infinite limit is not "no limit": it falls back to the default
        return _seconds(self.default_timeout_s), "the default --llm-gate-timeout"


def _seconds(value: float | None) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


class CallTimeout(GateError, TimeoutError):
    """A subject or evaluator call that did not answer within its limit."""

    def __init__(self, seconds: float, label: str) -> None:
        super().__init__(f"no answer within {seconds:g} s ({label})")


class _Raised(Exception):
    """Carries what a user call raised (any `BaseException`) back to the row as a plain value.

    A `SystemExit` that reached an asyncio task boundary would stop the event loop, and one that
    reached `gather` would take the whole item with it: user code's exceptions travel wrapped.
    """

    def __init__(self, exc: BaseException) -> None:
        super().__init__(exc)
        self.exc = exc


async def _guarded(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise
    except BaseException as exc:
        raise _Raised(exc) from None


def _close_unstarted(call: Awaitable[Any]) -> None:
    """A call whose task was cancelled before it ran never started its coroutine: close it, or
    its garbage collection warns "coroutine ... was never awaited" into whatever runs next."""
    if inspect.iscoroutine(call) and inspect.getcoroutinestate(call) == inspect.CORO_CREATED:
        call.close()


async def _call(call: Awaitable[Any], limit: tuple[float | None, str]) -> Any:
    """Await a user call in its own task under a time limit.

    Returns its value or raises `_Raised` (its exception, or `CallTimeout`). Our own
    cancellation and `KeyboardInterrupt` propagate unchanged. A call past its limit is cancelled
    (async code unwinds; a sync function keeps its daemon thread, which never holds the process).
    """
    seconds, label = limit
    task = asyncio.ensure_future(_guarded(call))
    task.add_done_callback(lambda _: _close_unstarted(call))
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds or None)
    except BaseException:
        task.cancel()
        task.add_done_callback(retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(retrieve)
        raise _Raised(CallTimeout(seconds or 0.0, label))
    if task.cancelled():  # the callee cancelled itself
        raise _Raised(asyncio.CancelledError("the call was cancelled"))
    return task.result()


def _call_inline(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    try:
        return fn(**kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise _Raised(exc) from None


class _Missing(LookupError):
    pass


def evaluator_inputs(
    ev: BoundEvaluator,
    data: Mapping[str, Any],
    output: Any,
    subject_inputs: Mapping[str, Any],
    latency_ms: float,
) -> dict[str, Any]:
    """Keyword arguments for one evaluator call (explicit mapping first, then by name)."""
    sig = ev.signature
    kwargs: dict[str, Any] = {}
    for key, expr in ev.inputs.items():
        try:
            kwargs[key] = resolve(expr, data, output)
        except MappingError as exc:
            raise _Missing(f"inputs.{key}: {exc}") from None
    output_keys = output if isinstance(output, Mapping) else ()
    for param in sig.params:
        if param in kwargs or param == "self":
            continue
        source = source_of(
            param, columns=data, output_keys=output_keys, subject_inputs=subject_inputs
        )
        if source is not None:
            kwargs[param] = value_of(
                source, data=data, output=output, subject_inputs=subject_inputs,
                latency_ms=latency_ms,
            )
        elif param in sig.required:
            raise _Missing(
                f"no value for input {param!r} (not in the row or the subject output; "
                f"map it under inputs:)"
            )
    if sig.var_kwargs and not sig.params:
        kwargs.setdefault("response", response_of(output, "response"))
        for key, value in data.items():
            kwargs.setdefault(key, value)
    return kwargs


def _describe(exc: BaseException) -> str:
    """`Name: first line of the message`, whatever the exception's `__str__` does."""
    if isinstance(exc, CallTimeout):
        return f"TimeoutError: {exc}"
    name = type(exc).__name__
    try:
        text = str(exc).strip()
    except BaseException:  # a user exception whose __str__ itself fails
        text = ""
    text = text.splitlines()[0][:300] if text else ""
    return f"{name}: {text}" if text else name


async def _score(
    evaluators: Sequence[BoundEvaluator],
    data: Mapping[str, Any],
    output: Any,
    inputs: Mapping[str, Any],
    latency_ms: float,
    options: RunOptions,
) -> tuple[dict[str, float], dict[str, Any], list[str]]:
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    errors: list[str] = []
    owner: dict[str, str] = {}

    async def once(ev: BoundEvaluator, kwargs: dict[str, Any]) -> Any:
        if ev.inline and not ev.signature.is_async:
            return _call_inline(ev.fn, kwargs)
        call = call_maybe_async(ev.fn, kwargs, in_thread=True)
        return await _call(call, options.evaluator_limit(ev))

    async def one(ev: BoundEvaluator) -> tuple[BoundEvaluator, Any, BaseException | None]:
        try:
            kwargs = evaluator_inputs(ev, data, output, inputs, latency_ms)
            if ev.repeat <= 1:
                return ev, await once(ev, kwargs), None
            return ev, await _judge_repeats(ev, kwargs, once), None
        except _Raised as raised:
            return ev, None, raised.exc
        except Exception as exc:
            return ev, None, exc

    inline = [ev for ev in evaluators if ev.inline and not ev.signature.is_async]
    others = [ev for ev in evaluators if not (ev.inline and not ev.signature.is_async)]
    outcomes = [await one(ev) for ev in inline]
    if others:
        outcomes.extend(await asyncio.gather(*(one(ev) for ev in others)))
    for ev, value, exc in outcomes:
        if exc is None:
            try:
                got, extra = normalize_output(ev.name, value)
            except Exception as err:  # EvaluationError, or a mapping whose items() raises
                exc = err
        if exc is not None:
            errors.append(f"evaluator {ev.name}: {_describe(exc)}")
            continue
        for key, number in got.items():
            name = ev.prefix + key
            if name in owner:
                errors.append(
                    f"evaluators {owner[name]!r} and {ev.name!r} both produce metric {name!r}: "
                    f"give one a prefix:"
                )
                continue
            owner[name] = ev.name
            metrics[name] = number
        for key, value in extra.items():
            details[ev.prefix + key] = value
    return metrics, details, errors


async def _judge_repeats(ev: BoundEvaluator, kwargs: dict[str, Any], once: Any) -> dict[str, Any]:
    """Judge the same answer `ev.repeat` times (each an independent sample: its own cache key)
    and average the scores; the per-repeat values stay in the details so spread is visible."""
    samples: list[dict[str, float]] = []
    details: dict[str, Any] = {}
    for index in range(ev.repeat):
        token = current_repeat.set(index)
        try:
            metrics, extra = normalize_output(ev.name, await once(ev, kwargs))
        finally:
            current_repeat.reset(token)
        samples.append(metrics)
        details.update(extra)
    merged: dict[str, Any] = dict(details)
    for key in samples[0]:
        values = [s[key] for s in samples if key in s]
        merged[key] = sum(values) / len(values)
        merged[f"{key}_repeats"] = {"values": values}
    return merged


async def _run_row(
    row: Row,
    subject: Subject,
    variant: str,
    evaluators: Sequence[BoundEvaluator],
    options: RunOptions,
    repeat: int = 0,
) -> RowResult:
    errors: list[str] = []
    inputs: dict[str, Any] = {}
    output: Any = None
    ledger = Ledger("subject")
    token = current_ledger.set(ledger)
    repeat_token = current_repeat.set(repeat)
    started = time.perf_counter()
    try:
        if getattr(subject, "inline", False):
            inputs, output = await _guarded(subject.run(row.data, variant))
        else:
            inputs, output = await _call(subject.run(row.data, variant), options.subject_limit())
    except _Raised as raised:
        errors.append(f"subject: {_describe(raised.exc)}")
    except Exception as exc:  # e.g. run() returned something that is not (inputs, output)
        errors.append(f"subject: {_describe(exc)}")
    finally:
        current_ledger.reset(token)
        current_repeat.reset(repeat_token)
    latency_ms = (time.perf_counter() - started) * 1000.0
    metrics: dict[str, float] = {"latency_ms": latency_ms}
    metrics.update(usage_metrics(ledger))
    details: dict[str, Any] = {}
    if ledger.calls:
        fingerprints = {c.system_fingerprint for c in ledger.calls if c.system_fingerprint}
        if fingerprints:
            details["system_fingerprint"] = sorted(fingerprints)[0]
        details["cache_hits"] = ledger.cache_hits
        if ledger.unpriced:  # cost_usd counts these calls as 0.0: a cost rule fails closed
            details["unpriced_models"] = ledger.unpriced
    if not errors and evaluators:
        judge = Ledger("judge")
        token = current_ledger.set(judge)
        try:
            scored, extra, eval_errors = await _score(
                evaluators, row.data, output, inputs, latency_ms, options
            )
        finally:
            current_ledger.reset(token)
        metrics.update(scored)
        details.update(extra)
        errors.extend(eval_errors)
        metrics.update(usage_metrics(judge))
        if judge.unpriced:
            details["judge_unpriced_models"] = judge.unpriced
    # evaluators saw the real objects; what is recorded must survive JSON (results, xdist
    # payloads, every report), so dataclasses, bytes, models... become plain JSON here
    try:
        safe_inputs, safe_output = json_safe(inputs), json_safe(output)
    except Exception as exc:  # a circular structure, an object whose conversion raises
        safe_inputs, safe_output = {}, None
        errors.append(f"subject: output cannot be recorded as JSON: {_describe(exc)}")
    return RowResult(
        id=row.id,
        line=row.line,
        data=row.data,
        inputs=safe_inputs,
        output=safe_output,
        metrics=metrics,
        details=details,
        errors=tuple(errors),
        latency_ms=latency_ms,
        repeat=repeat,
    )


async def run_rows(
    rows: Sequence[Row],
    subject: Subject,
    variant: str,
    evaluators: Sequence[BoundEvaluator],
    options: RunOptions,
    on_row: Callable[[RowResult], None] | None = None,
    jobs: Sequence[tuple[int, int]] | None = None,
    *,
    keep: bool = True,
) -> list[RowResult]:
    """Run rows (x repeats) with at most `options.concurrency` in flight, in dataset order.

    `jobs` lists (row index, repeat index) pairs to run instead of every row x `options.repeats`
    (adaptive re-runs add repeats to a few rows only). `on_row` sees each result as it finishes;
    with `keep=False` results are only handed to `on_row`, in job order, and an empty list is
    returned: the streamed path
    (`rowstream.RowWriter` + `storedrows.RowColumns`) holds no rows in memory.
    """
    if jobs is None:
        jobs = _AllJobs(len(rows), max(1, options.repeats))
    results: list[RowResult | None] = [None] * len(jobs) if keep else []
    cursor = iter(range(len(jobs)))
    waiting: dict[int, RowResult] = {}
    order = [0]

    async def worker() -> None:
        for index in cursor:
            row_index, repeat = jobs[index]
            row = rows[row_index]
            try:
                result = await _run_row(row, subject, variant, evaluators, options, repeat)
            except Exception as exc:  # a fault of the engine itself: still a row, and an error
                result = _engine_error(row, repeat, exc)
            if keep:
                results[index] = result
                if on_row is not None:
                    on_row(result)
            elif on_row is not None:
                # streamed: hand rows on in job order (sums and repeat means are taken in that
                # order), holding at most the rows finished ahead of a slow one
                waiting[index] = result
                while order[0] in waiting:
                    on_row(waiting.pop(order[0]))
                    order[0] += 1

    # one-off set-up (imports, executors) before any row's latency is measured; if it fails,
    # each row reports the failure itself, as an error row
    with contextlib.suppress(_Raised):
        await _call(subject.prepare(variant), options.subject_limit())
    width = min(options.concurrency, len(jobs), MAX_THREADS)
    workers = [asyncio.ensure_future(worker()) for _ in range(width)]
    with young_gc_only():
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            raise
    if not keep:
        return []
    return [
        r if r is not None else _engine_error(rows[jobs[i][0]], jobs[i][1], None)
        for i, r in enumerate(results)
    ]


def _engine_error(row: Row, repeat: int, exc: BaseException | None) -> RowResult:
    why = _describe(exc) if exc is not None else "the row did not run"
    return RowResult(
        id=row.id,
        line=row.line,
        data=row.data,
        inputs={},
        output=None,
        metrics={},
        details={},
        errors=(f"internal error: {why}",),
        latency_ms=0.0,
        repeat=repeat,
    )


class _AllJobs(Sequence[tuple[int, int]]):
    """Every row x every repeat, row-major, computed on access (a million-row item would
    otherwise hold a million tuples just to say "all of them")."""

    def __init__(self, rows: int, repeats: int) -> None:
        self.rows = rows
        self.repeats = repeats

    def __len__(self) -> int:
        return self.rows * self.repeats

    def __getitem__(self, index: int) -> tuple[int, int]:  # type: ignore[override]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return divmod(index, self.repeats)


_gc_depth = 0
# Larger than any count of young collections a run makes: no automatic full collection.
_NO_FULL_COLLECTION = 1 << 30


@contextlib.contextmanager
def young_gc_only() -> Iterator[None]:
    """While rows run, let the cyclic collector sweep only the young generations.

    Every row leaves results that live until the item ends, so the heap grows for the whole loop
    and each automatic full collection walks all of it again: measured, the 100k-row item spent a
    quarter of its time there (10k -> 100k rows was 37% super-linear). Young collections still
    free the short-lived cycles a row makes (tracebacks, tasks); a cycle that lives long enough
    to reach the old generation is freed by the one full collection when the loop ends. Then
    what survived (the item's rows, kept until the session ends) is frozen (`gc.freeze()`): later
    full collections, the next items' and pytest's five at session end, no longer walk it (it is
    still freed by reference counting when dropped). The previous thresholds come back when the
    outermost loop ends (loops can nest: items on one event loop).
    """
    global _gc_depth
    saved = gc.get_threshold()
    if _gc_depth == 0:
        gc.set_threshold(saved[0], saved[1], _NO_FULL_COLLECTION)
    _gc_depth += 1
    try:
        yield
    finally:
        _gc_depth -= 1
        if _gc_depth == 0:
            gc.set_threshold(*saved)
            gc.collect()  # scans only what is not frozen yet: this item's objects
            gc.freeze()


def run_rows_sync(
    rows: Sequence[Row],
    subject: Subject,
    variant: str,
    evaluators: Sequence[BoundEvaluator],
    options: RunOptions,
    jobs: Sequence[tuple[int, int]] | None = None,
    on_row: Callable[[RowResult], None] | None = None,
    *,
    keep: bool = True,
) -> list[RowResult]:
    """`run_rows` from synchronous code (pytest items)."""
    result: list[RowResult] = run_sync(
        run_rows(rows, subject, variant, evaluators, options, on_row, jobs=jobs, keep=keep)
    )
    return result
