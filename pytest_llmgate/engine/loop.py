"""The process-wide gate event loop: one loop for the whole session, because pooled HTTP
clients (and their connections) belong to the loop that created them.

No pytest import here: the plugin, the Python API and the CLI share it.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from pytest_llmgate.util.threads import DaemonThreads

__all__ = ["MAX_THREADS", "close_loop", "current_loop", "retrieve", "run_sync"]


def retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a finished task's outcome as seen (nobody awaits a call abandoned at its limit)."""
    if not task.cancelled():
        task.exception()



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
            retrieve(finished)


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
