"""The async engine: runs one item's rows concurrently (bounded), then scores them.

No pytest import here: the engine is shared by the plugin, the Python API and the CLI. Each row
runs the subject under a timeout with a fresh usage ledger, then every evaluator; any exception,
timeout, NaN or unscoreable return is recorded as an error on the row, never as a score.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pytest_llmgate.datasets import Row
from pytest_llmgate.errors import EvaluationError
from pytest_llmgate.evaluators.base import BoundEvaluator, normalize_output
from pytest_llmgate.mapping import MappingError, resolve
from pytest_llmgate.results import RowResult, json_safe
from pytest_llmgate.subjects.base import ALIASES, Subject
from pytest_llmgate.subjects.python import call_maybe_async
from pytest_llmgate.usage import Ledger, current_ledger, current_repeat

__all__ = [
    "RunOptions",
    "close_loop",
    "evaluator_inputs",
    "run_rows",
    "run_rows_sync",
    "run_sync",
]

RESPONSE_PARAMS = frozenset({"response", "answer", "output", "prediction", "completion"})
RESPONSE_KEYS = ("response", "answer", "output", "text", "content")


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 16
    timeout_s: float | None = None
    evaluator_timeout_s: float | None = None
    repeats: int = 1  # subject repeats: each row is generated (and scored) this many times


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
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "TimeoutError: no answer within the timeout"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
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
            return ev.fn(**kwargs)
        call = call_maybe_async(ev.fn, kwargs, in_thread=True)
        if options.evaluator_timeout_s:
            return await asyncio.wait_for(call, options.evaluator_timeout_s)
        return await call

    async def one(ev: BoundEvaluator) -> tuple[BoundEvaluator, Any, BaseException | None]:
        try:
            kwargs = evaluator_inputs(ev, data, output, inputs, latency_ms)
            if ev.repeat <= 1:
                return ev, await once(ev, kwargs), None
            return ev, await _judge_repeats(ev, kwargs, once), None
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
            except EvaluationError as err:
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
        call = subject.run(row.data, variant)
        if options.timeout_s:
            inputs, output = await asyncio.wait_for(call, options.timeout_s)
        else:
            inputs, output = await call
    except Exception as exc:
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
    return RowResult(
        id=row.id,
        line=row.line,
        data=row.data,
        # evaluators saw the real objects; what is recorded must survive JSON (results, xdist
        # payloads, every report), so dataclasses, bytes, models... become plain JSON here
        inputs=json_safe(inputs),
        output=json_safe(output),
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
            result = await _run_row(rows[row_index], subject, variant, evaluators, options, repeat)
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
        with contextlib.suppress(Exception):
            await prepare(variant)
    width = min(options.concurrency, len(jobs), MAX_THREADS)
    workers = [asyncio.ensure_future(worker()) for _ in range(width)]
    with young_gc_only():
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            raise
    return [r for r in results if r is not None]


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
MAX_THREADS = 128


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
        _loop.set_default_executor(
            ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="llmgate")
        )
    try:
        return _loop.run_until_complete(coro)
    except BaseException:
        # Ctrl-C / SIGTERM mid-item: unwind the rows in flight now, while the loop still runs,
        # instead of leaving pending tasks to be destroyed with the loop at session end
        _cancel_pending(_loop)
        raise


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def close_loop() -> None:
    """Close the gate loop (session end); pooled clients are closed by their owners first."""
    global _loop
    if _loop is not None and not _loop.is_closed():
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
