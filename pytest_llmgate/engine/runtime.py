"""The model side of a gate session: which models exist, which one judges, and the shared pool.

`prepare(settings)` runs once before the first item that needs a model (idempotent): it loads the
named models (thresholds.yaml `models:`, then the environment with `<rootdir>/.env`), builds the
call cache from `--llm-gate-cache` / `--llm-gate-cache-dir`, and installs one `llm.ModelPool` for
the session. Suites may add their own `models:`; `model_for(name, role, suite_models=...)` resolves
a name against the suite's models first, then the session's; `model_for(None, "judge")` is the
default judge (`models.default_judge`). `finish()` closes the pool's connections on the gate loop
and returns the summary lines the terminal prints (calls, retries, cache hits, money saved).

Models configured only by environment variables cannot say how many calls they take at once, so
their per-model bound is raised to the gate's concurrency (the row bound still applies).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pytest_llmgate.errors import GateError, InputError

if TYPE_CHECKING:
    from pytest_llmgate.config.models import ModelConfig
    from pytest_llmgate.engine.llm import ModelPool

__all__ = [
    "ModelNotConfigured",
    "finish",
    "model_for",
    "models",
    "prepare",
    "reset",
    "rootdir",
    "runtime",
]


class ModelNotConfigured(GateError, LookupError):
    """A subject or judge names a model nobody configured (or none is configured at all)."""


@dataclasses.dataclass
class _State:
    rootdir: Path | None
    env: dict[str, str]
    models: dict[str, ModelConfig]
    concurrency: int
    pool: ModelPool
    suite_models: dict[str, dict[str, ModelConfig]] = dataclasses.field(default_factory=dict)


_state: _State | None = None
_lock = threading.RLock()


def _read_models(path: Path | None) -> Mapping[str, Any] | None:
    if path is None or not path.is_file():
        return None
    from pytest_llmgate.util.yamlio import load_yaml

    data = load_yaml(path).data
    return data.get("models") if isinstance(data, dict) else None


def _workers() -> int:
    return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))


def _widen(models: dict[str, ModelConfig], concurrency: int) -> dict[str, ModelConfig]:
    # A declared `concurrency:` is the endpoint's budget for the whole run, so each xdist worker
    # gets its share; environment-only models have no budget, only the per-process row bound.
    workers = _workers()
    return {
        name: dataclasses.replace(m, concurrency=max(m.concurrency, concurrency))
        if m.source == "<environment>"
        else dataclasses.replace(m, concurrency=max(1, m.concurrency // workers))
        for name, m in models.items()
    }


def prepare(settings: Any) -> None:
    """Load models, build the cache and install the session pool (once per process)."""
    global _state
    with _lock:
        if _state is not None:
            return
        from pytest_llmgate.config.models import environment, load_models
        from pytest_llmgate.engine.cache import ResponseCache
        from pytest_llmgate.engine.llm import ModelPool, set_pool

        rootdir = Path(settings.rootdir) if getattr(settings, "rootdir", None) else None
        env = environment(rootdir)
        thresholds = getattr(settings, "thresholds_path", None)
        source = thresholds or "<environment>"
        loaded = load_models(_read_models(thresholds), source=source, env=env)
        concurrency = int(getattr(settings, "concurrency", 16) or 16)
        mode = str(getattr(settings, "cache_mode", "rw") or "rw")
        cache_dir = getattr(settings, "cache_dir", None)
        cache = None
        if mode != "off":
            cache = ResponseCache(Path(cache_dir) if cache_dir else Path(".llmgate/cache"), mode)
        pool = ModelPool(cache=cache, rate_share=1.0 / _workers())
        set_pool(pool)
        _state = _State(rootdir, env, _widen(loaded, concurrency), concurrency, pool)


def rootdir() -> Path | None:
    """The session's root directory (where `.env` is read), None before `prepare`."""
    state = _state
    return state.rootdir if state is not None else None


def _require_state() -> _State:
    if _state is None:
        raise ModelNotConfigured("models are not loaded: the gate session did not prepare them")
    return _state


def models(suite_models: Mapping[str, Any] | None = None, source: str = "suite") -> dict[str, Any]:
    """The models visible to a suite: its own `models:` over the session's."""
    state = _require_state()
    if not suite_models:
        return dict(state.models)
    key = f"{source}\0{sorted(suite_models)!r}\0{id(suite_models)}"
    with _lock:
        own = state.suite_models.get(key)
        if own is None:
            from pytest_llmgate.config.models import load_models

            own = load_models(suite_models, source=source, env=state.env, include_env=False)
            own = state.suite_models[key] = _widen(own, state.concurrency)
    return {**state.models, **own}


def model_for(
    name: str | None,
    role: str = "subject",
    *,
    suite_models: Mapping[str, Any] | None = None,
    source: str = "suite",
) -> ModelConfig:
    """The model called `name`; with no name, the judge (role judge) or the subject default
    (a model called `subject`, else `openai`, `azure`, then the judge)."""
    from pytest_llmgate.config.models import default_judge

    state = _require_state()
    visible = models(suite_models, source)
    if name:
        model: ModelConfig | None = visible.get(name)
        if model is None:
            known = ", ".join(sorted(visible)) or "none"
            raise ModelNotConfigured(f"model {name!r} is not configured (models: {known})")
        return model
    if role == "subject":
        for candidate in ("subject", "openai", "azure"):
            if candidate in visible:
                chosen: ModelConfig = visible[candidate]
                return chosen
    try:
        judge = default_judge(visible, env=state.env)
    except InputError as exc:
        raise ModelNotConfigured(exc.problem) from None
    if judge is None:
        from pytest_llmgate.config.models import NO_MODEL_REASON

        raise ModelNotConfigured(NO_MODEL_REASON)
    return judge


def finish() -> list[str]:
    """Close the pool on the gate loop and return the summary lines (empty when unused)."""
    global _state
    with _lock:
        state, _state = _state, None
    if state is None:
        return []
    from pytest_llmgate.engine.llm import set_pool
    from pytest_llmgate.engine.loop import run_sync

    pool = state.pool
    with contextlib.suppress(RuntimeError):  # a closed loop: connections end with the process
        run_sync(pool.aclose())
    set_pool(None)
    stats = pool.stats
    if not stats.calls:
        return []
    lines = [
        f"llm-gate: model endpoint {endpoint} is down (connections refused): later calls failed "
        f"fast; start the server or fix its base URL"
        for endpoint in pool.unreachable()
    ]
    lines.append(
        f"model calls: {stats.calls} ({stats.http_requests} HTTP requests, {stats.retries} "
        f"retries, {stats.failures} failed attempts)"
    )
    cache = pool.cache
    if cache is not None:
        c = cache.stats
        lines.append(
            f"call cache ({cache.mode}): {c.hits} hits, {c.misses} misses, {c.writes} written, "
            f"${c.saved_usd:.4f} saved"
        )
    return lines


@contextlib.contextmanager
def runtime(
    rootdir: Path, *, concurrency: int = 16, needs_model: bool = True
) -> Iterator[None]:
    """The runtime (event loop, models, cache, pool) for a caller outside a gate session (the
    Python API): what it finds already running it uses and leaves open (a gate session owns it);
    what it had to create it closes afterwards, so nothing outlives the call."""
    from pytest_llmgate.engine import loop

    owns_loop = loop.current_loop() is None
    owns_models = needs_model and _state is None
    if owns_models:
        thresholds = rootdir / "thresholds.yaml"
        prepare(
            SimpleNamespace(
                rootdir=rootdir,
                thresholds_path=thresholds if thresholds.is_file() else None,
                concurrency=concurrency,
                cache_mode=os.environ.get("LLMGATE_CACHE", "rw"),
                cache_dir=rootdir / ".llmgate" / "cache",
            )
        )
    try:
        yield
    finally:
        if owns_models:
            finish()
        if owns_loop:
            loop.close_loop()


def reset() -> None:
    """Forget the session state without closing anything (tests)."""
    global _state
    with _lock:
        _state = None
