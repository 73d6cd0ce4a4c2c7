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

Layout: `<root>/v1/<key[:2]>/<key>.json`. Writes go to a temporary file in the same directory and
are renamed over the target (`os.replace`, atomic on POSIX and Windows), so concurrent writers
(xdist workers) and an interrupted run leave either no entry or a whole one; a corrupt entry reads
as a miss. Only successful answers are written, and the serialized entry passes through `redact()`.
Writes run on a background thread (see `ResponseCache`); `flush()` waits for them.

Modes: `rw` read and write; `ro` read only, a miss raises `CacheMissError` (CI replaying a committed
cache must never call a model by accident); `off` neither; `refresh` write without reading.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import itertools
import json
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_llmgate.errors import ModelCallError
from pytest_llmgate.models import redact

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

    def bump(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "writes": self.writes,
            "corrupt": self.corrupt,
            "write_errors": self.write_errors,
            "saved_usd": round(self.saved_usd, 6),
        }


_TMP_COUNTER = itertools.count()
_LIVE: weakref.WeakSet[ResponseCache] = weakref.WeakSet()


def _cost(value: Mapping[str, Any]) -> float:
    cost = value.get("cost_usd", 0.0)
    return float(cost) if isinstance(cost, (int, float)) else 0.0


@atexit.register
def _flush_all() -> None:
    # Writer threads are daemons: make sure a run that ends without close() loses nothing.
    for cache in list(_LIVE):
        cache.flush()


class ResponseCache:
    """The on-disk cache. Values are JSON objects; a `cost_usd` field counts toward money saved.

    With `background=True` (the default) entries are written by one writer thread: creating a file
    costs 0.2-0.8 ms of kernel time on the machines we measured, and the syscalls release the GIL,
    so the event loop keeps running meanwhile. A pending entry is already visible to `get` in this
    process; `flush()` (or `close()`, or interpreter exit) waits until every entry is on disk.
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
        self.mode: str = mode
        self.stats = CacheStats()
        self.last_write_error: str | None = None
        self._made: set[str] = set()
        self._background = background
        self._pending: dict[str, dict[str, Any]] = {}
        self._queue: queue.Queue[tuple[str, bytes, dict[str, Any]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()

    @property
    def reads(self) -> bool:
        return self.mode in ("rw", "ro")

    @property
    def writes(self) -> bool:
        return self.mode in ("rw", "refresh")

    def path_for(self, key: str) -> Path:
        return self.root / f"v{KEY_VERSION}" / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached value, or None (always None when the mode does not read)."""
        if not self.reads:
            return None
        value = self._pending.get(key)
        if value is not None:
            self.stats.hit(_cost(value))
            return value
        try:
            raw = self.path_for(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            self.stats.bump("misses")
            return None
        try:
            entry = json.loads(raw)
            value = entry["value"]
            if entry.get("key") != key or not isinstance(value, dict):
                raise ValueError("entry does not match its key")
        except (ValueError, KeyError, TypeError):
            self.stats.bump("corrupt")
            self.stats.bump("misses")
            return None
        self.stats.hit(_cost(value))
        return value

    def lookup(self, key: str, what: str) -> dict[str, Any] | None:
        """`get`, except that a miss in `ro` mode raises `CacheMissError` naming `what`."""
        value = self.get(key)
        if value is None and self.mode == "ro":
            raise CacheMissError(
                f"no cached answer for {what} (cache is read-only: {self.root}, key {key[:12]}); "
                "record it with --llm-gate-cache=rw"
            )
        return value

    def put(
        self, key: str, value: Mapping[str, Any], *, meta: Mapping[str, Any] | None = None
    ) -> None:
        """Store a successful answer atomically (a no-op unless the mode writes)."""
        if not self.writes:
            return
        entry: dict[str, Any] = {
            "key": key,
            "created": round(time.time(), 3),
            "meta": dict(meta or {}),
            "value": dict(value),
        }
        raw = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        data = redact(raw)
        # What this process reads back must equal what the next run will read from disk.
        stored: dict[str, Any] = entry["value"] if data == raw else json.loads(data)["value"]
        if not self._background:
            self._write(key, data.encode("utf-8"), stored)
            return
        self._pending[key] = stored
        if self._writer is None:
            self._start_writer()
        self._queue.put((key, data.encode("utf-8"), stored))

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
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write(*item)
            finally:
                self._queue.task_done()

    def _write(self, key: str, data: bytes, stored: dict[str, Any]) -> None:
        path = self.path_for(key)
        tmp = f"{path.parent}{os.sep}.{key[:16]}.{os.getpid()}.{next(_TMP_COUNTER)}.tmp"
        try:
            shard = str(path.parent)
            if shard not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(shard)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self.stats.bump("writes")
        except OSError as exc:
            # A cache that cannot be written costs money, never correctness: count and go on.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self.stats.bump("write_errors")
            self.last_write_error = f"{type(exc).__name__}: {exc}"
        finally:
            if self._pending.get(key) is stored:
                del self._pending[key]

    def flush(self) -> None:
        """Wait until every entry put so far is on disk."""
        if self._writer is not None:
            self._queue.join()

    def close(self) -> None:
        """Flush and stop the writer thread (a later `put` starts a new one)."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()
            _LIVE.discard(self)

    def entries(self) -> int:
        self.flush()
        base = self.root / f"v{KEY_VERSION}"
        return sum(1 for _ in base.glob("*/*.json")) if base.is_dir() else 0

    def clear(self) -> int:
        """Delete every entry (and stray temporary files); returns the number of entries removed."""
        self.flush()
        base = self.root / f"v{KEY_VERSION}"
        removed = 0
        if base.is_dir():
            for path in base.glob("*/*"):
                if path.suffix in (".json", ".tmp"):
                    removed += path.suffix == ".json"
                    path.unlink(missing_ok=True)
        self._made.clear()
        return removed
