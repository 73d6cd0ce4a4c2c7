"""GenAIOps / LLMOps Prompt Flow template `experiment.yaml` files, collected as suites.

`pytest path/to/experiment.yaml --llm-gate` runs a use case as the template's
`llmops.common.prompt_pipeline` + `prompt_eval` would, locally and gated:

- `flow:` (default: `name:`) is `<dir>/<flow>` when it holds a flow file, else `<dir>/flows/<flow>`;
  every node variant becomes a gate variant (`node.variant_id`), others at their defaults;
- `datasets:` (`name`, `source`, `mappings`): one item per (variant, dataset); `source` is relative
  to the experiment's directory or its `data/` folder (`azureml:` sources are refused: offline);
- `evaluators:` (`name`, `flow`, `datasets: [{name, reference, source, mappings}]`): evaluation
  flows run on the outputs of the dataset they reference, their data joined row by row;
- `connections:` build the flow's connections from `${VAR}` placeholders;
- `--llm-gate-env pr` applies `experiment.pr.yaml` as the template does: its `datasets`,
  `evaluators`, `connections` and `runtime` blocks replace the base's whole (an empty
  `evaluators:` means no evaluation); `name` and `flow` stay the base's, so item ids do not change.

experiment.yaml has no thresholds: the project's `thresholds.yaml` gates the items (metric names are
the evaluation flows' outputs and logged metrics).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmgate.config.datasets import DatasetSpec
from pytest_llmgate.evaluators.base import BoundEvaluator, signature_of
from pytest_llmgate.promptflow.flowfile import FLOW_FILES, locate_flow, node_variant_items
from pytest_llmgate.util.yamlio import Located, load_yaml

if TYPE_CHECKING:
    from pytest_llmgate.suite.loader import SuiteLoader
    from pytest_llmgate.suite.model import Suite

__all__ = ["load_experiment", "overlay_path"]

EVALUATION_FLOW = "pytest_llmgate.promptflow.evaluation:EvaluationFlow"


def overlay_path(path: Path, env: str) -> Path:
    """`experiment.yaml` + `pr` -> `experiment.pr.yaml` (the template's naming)."""
    return path.with_name(f"{path.stem}.{env}{path.suffix}")


def _flow_dir(base: Path, flow: str) -> Path:
    direct = base / flow
    if direct.is_file() or any((direct / name).is_file() for name in FLOW_FILES):
        return direct.resolve()
    return (base / "flows" / flow).resolve()


OVERLAY_BLOCKS = ("datasets", "evaluators", "connections", "runtime")


def _blocks(doc: Located, overlay: Located | None) -> dict[str, tuple[Any, Located]]:
    """Top-level blocks with the document each came from. As in the GenAIOps template, an overlay
    replaces only `datasets`, `evaluators`, `connections` and `runtime` (each whole): the name and
    the flow stay the base's, so item ids, and baselines, line up between environments."""
    blocks = {str(k): (v, doc) for k, v in doc.data.items()}
    if overlay is not None:
        for key, value in overlay.data.items():
            if str(key) in OVERLAY_BLOCKS:
                blocks[str(key)] = (value, overlay)
    return blocks


def _source(doc: Located, key: tuple[str | int, ...], base: Path, source: Any) -> Path:
    if not isinstance(source, str) or not source:
        raise doc.error(key, "source: expected a file path")
    if source.startswith("azureml:"):
        raise doc.error(
            key, f"{source}: Azure ML data assets cannot be read offline; give a local source "
            "(an environment overlay such as experiment.pr.yaml can)"
        )
    for candidate in (base / source, base / "data" / source):
        if candidate.is_file():
            return candidate.resolve()
    raise doc.error(key, f"file not found: {source} (looked in {base} and {base / 'data'})")


def _require(doc: Located, key: tuple[str | int, ...], entry: Any, fields: tuple[str, ...]) -> None:
    if not isinstance(entry, Mapping):
        raise doc.error(key, "expected a mapping")
    for name in fields:
        if name not in entry:
            raise doc.error(key, f"missing {name}:")


def load_experiment(loader: SuiteLoader, path: Path, env: str | None = None) -> Suite:
    """An experiment (plus its `env` overlay) as a `Suite` of flow subjects and flow evaluators."""
    from pytest_llmgate.evaluators.base import EvaluatorEntry
    from pytest_llmgate.subjects.base import SubjectSpec
    from pytest_llmgate.suite.model import Suite

    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "expected a mapping (an experiment.yaml)")
    overlay = None
    if env:
        overlay_file = overlay_path(path, env)
        if overlay_file.is_file():
            overlay = load_yaml(overlay_file)
            if not isinstance(overlay.data, dict):
                raise overlay.error((), "expected a mapping (an experiment overlay)")
    blocks = _blocks(doc, overlay)
    base = path.parent
    name_value, name_doc = blocks.get("name", (None, doc))
    if not isinstance(name_value, str) or not name_value:
        raise name_doc.error(("name",), "an experiment needs name:")
    flow_value, flow_doc = blocks.get("flow", (name_value, doc))
    flow_dir = _flow_dir(base, str(flow_value or name_value))
    try:
        flow = locate_flow(flow_dir)
    except ValueError as exc:
        raise flow_doc.error(("flow",), str(exc)) from None

    connections: dict[str, Any] = {}
    raw_connections, conn_doc = blocks.get("connections", ([], doc))
    for index, entry in enumerate(raw_connections or []):
        _require(conn_doc, ("connections", index), entry, ("name",))
        connections[str(entry["name"])] = dict(entry)

    raw_datasets, ds_doc = blocks.get("datasets", ([], doc))
    datasets: dict[str, DatasetSpec] = {}
    mappings: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(raw_datasets or []):
        key = ("datasets", index)
        _require(ds_doc, key, entry, ("name", "source"))
        if "reference" in entry:
            raise ds_doc.error(key, "reference: belongs to evaluators' datasets")
        ds_name = str(entry["name"])
        datasets[ds_name] = DatasetSpec(
            name=ds_name, path=_source(ds_doc, (*key, "source"), base, entry["source"])
        )
        mappings[ds_name] = dict(entry.get("mappings") or {})

    raw_evaluators, ev_doc = blocks.get("evaluators", ([], doc))
    entries: list[EvaluatorEntry] = []
    bound: dict[str, BoundEvaluator] = {}
    by_dataset: dict[str, list[str]] = {name: [] for name in datasets}
    for index, entry in enumerate(raw_evaluators or []):
        key = ("evaluators", index)
        _require(ev_doc, key, entry, ("name", "datasets"))
        ev_flow = _flow_dir(base, str(entry.get("flow") or entry["name"]))
        eval_sets = entry.get("datasets") or []
        for ds_index, eval_ds in enumerate(eval_sets):
            ds_key = (*key, "datasets", ds_index)
            _require(ev_doc, ds_key, eval_ds, ("name",))
            ds_name = str(eval_ds["name"])
            eval_rows = None
            reference_rows = None
            if ds_name in datasets:
                reference = ds_name
            elif ev_doc is not ds_doc and str(eval_ds.get("reference", ds_name)) not in datasets:
                continue  # an overlay replaced the datasets: this evaluation has no data here
            else:
                _require(ev_doc, ds_key, eval_ds, ("name", "source", "reference"))
                reference = str(eval_ds["reference"])
                if reference not in datasets:
                    raise ev_doc.error(
                        (*ds_key, "reference"), f"referenced dataset {reference!r} not defined "
                        f"(datasets: {', '.join(datasets) or 'none'})"
                    )
                eval_spec = DatasetSpec(
                    name=ds_name, path=_source(ev_doc, (*ds_key, "source"), base, eval_ds["source"])
                )
                eval_rows = [row.data for row in loader.dataset(eval_spec).rows]
                reference_rows = [row.data for row in loader.dataset(datasets[reference]).rows]
            entry_name = str(entry["name"]) if len(eval_sets) == 1 else f"{entry['name']}.{ds_name}"
            ev_mapping = dict(eval_ds.get("mappings") or {})
            from pytest_llmgate.promptflow.evaluation import EvaluationFlow

            inputs = dict(EvaluationFlow.default_inputs)

            try:
                instance = EvaluationFlow(
                    str(ev_flow),
                    ev_mapping,
                    name=str(entry["name"]),
                    connections=connections,
                    eval_rows=eval_rows,
                    reference_rows=reference_rows,
                )
            except ValueError as exc:
                raise ev_doc.error((*key, "flow"), str(exc)) from None
            shown = {"path": _shown(ev_flow, loader.rootdir), "mapping": ev_mapping}
            if eval_rows is not None:
                shown["data"] = _shown(Path(str(eval_ds["source"])), Path())
            entries.append(
                EvaluatorEntry(name=entry_name, use=EVALUATION_FLOW, args=shown, inputs=inputs,
                               prefix="", key=ds_key)
            )
            bound[entry_name] = BoundEvaluator(
                name=entry_name,
                use=EVALUATION_FLOW,
                args=shown,
                fn=instance,
                signature=signature_of(instance),
                inputs=inputs,
                needs_model=instance.needs_model,
            )
            by_dataset[reference].append(entry_name)

    variants = node_variant_items(flow, honour_run=False) if flow.kind == "dag" else {
        "default": {}
    }
    groups: dict[str, list[str]] = {}
    for ds_name in datasets:
        signature = repr((sorted(mappings[ds_name].items()), by_dataset[ds_name]))
        groups.setdefault(signature, []).append(ds_name)
    subjects: dict[str, SubjectSpec] = {}
    for members in groups.values():
        subject_name = name_value if len(groups) == 1 else f"{name_value}.{members[0]}"
        subjects[subject_name] = SubjectSpec(
            name=subject_name,
            type="flow",
            raw={"path": str(flow.path), "inputs": mappings[members[0]],
                 "connections": connections},
            variants=variants,
            datasets=tuple(members),
            evaluators=tuple(by_dataset[members[0]]),
            suite_dir=base,
            rootdir=loader.rootdir,
            search_paths=(loader.rootdir, base),
            line=doc.line(("flow",)) or doc.line(("name",)),
        )
    suite = Suite(
        path=path,
        name=name_value,
        doc=doc,
        rootdir=loader.rootdir,
        datasets=datasets,
        subjects=subjects,
        evaluator_entries=entries,
        thresholds=None,
        concurrency=None,
        timeout=None,
        search_paths=(loader.rootdir, base),
    )
    suite._evaluators.update(bound)
    return suite


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
