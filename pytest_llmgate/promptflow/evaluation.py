"""Prompt Flow evaluation flows as gate evaluators.

    evaluators:
      - name: accuracy
        use: pytest_llmgate.promptflow:EvaluationFlow
        args:
          path: flows/evaluation                   # relative to the rootdir (or absolute)
          mapping: {groundtruth: "${data.answer}", prediction: "${run.outputs.category}"}
        inputs: {row: "${data}", outputs: "${output}"}   # hands the whole row and output over

Each row runs the flow's line nodes once: numeric (and bool) outputs become row metrics, other
outputs row details; a failed line is an error row (counted and gated, never dropped). The
aggregation node(s) run once per item over the completed lines, with `log_metric` values returned
by `aggregate()` as item metrics (see `evaluators.base.item_level_metrics`).

Mapping follows Prompt Flow's batch rules exactly (`FlowRunner.inputs_for`): `${data.col}`,
`${run.outputs.field}` (the subject's output), literals; flow inputs without a default fall back to
the same-named column; inputs with a default never do; mapping keys that are not flow inputs are
ignored. An experiment's evaluation dataset with its own `source` (joined with the referenced
dataset row by row, as Prompt Flow joins runs by line number) is read through `eval_rows`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmgate.promptflow.flowfile import locate_flow

__all__ = ["LINE_DETAIL", "EvaluationFlow"]

LINE_DETAIL = "promptflow_line"  # row detail carrying what the aggregation node needs


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


class EvaluationFlow:
    """An evaluation flow (DAG or flex) called per row, aggregated per item."""

    needs_model = False
    version = "1"
    default_inputs: Mapping[str, str] = {"row": "${data}", "outputs": "${output}"}

    def __init__(
        self,
        path: str,
        mapping: Mapping[str, Any] | None = None,
        name: str | None = None,
        connections: Mapping[str, Any] | None = None,
        base_dir: str | None = None,
        eval_rows: Sequence[Mapping[str, Any]] | None = None,
        reference_rows: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        from pytest_llmgate.promptflow.environment import check_installed
        from pytest_llmgate.promptflow.executor import FlowRunner

        check_installed()
        flow_path = Path(path)
        if not flow_path.is_absolute():
            flow_path = (Path(base_dir) if base_dir else Path.cwd()) / flow_path
        self.flow = locate_flow(flow_path)
        if self.flow.kind == "prompty":
            raise ValueError(f"{path}: a .prompty is a judge, not an evaluation flow")
        run = self.flow.run_config
        if mapping is None and run.get("column_mapping"):
            mapping = run["column_mapping"]
        self.mapping = dict(mapping) if mapping is not None else None
        self.name = name or self.flow.working_dir.name
        self.declared = dict(connections or {})
        self.base_dir = Path(base_dir) if base_dir else Path.cwd()
        self.needs_model = bool(self.flow.llm_nodes or self.flow.connection_refs)
        self.init = dict(run.get("init") or {})
        self.runner = FlowRunner(self.flow, self._connections)
        self.has_aggregation = any(
            isinstance(n, Mapping) and n.get("aggregation")
            for n in self.flow.data.get("nodes") or []
        ) or bool(self.flow.data.get("aggregation"))
        # evaluation data joined with the referenced dataset by position (Prompt Flow joins by line)
        self._eval_rows = list(eval_rows) if eval_rows is not None else None
        self._position = {id(r): i for i, r in enumerate(reference_rows or ())}

    def _connections(self) -> Any:
        from pytest_llmgate.promptflow.connections import ConnectionSource

        return ConnectionSource(self.declared, rootdir=self.base_dir)

    def _executor(self) -> Any:
        from pytest_llmgate.promptflow.connections import ConnectionError_

        try:
            return self.runner.executor(None, self.init if self.flow.kind == "flex" else None)
        except ConnectionError_ as exc:
            raise ConnectionError_(f"evaluation flow {self.name}: {exc}") from None

    def _data_for(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        if self._eval_rows is None:
            return row
        index = self._position.get(id(row))
        if index is None or index >= len(self._eval_rows):
            raise LookupError(
                f"no evaluation data row for this row (evaluation data has "
                f"{len(self._eval_rows)} rows; Prompt Flow joins them by line number)"
            )
        return self._eval_rows[index]

    async def __call__(
        self,
        *,
        row: Mapping[str, Any],
        outputs: Any = None,
        run_inputs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        executor = await loop.run_in_executor(None, self._executor)
        run_outputs = outputs if isinstance(outputs, Mapping) else {"output": outputs}
        sources = {
            "data": dict(self._data_for(row)),
            "run.outputs": dict(run_outputs),
            "run.inputs": dict(run_inputs or {}),
        }
        inputs = self.runner.inputs_for(executor, self.mapping, sources)
        outcome = await self.runner.run_line(executor, inputs)
        result: dict[str, Any] = {}
        produced = outcome.output
        if not isinstance(produced, Mapping):
            produced = {"score": produced}
        numeric = False
        for key, value in produced.items():
            number = _number(value)
            numeric = numeric or number is not None
            result[str(key)] = number if number is not None else value
        if not numeric:
            result[f"{self.name}_lines"] = 1.0  # the line completed; its outputs are details
        if self.has_aggregation:
            result[LINE_DETAIL] = {
                "inputs": outcome.inputs,
                "aggregation_inputs": outcome.aggregation_inputs,
            }
        return result

    def aggregate(self, rows: Sequence[Any], prefix: str = "") -> dict[str, float]:
        """Run the aggregation node(s) over the rows whose line completed; their logged metrics.

        `rows` are `RowResult`s (anything with a `details` mapping). Non-numeric logged values are
        dropped: a gate threshold needs a number.
        """
        if not self.has_aggregation:
            return {}
        lines = [r.details[prefix + LINE_DETAIL] for r in rows
                 if isinstance(r.details.get(prefix + LINE_DETAIL), Mapping)]
        if not lines:
            return {}
        inputs: dict[str, list[Any]] = {}
        aggregation_inputs: dict[str, list[Any]] = {}
        for line in lines:
            for key, value in line["inputs"].items():
                inputs.setdefault(key, []).append(value)
            for key, value in line["aggregation_inputs"].items():
                aggregation_inputs.setdefault(key, []).append(value)
        executor = self._executor()
        logged = self.runner.aggregate(executor, inputs, aggregation_inputs)
        out: dict[str, float] = {}
        for key, value in logged.items():
            number = _number(value)
            if number is not None:
                out[prefix + str(key)] = number
        return out
