"""Content-addressed cache of model calls (subject and judge), shared by processes and runs.

Key: sha256 of the canonical JSON of what changes the answer, and nothing else:
- the operation (`chat` or `embed`) and the answering model's identity: endpoint kind, the model or
  Azure deployment, and the endpoint. The endpoint is part of the key because two servers serving
  "the same" model name (OpenAI vs a vLLM proxy, two Azure resources) answer differently; loopback
  hosts drop their port (local servers move between ports), and a model's `cache_namespace`
  replaces the endpoint when a team wants one cache across endpoints;
- the messages (or embedding input), and every request parameter except those that cannot change
  the answer (`timeout`, `extra_headers`, `user`, `metadata`, `stream`...);
- the evaluator id and version for judge calls, the repeat index (so repeats are distinct samples).
Not in the key: the API key, the api_version, the role (subject or judge), the time.

Canonical JSON: sorted keys, no whitespace, integral floats written as ints (`temperature: 0` and
`0.0` are one key), None-valued parameters dropped, tuples as lists; NaN is refused.

Storage: one SQLite file, `<root>/cache.sqlite3`, in WAL mode (see `cache_db`): a CI cache is
one file to restore and save, xdist workers share it (readers never block; writers of several
processes take turns), and an interrupted run leaves the last committed batch. A corrupt entry
reads as a miss and is replaced by the next write. Only successful answers are written, and the
serialized value passes through `redact()`. Writes run on a background thread in batches (see
`ResponseCache`); `flush()` waits for them. A cache directory in the old one-file-per-entry
layout (`<root>/v1/<key[:2]>/<key>.json`) is imported on first open and its files removed.

Modes: `rw` read and write; `ro` read only, a miss raises `CacheMissError` (CI replaying a committed
cache must never call a model by accident) and the file is never modified; `off` neither; `refresh`
write without reading. Writing modes also record which run used each entry (`LLMGATE_RUN_ID`, else
xdist's run id shared by its workers, else one id per process), for `llmgate cache prune --unused`.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import math
import os
import queue
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pytest_llmgate.config.models import redact
from pytest_llmgate.engine import cache_db
from pytest_llmgate.errors import ModelCallError

__all__ = [
    "CACHE_MODES",
    "DEFAULT_CACHE_DIR",
    "CacheMissError",
    "CacheMode",
    "CacheStats",
    "ResponseCache",
    "cache_key",
    "canonical",
    "canonical_json",
    "current_run_id",
]

CacheMode = Literal["rw", "ro", "off", "refresh"]
CACHE_MODES: tuple[str, ...] = ("rw", "ro", "off", "refresh")
DEFAULT_CACHE_DIR = Path(".llmgate") / "cache"
KEY_VERSION = 1
# Request parameters that do not change what the model answers.
IGNORED_PARAMS = frozenset(
    {
        "timeout",
        "extra_headers",
        "extra_query",
        "extra_body",
        "user",
        "metadata",
        "store",
        "stream",
        "stream_options",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
        "parallel_tool_calls_hint",
    }
)


class CacheMissError(ModelCallError):
    """A call had no cached answer while the cache is read-only."""


def canonical(value: Any) -> Any:
    """`value` reduced to the JSON types in one canonical form (see the module docstring)."""
    # Exact-type fast path (a judge prompt is a few dozen values; ABC isinstance checks were
    # most of the key's cost); subclasses and other types take the general path below.
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): canonical(v) for k, v in value.items()}
    if kind is list:
        return [canonical(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot key a non-finite number: {value!r}")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if hasattr(value, "model_dump"):  # pydantic models (openai's typed params)
        return canonical(value.model_dump(exclude_none=True))
    raise TypeError(f"cannot key a value of type {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(
        canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def cache_key(
    *,
    op: str,
    model: Mapping[str, str],
    request: Mapping[str, Any],
    repeat: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of one call. `model` is `ModelConfig.cache_identity()`; `request` holds the
    messages (or input) and the parameters as sent."""
    kept = {k: v for k, v in request.items() if v is not None and k not in IGNORED_PARAMS}
    if isinstance(kept.get("messages"), (list, tuple)):
        kept["messages"] = [
            {k: v for k, v in m.items() if v is not None} if isinstance(m, Mapping) else m
            for m in kept["messages"]
        ]
    payload = {
        "v": KEY_VERSION,
        "op": op,
        "model": dict(model),
        "request": kept,
        "repeat": int(repeat),
        "extra": dict(extra or {}),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()



def current_run_id() -> str:
    """The id that marks the entries this run uses: `LLMGATE_RUN_ID`, else the run id xdist gives
    all its workers (`PYTEST_XDIST_TESTRUNUID`), else one id for this process."""
    return (
        os.environ.get("LLMGATE_RUN_ID")
        or os.environ.get("PYTEST_XDIST_TESTRUNUID")
        or _PROCESS_RUN_ID
    )


_PROCESS_RUN_ID = uuid.uuid4().hex


@dataclass
class CacheStats:
    """Counters of one cache object (safe to bump from several threads)."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0
    write_errors: int = 0
    saved_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def hit(self, cost: float) -> None:
        with self._lock:
            self.hits += 1
            self.saved_usd += cost

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "writes": self.writes,
            "corrupt": self.corrupt,
            "write_errors": self.write_errors,
            "saved_usd": round(self.saved_usd, 6),
        }


_LIVE: weakref.WeakSet[ResponseCache] = weakref.WeakSet()
# Entries per write transaction: large enough that commits are rare, small enough that a crash
# loses little and other processes' writers wait a few milliseconds at most.
BATCH = 512
_Put = tuple[str, str, str, float, dict[str, Any]]  # key, value json, meta json, created, stored


def _cost(value: Mapping[str, Any]) -> float:
    cost = value.get("cost_usd", 0.0)
    return float(cost) if isinstance(cost, (int, float)) else 0.0


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@atexit.register
def _flush_all() -> None:
    # Writer threads are daemons: make sure a run that ends without close() loses nothing, and
    # close the connections so SQLite folds the WAL back into the one file.
    for cache in list(_LIVE):
        cache.close()


T = TypeVar("T")


def _while_locked(step: Callable[[], T]) -> T:
    """Run one SQLite step, again while SQLite answers "database is locked" / "busy" at once.

    Processes that open one cache together (xdist workers) race to create it and switch it to
    WAL; SQLite answers some of those races immediately, without waiting out the busy timeout
    (a read transaction upgrading to write, a reader meeting the switch). Retrying within the
    busy timeout keeps a shared cache working instead of reading it as broken or empty.
    """
    deadline = time.monotonic() + cache_db.BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


class ResponseCache:
    """The cache file. Values are JSON objects; a `cost_usd` field counts toward money saved.

    With `background=True` (the default) entries are written by one writer thread, a batch per
    transaction, so the event loop never waits for a commit. A pending entry is already visible to
    `get` in this process; `flush()` (or `close()`, or interpreter exit) waits until every entry
    is committed. Reads use their own connection (WAL: they never wait for a writer).
    """

    def __init__(
        self,
        root: Path | str = DEFAULT_CACHE_DIR,
        mode: CacheMode | str = "rw",
        *,
        background: bool = True,
    ) -> None:
        if mode not in CACHE_MODES:
            raise ValueError(f"cache mode must be one of {', '.join(CACHE_MODES)}, not {mode!r}")
        self.root = Path(root)
        self.path = self.root / cache_db.DB_NAME
        self.mode: str = mode
        self.stats = CacheStats()
        self.last_write_error: str | None = None
        self.migrated: tuple[int, int] | None = None  # (imported, corrupt) from the old layout
        self.run_id = current_run_id()
        self._started = time.time()
        self._background = background
        self._pending: dict[str, dict[str, Any]] = {}
        self._used: list[str] = []
        self._used_lock = threading.Lock()
        self._queue: queue.Queue[list[_Put] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._db_lock = threading.RLock()
        self._reader: sqlite3.Connection | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._legacy_only = False
        self._broken: str | None = None

    @property
    def reads(self) -> bool:
        return self.mode in ("rw", "ro")

    @property
    def writes(self) -> bool:
        return self.mode in ("rw", "refresh")

    # --- connections ----------------------------------------------------------------------------

    def _open(self, *, for_write: bool) -> sqlite3.Connection | None:
        """The reader (or writer) connection, opened on first use; None when there is no file to
        read (a read-only cache never creates one) or it cannot be opened (`_broken` says why)."""
        with self._db_lock:
            if self._pid != os.getpid():  # a forked child must not share its parent's handles
                self._reader = self._write_conn = None
                self._pid = os.getpid()
            conn = self._write_conn if for_write else self._reader
            if conn is not None or self._broken is not None or self._legacy_only:
                return conn
            try:
                if self.writes:
                    conn = self._create_and_migrate()
                elif (self.root / cache_db.LEGACY_DIR).is_dir() and not self.path.is_file():
                    self._legacy_only = True  # read-only: read the old layout where it lies
                    return None
                else:
                    conn = cache_db.connect(self.path, create=False)
            except FileNotFoundError:
                return None
            except (OSError, sqlite3.Error) as exc:
                self._broken = f"{self.path}: {type(exc).__name__}: {exc}"
                self.last_write_error = self._broken
                return None
            if for_write:
                self._write_conn = conn
            else:
                self._reader = conn
            _LIVE.add(self)
            return conn

    def _create_and_migrate(self) -> sqlite3.Connection:
        """Open (creating) the database and import the old layout once.

        Processes opening a new cache together (xdist workers) race to create it; SQLite answers
        some of those races with an immediate "database is locked" that no busy timeout waits
        out (a read transaction upgrading to write, or switching to WAL). Retry those, within
        the busy timeout, instead of declaring the cache broken for the whole run.
        """
        def open_and_migrate() -> sqlite3.Connection:
            conn = cache_db.connect(self.path, create=True)
            try:
                if self._write_conn is None and self._reader is None:
                    self.migrated = cache_db.migrate_legacy(conn, self.root)
            except BaseException:
                conn.close()
                raise
            return conn

        return _while_locked(open_and_migrate)

    # --- reads ----------------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached value, or None (always None when the mode does not read)."""
        if not self.reads:
            return None
        value = self._pending.get(key)
        if value is not None:
            self.stats.hit(_cost(value))
            return value
        text = self._read(key)
        if text is None:
            self.stats.bump("misses")
            return None
        try:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("not an object")
        except ValueError:
            self.stats.bump("corrupt")
            self.stats.bump("misses")
            return None
        self.stats.hit(_cost(value))
        if self.writes:
            with self._used_lock:
                self._used.append(key)
                full = len(self._used) >= BATCH
            if full:
                self._submit([])
        return value

    def _read(self, key: str) -> str | bytes | None:
        conn = self._open(for_write=False)
        if conn is None:
            return self._read_legacy(key) if self._legacy_only else None
        def select() -> Any:
            with self._db_lock:
                return conn.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()

        try:
            row = _while_locked(select)
        except sqlite3.Error:
            self.stats.bump("corrupt")
            return None
        return row[0] if row is not None else None

    def _read_legacy(self, key: str) -> bytes | None:
        try:
            entry = json.loads(cache_db.legacy_path(self.root, key).read_bytes())
            if entry.get("key") != key:
                raise ValueError("entry does not match its key")
            return _dumps(entry["value"]).encode("utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.stats.bump("corrupt")
            return None

    def lookup(self, key: str, what: str | Callable[[], str]) -> dict[str, Any] | None:
        """`get`, except that a miss in `ro` mode raises `CacheMissError` naming `what` (a
        callable is asked only then: describing the call costs more than a hit)."""
        value = self.get(key)
        if value is None and self.mode == "ro":
            what = what if isinstance(what, str) else what()
            raise CacheMissError(
                f"no cached answer for {what} (cache is read-only: {self.root}, key {key[:12]}); "
                "record it with --llm-gate-cache=rw"
            )
        return value

    # --- writes ---------------------------------------------------------------------------------

    def put(
        self, key: str, value: Mapping[str, Any], *, meta: Mapping[str, Any] | None = None
    ) -> None:
        """Store a successful answer (a no-op unless the mode writes)."""
        if not self.writes:
            return
        raw = _dumps(dict(value))
        data = redact(raw)
        # What this process reads back must equal what the next run will read from the file.
        stored: dict[str, Any] = dict(value) if data == raw else json.loads(data)
        item: _Put = (key, data, redact(_dumps(dict(meta or {}))), round(time.time(), 3), stored)
        if not self._background:
            self._commit([item], self._take_used())
            return
        self._pending[key] = stored
        self._submit([item])

    def _take_used(self) -> list[str]:
        with self._used_lock:
            used, self._used = self._used, []
        return used

    def _submit(self, items: list[_Put]) -> None:
        if not self._background:
            self._commit(items, self._take_used())
            return
        if self._writer is None:
            self._start_writer()
        self._queue.put(items)

    def _start_writer(self) -> None:
        with self._writer_lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="llmgate-cache-writer", daemon=True
                )
                self._writer.start()
                _LIVE.add(self)

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            batches = [first]
            # Everything queued meanwhile goes into the same transaction.
            while first is not None and len(batches) < BATCH:
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                items = [item for batch in batches if batch is not None for item in batch]
                self._commit(items, self._take_used())
            finally:
                for _ in batches:
                    self._queue.task_done()
            if batches[-1] is None:
                return

    def _commit(self, items: list[_Put], used: list[str]) -> None:
        if not items and not used:
            return
        try:
            conn = self._open(for_write=True)
            if conn is None:
                raise sqlite3.OperationalError(self._broken or "cache file unavailable")
            cache_db.write_batch(
                conn,
                [(key, data, meta, created) for key, data, meta, created, _ in items],
                used,
                run=self.run_id,
                started=self._started,
                mode=self.mode,
            )
            self.stats.bump("writes", len(items))
        except (OSError, sqlite3.Error) as exc:
            # A cache that cannot be written costs money, never correctness: count and go on.
            self.stats.bump("write_errors", len(items) or 1)
            self.last_write_error = f"{type(exc).__name__}: {exc}"
        finally:
            for key, _, _, _, stored in items:
                if self._pending.get(key) is stored:
                    del self._pending[key]

    def flush(self) -> None:
        """Wait until every entry put (and every use recorded) so far is committed."""
        if self._used:
            self._submit([])
        if self._writer is not None:
            self._queue.join()

    def close(self) -> None:
        """Flush, stop the writer thread and close the connections (a later call reopens)."""
        self.flush()
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()
        with self._db_lock:
            for conn in (self._reader, self._write_conn):
                if conn is not None:
                    conn.close()
            self._reader = self._write_conn = None
        _LIVE.discard(self)

    def __del__(self) -> None:
        # sqlite3 connections sit in reference cycles of their own: close them when the cache
        # goes, or a dropped read-only cache keeps the WAL files around until a garbage collection.
        for conn in (getattr(self, "_reader", None), getattr(self, "_write_conn", None)):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    # --- maintenance ----------------------------------------------------------------------------

    def entries(self) -> int:
        self.flush()
        conn = self._open(for_write=False)
        if conn is None:
            return 0
        with self._db_lock:
            return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])

    def clear(self) -> int:
        """Delete every entry; returns the number removed."""
        self.flush()
        conn = self._open(for_write=True) if self.writes else None
        if conn is None:
            conn = cache_db.connect(self.path, create=True)
            try:
                return int(conn.execute("DELETE FROM entries").rowcount)
            finally:
                conn.close()
        with self._db_lock:
            return int(conn.execute("DELETE FROM entries").rowcount)
