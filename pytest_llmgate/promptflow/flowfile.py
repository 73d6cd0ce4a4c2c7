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
    "FlowFile",
    "locate_flow",
    "node_variant_items",
    "parse_variant_spec",
]

FLOW_FILES = ("flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml")


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


def node_variant_items(flow: FlowFile) -> dict[str, dict[str, Any]]:
    """Prompt Flow's `--variant ${node.variant_id}`, once per (node, variant): one gate variant
    each, named `node.variant_id`, the other nodes at their defaults. A flow without node
    variants has the single variant `default`."""
    items: dict[str, dict[str, Any]] = {}
    for node, (_default, ids) in flow.node_variants.items():
        for variant in ids:
            items[f"{node}.{variant}"] = {node: variant}
    return items or {"default": {}}
