"""One flow, one line at a time, in process, through Prompt Flow's own executor.

Why `FlowExecutor.create(...).exec_line_async(...)`: it is the engine `pf flow test` and the batch
engine use for a line (DAG scheduling, `activate` conditions, `${inputs.x}`/`${node.output}`
references, node variants via `node_override`, flex flows with class entries and init kwargs), but
without the pf client: no run folders, no local service on port 23333, no input files copied or
deleted, no `~/.promptflow` (see `prepare_environment`). Awaiting it on the gate's event loop keeps
the gate's concurrency bound and its per-row usage ledger (a context variable) intact: LLM nodes
(`llm_tools`) run as tasks in the row's context, Python nodes in threads that copy it.

Prompt Flow's input-mapping rules are reproduced exactly (`inputs_for`): the default mapping is
`${data.<input>}` for every flow input *without* a default (an input with a default is never
filled from a same-named column), explicit mappings win, mapping keys that are not flow inputs are
ignored, and the mapping itself is applied by promptflow's `apply_inputs_mapping`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import GateError
from pytest_llmgate.promptflow.connections import ConnectionError_, ConnectionSource
from pytest_llmgate.promptflow.environment import (
    prepare_environment,
    quiet_loggers,
    require_promptflow,
)
from pytest_llmgate.promptflow.flowfile import FlowFile

__all__ = ["FlowLineError", "FlowRunner", "LineOutcome"]

LINE_NUMBER_KEY = "line_number"


class FlowLineError(GateError, RuntimeError):
    """A line of the flow failed (message: the failing node and Prompt Flow's error)."""


@dataclass
class LineOutcome:
    output: Any  # the flow outputs (a dict for DAG flows; what the entry returned for flex flows)
    inputs: dict[str, Any]
    aggregation_inputs: dict[str, Any] = field(default_factory=dict)
    system_metrics: dict[str, Any] = field(default_factory=dict)


_CONN_REF = re.compile(r"^\$\{([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)\}$")
_ENV_REF = re.compile(r"^\$\{env:([A-Za-z_]\w*)\}$")
_env_lock = threading.Lock()
_env_users: dict[tuple[tuple[str, str], ...], int] = {}
_env_saved: dict[tuple[tuple[str, str], ...], dict[str, str | None]] = {}


@contextlib.contextmanager
def applied_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set a flow's `environment_variables` while any of its lines runs; restore them after the
    last one ends (rows run concurrently in threads, and os.environ is the process's)."""
    key = tuple(sorted(values.items()))
    if not key:
        yield
        return
    with _env_lock:
        if _env_users.get(key, 0) == 0:
            _env_saved[key] = {name: os.environ.get(name) for name in values}
            os.environ.update(values)
        _env_users[key] = _env_users.get(key, 0) + 1
    try:
        yield
    finally:
        with _env_lock:
            _env_users[key] -= 1
            if _env_users[key] == 0:
                del _env_users[key]
                for name, old in _env_saved.pop(key).items():
                    if old is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = old


def _connection_failure(exc: BaseException) -> ConnectionError_ | None:
    """The gate's connection error inside promptflow's wrappers (GetConnectionError, ...)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionError_):
            return current
        inner = getattr(current, "inner_exception", None)
        todo += [current.__cause__, current.__context__,
                 inner if isinstance(inner, BaseException) else None]
    return None


def _error_text(run_info: Any) -> str:
    error = getattr(run_info, "error", None) or {}
    message = str(error.get("message") or error.get("code") or "the line failed")
    return message.strip().splitlines()[0] if message.strip() else "the line failed"


class FlowRunner:
    """Executors for one flow, one per node-variant selection / init kwargs (built lazily)."""

    def __init__(
        self,
        flow: FlowFile,
        connections: Callable[[], ConnectionSource],  # built at first run
        *,
        line_timeout_s: int | None = None,
        environment_variables: Mapping[str, str] | None = None,
    ) -> None:
        self.flow = flow
        self._connections_factory = connections
        self._provider: Any = None
        self._executors: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.line_timeout_s = line_timeout_s
        # the flow's own, then run.yml's, then the caller's (a suite's), as `pf run` layers them
        self._env_spec = {
            **flow.environment_variables,
            **{str(k): "" if v is None else str(v)
               for k, v in (flow.run_config.get("environment_variables") or {}).items()},
            **(environment_variables or {}),
        }
        self._env: dict[str, str] | None = None

    def connections(self) -> Any:
        """The flow's connection provider (imports promptflow)."""
        if self._provider is None:
            from pytest_llmgate.promptflow.provider import GateConnectionProvider, install

            install()
            self._provider = GateConnectionProvider(self._connections_factory())
        return self._provider

    def environment(self) -> dict[str, str]:
        """The environment variables, `${conn.field}` and `${env:X}` resolved (as pf does)."""
        if self._env is None:
            resolved: dict[str, str] = {}
            for name, value in self._env_spec.items():
                conn, env = _CONN_REF.match(value), _ENV_REF.match(value)
                if conn:
                    connection = self.connections().get(conn.group(1))
                    field_value = getattr(connection, conn.group(2), None)
                    if field_value is None:
                        raise ConnectionError_(
                            f"environment variable {name}: connection {conn.group(1)!r} has no "
                            f"field {conn.group(2)!r}"
                        )
                    value = str(field_value)
                elif env:
                    value = os.environ.get(env.group(1), "")
                resolved[name] = value
            self._env = resolved
        return self._env

    def running(self) -> contextlib.AbstractContextManager[None]:
        """The flow's environment variables applied (for a line, an aggregation, a build)."""
        from pytest_llmgate.promptflow.provider import activate

        env = self.environment()

        @contextlib.contextmanager
        def scope() -> Iterator[None]:
            from pytest_llmgate.promptflow.observe import in_flow
            from pytest_llmgate.promptflow.provider import _current

            token = activate(self.connections())
            observed = in_flow.set(True)
            try:
                with applied_environment(env):
                    yield
            finally:
                in_flow.reset(observed)
                _current.reset(token)

        return scope()

    def executor(
        self, variants: Mapping[str, str] | None = None, init: Mapping[str, Any] | None = None
    ) -> Any:
        key = repr((sorted((variants or {}).items()), sorted((init or {}).items(), key=str)))
        with self._lock:
            found = self._executors.get(key)
            if found is None:
                found = self._executors[key] = self._create(variants or {}, init or {})
        return found

    def _create(self, variants: Mapping[str, str], init: Mapping[str, Any]) -> Any:
        prepare_environment()  # before promptflow's first import: it reads these at import time
        require_promptflow()
        with warnings.catch_warnings():  # import-time deprecation noise of promptflow's deps
            warnings.simplefilter("ignore")
            from promptflow.executor import FlowExecutor

            from pytest_llmgate.promptflow.environment import disable_telemetry
            from pytest_llmgate.promptflow.llm_tools import register
            from pytest_llmgate.promptflow.observe import install

            disable_telemetry()
            register()
            install()
        try:
            with self.running():
                return self._create_executor(FlowExecutor, variants, init)
        finally:
            quiet_loggers()

    def _create_executor(
        self, FlowExecutor: Any, variants: Mapping[str, str], init: Mapping[str, Any]
    ) -> Any:

        name, working_dir = Path(self.flow.path.name), self.flow.working_dir
        try:
            if self.flow.kind == "dag":
                if init:
                    raise ValueError("init arguments are for flex flows only")
                return FlowExecutor._create_from_flow(
                    flow=self._dag_with(variants),
                    connections=self.connections(),
                    working_dir=working_dir,
                    flow_file=name,
                    raise_ex=False,
                    line_timeout_sec=self.line_timeout_s,
                )
            if variants:
                raise ValueError("node variants are for DAG flows only")
            return FlowExecutor.create(
                name,
                self.connections(),
                working_dir=working_dir,
                raise_ex=False,
                init_kwargs=dict(init) or None,
                env_exporter_setup=False,
            )
        except Exception as exc:
            failure = _connection_failure(exc)
            if failure is not None:
                raise ConnectionError_(str(failure)) from None
            if isinstance(exc, (ValueError, LookupError)):
                raise
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{self.flow.path}: {text}") from None

    def _dag_with(self, variants: Mapping[str, str]) -> Any:
        """The DAG with the selected node variants as defaults, as `pf run --variant` does."""
        from promptflow.contracts.flow import Flow

        declared = self.flow.node_variants
        for node, variant in variants.items():
            if node not in declared:
                known = ", ".join(sorted(declared)) or "none"
                raise ValueError(f"node {node!r} has no variants (nodes with variants: {known})")
            if variant not in declared[node][1]:
                raise ValueError(
                    f"node {node!r} has no variant {variant!r} "
                    f"(variants: {', '.join(declared[node][1])})"
                )
        flow = Flow.from_yaml(Path(self.flow.path.name), working_dir=self.flow.working_dir)
        for node, variant in variants.items():
            flow.node_variants[node].default_variant_id = variant
        return flow

    def input_names(self, executor: Any) -> dict[str, bool]:
        """Flow input -> has a default."""
        definition = executor.get_inputs_definition() or {}
        return {
            name: getattr(d, "default", None) is not None for name, d in definition.items()
        }

    def inputs_for(
        self,
        executor: Any,
        mapping: Mapping[str, Any] | None,
        sources: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        """Prompt Flow's column mapping for one line (`sources`: data, run.outputs, run.inputs)."""
        from promptflow._utils.inputs_mapping_utils import apply_inputs_mapping

        names = self.input_names(executor)
        complete = {name: f"${{data.{name}}}" for name, has_default in names.items()
                    if not has_default}
        complete.update({k: v for k, v in (mapping or {}).items() if k in names})
        data = sources.get("data") or {}
        # an unmapped input whose column is absent is left to the flow (its default or an error
        # naming the input), as the batch engine's default mapping does
        for name in list(complete):
            if (mapping is None or name not in mapping) and name not in data:
                del complete[name]
        return dict(apply_inputs_mapping(dict(sources), complete))

    async def run_line(
        self, executor: Any, inputs: Mapping[str, Any], index: int | None = None
    ) -> LineOutcome:
        with self.running():
            result = await executor.exec_line_async(dict(inputs), index=index)
        run_info = result.run_info
        self._forget(executor, run_info)
        status = str(getattr(run_info.status, "value", run_info.status))
        if status != "Completed":
            raise FlowLineError(_error_text(run_info))
        output = result.output
        if dataclasses.is_dataclass(output) and not isinstance(output, type):
            output = dataclasses.asdict(output)  # a flex entry's dataclass: its fields, as pf does
        if isinstance(output, Mapping):
            output = {k: v for k, v in output.items() if k != LINE_NUMBER_KEY}
        return LineOutcome(
            output,
            dict(inputs),
            dict(result.aggregation_inputs or {}),
            dict(getattr(run_info, "system_metrics", None) or {}),
        )

    @staticmethod
    def _forget(executor: Any, run_info: Any) -> None:
        """Drop the line's run records: the tracker would otherwise keep every line of the run."""
        tracker = getattr(executor, "_run_tracker", None)
        run_id = getattr(run_info, "run_id", None)
        if tracker is None or run_id is None:
            return
        try:
            for node_run in tracker.collect_child_node_runs(run_id):
                tracker._node_runs.pop(node_run.run_id, None)
            tracker._flow_runs.pop(run_id, None)
        except Exception:  # private structures: a change there must not fail a run
            pass

    def aggregate(
        self,
        executor: Any,
        inputs: Mapping[str, list[Any]],
        aggregation_inputs: Mapping[str, list[Any]],
    ) -> dict[str, Any]:
        """Run the aggregation node(s) over the completed lines; the metrics they log."""
        has_aggregation = getattr(executor, "has_aggregation_node", False)
        if callable(has_aggregation):
            has_aggregation = has_aggregation()
        if not has_aggregation:
            return {}
        with self.running():
            result = executor.exec_aggregation(dict(inputs), dict(aggregation_inputs))
        failed = [
            f"{name}: {_error_text(info)}"
            for name, info in (getattr(result, "node_run_infos", None) or {}).items()
            if str(getattr(info.status, "value", info.status)) not in ("Completed", "Bypassed")
        ]
        if failed:
            raise FlowLineError(f"aggregation failed: {failed[0]}")
        return dict(result.metrics or {})
