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
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmgate.datasets import Row
from pytest_llmgate.evaluators.base import BoundEvaluator, normalize_output
from pytest_llmgate.mapping import MappingError, resolve
from pytest_llmgate.results import RowResult, json_safe
from pytest_llmgate.subjects.base import ALIASES, Subject
from pytest_llmgate.subjects.python import call_maybe_async
from pytest_llmgate.threads import DaemonThreads
from pytest_llmgate.usage import Ledger, current_ledger, current_repeat

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RunOptions",
    "close_loop",
    "evaluator_inputs",
    "run_rows",
    "run_rows_sync",
    "run_sync",
]

RESPONSE_PARAMS = frozenset({"response", "answer", "output", "prediction", "completion"})
RESPONSE_KEYS = ("response", "answer", "output", "text", "content")


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


class CallTimeout(TimeoutError):
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


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a finished task's outcome as seen (nobody awaits a call abandoned at its limit)."""
    if not task.cancelled():
        task.exception()


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
        task.add_done_callback(_retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
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


def _response_of(output: Any, param: str) -> Any:
    if isinstance(output, Mapping):
        if param in output:
            return output[param]
        for key in RESPONSE_KEYS:
            if key in output:
                return output[key]
    elif not isinstance(output, (str, bytes, int, float, list, tuple)):
        # an object (dataclass, pydantic model) with a response-like attribute
        for key in (param, *RESPONSE_KEYS):
            if isinstance(getattr(output, key, None), str):
                return getattr(output, key)
    return output


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
    for param in sig.params:
        if param in kwargs or param == "self":
            continue
        if param == "latency_ms":
            kwargs[param] = latency_ms
        elif param == "run_inputs":  # the subject's inputs (Prompt Flow's ${run.inputs.x})
            kwargs[param] = dict(subject_inputs)
        elif param in RESPONSE_PARAMS:
            kwargs[param] = _response_of(output, param)
        elif isinstance(output, Mapping) and param in output:
            kwargs[param] = output[param]
        elif param in data:
            kwargs[param] = data[param]
        elif any(alias in data for alias in ALIASES.get(param, ())):
            alias = next(a for a in ALIASES.get(param, ()) if a in data)
            kwargs[param] = data[alias]
        elif param in subject_inputs:
            kwargs[param] = subject_inputs[param]
        elif param in sig.required:
            raise _Missing(
                f"no value for input {param!r} (not in the row or the subject output; "
                f"map it under inputs:)"
            )
    if sig.var_kwargs and not sig.params:
        kwargs.setdefault("response", _response_of(output, "response"))
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


def _usage_metrics(ledger: Ledger, prefix: str) -> dict[str, float]:
    if not ledger.calls:
        return {}
    return {
        f"{prefix}prompt_tokens": float(ledger.prompt_tokens),
        f"{prefix}completion_tokens": float(ledger.completion_tokens),
        f"{prefix}cost_usd": ledger.cost_usd,
    }


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
    metrics.update(_usage_metrics(ledger, ""))
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
        metrics.update(_usage_metrics(judge, "judge_"))
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
    (`rowstream.RowWriter` + `MetricAccumulator`) holds no rows in memory.
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

    prepare = getattr(subject, "prepare", None)
    if prepare is not None:
        # one-off set-up (imports, executors) before any row's latency is measured; if it fails,
        # each row reports the failure itself, as an error row
        with contextlib.suppress(_Raised):
            await _call(prepare(variant), options.subject_limit())
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


_loop: asyncio.AbstractEventLoop | None = None
# every task the gate loop ran, so an interrupted run can mark their outcomes as seen (else
# asyncio logs "Task exception was never retrieved ... KeyboardInterrupt" when they are collected)
_tasks: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()
MAX_THREADS = 128


def _tracked_task(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
    task = asyncio.Task(coro, loop=loop, **kwargs)
    _tasks.add(task)
    return task


def run_sync(coro: Any) -> Any:
    """Run a coroutine on the process-wide gate loop.

    One loop for the whole session, because pooled HTTP clients (and their connections) belong to
    the loop that created them; a fresh `asyncio.run` per item would throw the pool away.
    """
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        # sync subjects run in threads: size the pool for the concurrency bound so a row never
        # queues for a thread (queueing would show up as latency); threads start lazily
        _loop.set_default_executor(DaemonThreads(MAX_THREADS, "llmgate"))
        _loop.set_task_factory(_tracked_task)
    try:
        return _loop.run_until_complete(coro)
    except BaseException:
        # Ctrl-C / SIGTERM mid-item: unwind the rows in flight now, while the loop still runs,
        # instead of leaving pending tasks to be destroyed with the loop at session end
        _cancel_pending(_loop)
        raise


def _cancel_pending(loop: asyncio.AbstractEventLoop, grace_s: float = 5.0) -> None:
    """Cancel the loop's unfinished tasks and let them unwind (bounded: a task that ignores
    cancellation cannot hold the session), then mark every finished task's outcome as seen."""
    for _ in range(3):  # a task may re-raise KeyboardInterrupt while unwinding: go again
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        if not pending:
            break
        for task in pending:
            task.cancel()
        try:
            loop.run_until_complete(asyncio.wait(pending, timeout=grace_s))
        except (KeyboardInterrupt, SystemExit):
            continue
    for finished in list(_tasks):
        if finished.done() and finished.get_loop() is loop:
            _retrieve(finished)


def current_loop() -> asyncio.AbstractEventLoop | None:
    """The gate loop when one is open (its owner closes it), else None."""
    return _loop if _loop is not None and not _loop.is_closed() else None


def close_loop() -> None:
    """Close the gate loop (session end); pooled clients are closed by their owners first.

    Threads still running a call abandoned at its time limit are daemons: closing does not wait
    for them, and neither does the interpreter's exit.
    """
    global _loop
    if _loop is not None and not _loop.is_closed():
        _cancel_pending(_loop, grace_s=1.0)
        _loop.run_until_complete(_loop.shutdown_asyncgens())
        _loop.close()
    _loop = None


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
