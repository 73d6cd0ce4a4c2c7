"""The gate loop's thread pool: daemon threads, so a call abandoned at its time limit (a sync
subject or evaluator stuck in a blocking call) never keeps the process alive."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["DaemonThreads"]


class DaemonThreads(ThreadPoolExecutor):
    """A thread pool whose threads never keep the process alive.

    `ThreadPoolExecutor` joins its threads at interpreter exit, so one sync subject stuck in a
    blocking call past its time limit would hold the process open forever. Here threads are
    daemons, and `shutdown(wait=False)` (what `loop.close()` calls) returns at once. It subclasses
    `ThreadPoolExecutor` only because asyncio's default executor must be one; none of its thread
    machinery (and so none of its exit-time join) is used.
    """

    def __init__(self, max_workers: int, prefix: str) -> None:
        super().__init__(max_workers=1)  # starts no thread: submit() below is the pool
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._daemons: list[threading.Thread] = []
        self._max = max_workers
        self._prefix = prefix
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            future: Future[Any] = Future()
            self._work.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._daemons) < self._max:
                thread = threading.Thread(
                    target=self._serve,
                    name=f"{self._prefix}_{len(self._daemons)}",
                    daemon=True,
                )
                self._daemons.append(thread)
                thread.start()
            return future

    def _serve(self) -> None:
        while True:
            work = self._work.get()
            if work is None:
                return
            future, fn, args, kwargs = work
            del work
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                    del exc
                else:
                    future.set_result(result)
                    del result
            del future, fn, args, kwargs
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._daemons)
        if cancel_futures:
            with contextlib.suppress(queue.Empty):
                while True:
                    work = self._work.get_nowait()
                    if work is not None:
                        work[0].cancel()
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()
