"""Prompt Flow subjects: a DAG flow (`flow.dag.yaml`), a flex flow (`flow.flex.yaml`, function or
class entry), given by directory or file, run in process one row at a time.

    subjects:
      classify:
        path: ../flows/web_classification          # type: flow is inferred from a non-.prompty path
        inputs: {url: "${data.url}"}              # optional; else Prompt Flow's default mapping
        connections:                              # optional; see promptflow/connections.py
          aoai: {connection_type: AzureOpenAIConnection, api_base: "${AOAI_API_BASE}",
                 api_key: "${AOAI_API_KEY}", api_version: "2024-10-21"}
        init: {model_config: ...}                 # flex flows with a class entry: __init__ kwargs
        variants:                                 # optional: default = one per (node, variant)
          summarize_v1: {summarize_text_content: variant_1}
          both_v1: {summarize_text_content: variant_1, classify_with_llm: variant_1}

Variants: for a DAG flow, a variant maps node names to variant ids (or is `variant:
"${node.variant_id}"`, the pf CLI's syntax); without `variants:` the suite loader gives one variant
per (node, variant id) named `node.variant_id`, other nodes at their defaults. For a flex flow a
variant's keys are init arguments (merged over `init:`). A `.prompty` path is a `prompty` subject
(`subjects/prompt.py`), already on the gate's model client.

The output is the flow's outputs dict (evaluators read `${output.category}`, alias
`${run.outputs.category}`); a flex flow's output is what its entry returns. LLM nodes call the
gate's model client (cache, retries, cost); calls a flex flow's own code makes are counted from
Prompt Flow's token metrics when it reports them, without cache or retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_llmgate.config.mapping import data_columns
from pytest_llmgate.promptflow.flowfile import FlowFile, locate_flow, parse_variant_spec
from pytest_llmgate.subjects.base import SubjectBase, SubjectSpec

__all__ = ["FlowSubject", "build_flow_subject", "flow_path_of"]


def flow_path_of(raw: Mapping[str, Any], suite_dir: Path, rootdir: Path) -> Path:
    text = str(raw.get("path") or raw.get("flow") or "")
    if not text:
        raise ValueError("a flow subject needs path: <flow directory or flow.dag.yaml>")
    path = Path(text)
    if path.is_absolute():
        return path
    for base in (suite_dir, rootdir):
        if (base / path).exists():
            return (base / path).resolve()
    raise ValueError(f"flow not found: {text}")


class FlowSubject(SubjectBase):
    """A Prompt Flow flow on the gate's engine."""

    own_connections = True  # its connections are checked by `unavailable_reason`

    def __init__(self, spec: SubjectSpec, flow: FlowFile | None = None) -> None:
        from pytest_llmgate.promptflow.executor import FlowRunner

        self.spec = spec
        self.flow = flow or locate_flow(flow_path_of(spec.raw, spec.suite_dir, spec.rootdir))
        run = self.flow.run_config  # run.yml next to the flow: the suite's keys win over it
        self.mapping = dict(spec.raw.get("inputs") or run.get("column_mapping") or {})
        self.init = {**(run.get("init") or {}), **(spec.raw.get("init") or {})}
        self.declared = dict(spec.raw.get("connections") or {})
        self.needs_model = bool(
            self.flow.llm_nodes or self.flow.connection_refs or self.flow.kind == "flex"
        )
        self._selection: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
        for variant, params in spec.variants.items():
            self._selection[variant] = self._select(variant, dict(params or {}))
        env = spec.raw.get("environment_variables") or {}
        if not isinstance(env, Mapping):
            raise ValueError("environment_variables: expected a mapping")
        self.runner = FlowRunner(
            self.flow,
            self._connections,
            line_timeout_s=None,
            environment_variables={str(k): str(v) for k, v in env.items()},
        )

    def _select(
        self, variant: str, params: dict[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        if self.flow.kind == "flex":
            return {}, {**self.init, **params}
        chosen: dict[str, str] = {}
        for key, value in params.items():
            chosen.update(parse_variant_spec(value) if key == "variant" else {key: str(value)})
        declared = self.flow.node_variants
        for node, variant_id in chosen.items():
            if node not in declared or variant_id not in declared[node][1]:
                ids = ", ".join(f"{n}.{v}" for n, (_, vs) in declared.items() for v in vs)
                raise ValueError(
                    f"variant {variant!r}: no node variant {node}.{variant_id} in "
                    f"{self.flow.path.name} (declared: {ids or 'none'})"
                )
        return chosen, {}

    def _connections(self) -> Any:
        from pytest_llmgate.promptflow.connections import ConnectionSource

        return ConnectionSource(
            self.declared,
            rootdir=self.spec.rootdir,
            suite_models=self.spec.models,
            source=str(self.spec.suite_dir),
        )

    # --- Subject protocol ---------------------------------------------------------------------
    def describe(self, variant: str) -> dict[str, Any]:
        nodes, init = self._selection[variant]
        try:
            shown = self.flow.path.relative_to(self.spec.rootdir.resolve()).as_posix()
        except ValueError:
            shown = str(self.flow.path)
        out: dict[str, Any] = {"type": "flow", "flow": shown, "kind": self.flow.kind}
        if self.flow.kind == "dag":
            defaults = {n: d for n, (d, _) in self.flow.node_variants.items()}
            out["node_variants"] = {**defaults, **nodes}
        if init:
            out["init"] = {k: v if isinstance(v, (str, int, float, bool)) else repr(v)
                           for k, v in init.items()}
        return out

    def input_columns(self) -> set[str] | None:
        if self.mapping:
            return {column for _, column in data_columns(self.mapping)}
        return None

    async def executor(self, variant: str) -> Any:
        nodes, init = self._selection[variant]
        loop = asyncio.get_running_loop()
        # the first call imports promptflow and resolves tools: keep that off the event loop
        return await loop.run_in_executor(None, self.runner.executor, nodes, init)

    async def prepare(self, variant: str) -> None:
        """Build the executor before rows are timed: the first build imports promptflow
        (seconds), which would otherwise land in the first row's latency."""
        await self.executor(variant)

    def unavailable_reason(self) -> str | None:
        """Never a skip: a connection the flow asks for that cannot be built is an item error
        naming the connection and the variables to set (a skipped gate would pass in CI).

        Building the executors here resolves every connection the flow asks for (nodes, node
        inputs, init); other build failures are left to the rows, which report them."""
        from pytest_llmgate.errors import GateError
        from pytest_llmgate.promptflow.connections import ConnectionError_

        for nodes, init in self._selection.values():
            try:
                self.runner.executor(nodes, init)
            except ConnectionError_ as exc:
                raise GateError(f"{self.flow.path.name}: {exc}") from None
            except Exception:
                continue
        return None

    async def run(self, data: Mapping[str, Any], variant: str) -> tuple[dict[str, Any], Any]:
        from pytest_llmgate.results.usage import CallRecord, current_ledger, record_call

        executor = await self.executor(variant)
        inputs = self.runner.inputs_for(executor, self.mapping or None, {"data": dict(data)})
        outcome = await self.runner.run_line(executor, inputs)
        ledger = current_ledger.get()
        tokens = outcome.system_metrics
        if ledger is not None and not ledger.calls and tokens.get("total_tokens"):
            # the flow's own code called a model (not through the gate's client)
            record_call(
                CallRecord(
                    role="subject",
                    model=f"flow:{self.flow.path.parent.name}",
                    prompt_tokens=int(tokens.get("prompt_tokens") or 0),
                    completion_tokens=int(tokens.get("completion_tokens") or 0),
                )
            )
        return outcome.inputs, outcome.output


def build_flow_subject(spec: SubjectSpec) -> FlowSubject:
    """The adapter for `type: flow` subjects (a flow directory, flow.dag.yaml or flow.flex.yaml)."""
    from pytest_llmgate.promptflow.environment import check_installed

    path = flow_path_of(spec.raw, spec.suite_dir, spec.rootdir)
    flow = locate_flow(path)
    if flow.kind != "prompty":
        check_installed()
    if flow.kind == "prompty":
        raise ValueError(
            f"{path.name} is a .prompty file: use type: prompty (or omit type:) for it"
        )
    return FlowSubject(spec, flow)
