"""Reading Prompt Flow files without importing promptflow: where a flow is, what kind it is, and
which node variants it declares.

Collection uses this (node variants become item ids before anything runs), so it must stay cheap:
a YAML read, never `import promptflow` (about 2-4 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_FILES",
    "FlowFile",
    "locate_flow",
    "node_variant_items",
    "parse_variant_spec",
]

FLOW_FILES = ("flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml")
RUN_FILES = ("run.yml", "run.yaml")


@dataclass(frozen=True)
class FlowFile:
    """A located flow: `kind` is `dag`, `flex` or `prompty`."""

    path: Path  # the flow file
    kind: str
    data: Mapping[str, Any]

    @property
    def working_dir(self) -> Path:
        return self.path.parent

    @property
    def node_variants(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """node -> (default variant id, all variant ids) for DAG flows."""
        found: dict[str, tuple[str, tuple[str, ...]]] = {}
        for node, spec in (self.data.get("node_variants") or {}).items():
            if not isinstance(spec, Mapping):
                continue
            ids = tuple(str(v) for v in (spec.get("variants") or {}))
            default = str(spec.get("default_variant_id") or (ids[0] if ids else ""))
            found[str(node)] = (default, ids)
        return found

    @property
    def environment_variables(self) -> dict[str, str]:
        """The flow's `environment_variables:` as written (`${conn.field}` resolves at run)."""
        found = self.data.get("environment_variables") or {}
        if not isinstance(found, Mapping):
            raise ValueError(f"{self.path}: environment_variables: expected a mapping")
        return {str(k): "" if v is None else str(v) for k, v in found.items()}

    @property
    def run_config(self) -> Mapping[str, Any]:
        """`run.yml` next to the flow, when its `flow:` is this flow (`pf run create --file`)."""
        cached = self.__dict__.get("_run_config")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        found: Mapping[str, Any] = {}
        if self.kind != "prompty":
            for name in RUN_FILES:
                candidate = self.working_dir / name
                if not candidate.is_file():
                    continue
                data = _load(candidate)
                target = (self.working_dir / str(data.get("flow") or ".")).resolve()
                if target in (self.working_dir.resolve(), self.path):
                    found = {**data, "__file__": str(candidate)}
                break
        object.__setattr__(self, "_run_config", found)
        return found

    @property
    def connection_refs(self) -> list[str]:
        """Connection names the flow file names (node `connection:`, node inputs called
        `connection`, flex `init`'s `model_config.connection`): a cheap, partial scan used to
        know that the flow needs a model before anything is imported."""
        names: list[str] = []
        nodes = [n for n in self.data.get("nodes") or [] if isinstance(n, Mapping)]
        for spec in (self.data.get("node_variants") or {}).values():
            for variant in ((spec or {}).get("variants") or {}).values():
                nodes.append((variant or {}).get("node") or {})
        for node in nodes:
            if node.get("connection"):
                names.append(str(node["connection"]))
            for key, value in (node.get("inputs") or {}).items():
                if "connection" in str(key) and isinstance(value, str) and "${" not in value:
                    names.append(value)
        sample = self.data.get("sample")
        init: dict[str, Any] = {}
        if self.kind == "flex":
            if isinstance(sample, Mapping) and isinstance(sample.get("init"), Mapping):
                init.update(sample["init"])
            if isinstance(self.run_config.get("init"), Mapping):
                init.update(self.run_config["init"])
        for value in init.values():
            if isinstance(value, Mapping) and isinstance(value.get("connection"), str):
                names.append(str(value["connection"]))
        return list(dict.fromkeys(names))

    @property
    def llm_nodes(self) -> list[str]:
        names = [
            str(n.get("name"))
            for n in self.data.get("nodes") or []
            if isinstance(n, Mapping) and n.get("type") == "llm"
        ]
        for node, spec in (self.data.get("node_variants") or {}).items():
            for variant in (spec.get("variants") or {}).values():
                if ((variant or {}).get("node") or {}).get("type") == "llm":
                    names.append(str(node))
                    break
        return names


def _load(path: Path) -> Mapping[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the flow: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a flow file must be a YAML mapping")
    return data


def locate_flow(path: Path) -> FlowFile:
    """A flow directory (with flow.dag.yaml or flow.flex.yaml), a flow YAML file, or a .prompty."""
    if path.is_dir():
        for name in FLOW_FILES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise ValueError(f"{path}: no flow.dag.yaml or flow.flex.yaml in this directory")
    if not path.is_file():
        raise ValueError(f"flow not found: {path}")
    if path.suffix == ".prompty":
        return FlowFile(path.resolve(), "prompty", {})
    data = _load(path)
    kind = "flex" if "entry" in data else "dag"
    if kind == "dag" and "nodes" not in data:
        raise ValueError(f"{path}: not a Prompt Flow flow (no nodes: or entry:)")
    return FlowFile(path.resolve(), kind, data)


def parse_variant_spec(value: Any) -> dict[str, str]:
    """`${node.variant_id}` (the pf CLI's --variant syntax) or {node: variant_id} -> mapping."""
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("${") and text.endswith("}") and "." in text):
            raise ValueError(f"expected '${{node.variant_id}}', got {value!r}")
        node, _, variant = text[2:-1].partition(".")
        return {node.strip(): variant.strip()}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    raise ValueError(f"expected '${{node.variant_id}}' or a mapping, got {value!r}")


def node_variant_items(flow: FlowFile, honour_run: bool = True) -> dict[str, dict[str, Any]]:
    """Prompt Flow's `--variant ${node.variant_id}`, once per (node, variant): one gate variant
    each, named `node.variant_id`, the other nodes at their defaults. A flow without node
    variants has the single variant `default`. A `run.yml` next to the flow that picks a
    `variant:` runs that one only, as `pf run create --file run.yml` does."""
    chosen = flow.run_config.get("variant") if honour_run else None
    if chosen:
        try:
            picked = parse_variant_spec(chosen)
        except ValueError as exc:
            raise ValueError(f"{flow.run_config['__file__']}: variant: {exc}") from None
        node, variant_id = next(iter(picked.items()))
        if node not in flow.node_variants or variant_id not in flow.node_variants[node][1]:
            raise ValueError(
                f"{flow.run_config['__file__']}: variant: no node variant {node}.{variant_id}"
            )
        return {f"{node}.{variant_id}": picked}
    items: dict[str, dict[str, Any]] = {}
    for node, (_default, ids) in flow.node_variants.items():
        for variant in ids:
            items[f"{node}.{variant}"] = {node: variant}
    return items or {"default": {}}
