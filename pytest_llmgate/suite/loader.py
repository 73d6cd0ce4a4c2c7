"""Suite files: `suites/*.yaml` (any .yaml/.yml) whose top level has a `suite:` key.

Loading checks everything that can be checked before a model is called: schema, dataset files and
their columns, subject imports and variant parameters, evaluator names and input mappings, and the
suite's own thresholds. Every problem is one `file:line: field: problem` line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_llmgate.config.datasets import Dataset, DatasetSpec, load_dataset
from pytest_llmgate.config.mapping import MappingError, parse_references
from pytest_llmgate.config.schema import validate_located
from pytest_llmgate.config.thresholds import thresholds_from
from pytest_llmgate.evaluators.base import EvaluatorEntry
from pytest_llmgate.evaluators.binding import source_of
from pytest_llmgate.subjects.base import SubjectSpec
from pytest_llmgate.suite.model import Suite
from pytest_llmgate.util.yamlio import Located, load_yaml

__all__ = ["Suite", "SuiteLoader", "is_suite_file"]

_SUITE_KEY = re.compile(r"^suite\s*:", re.MULTILINE)
DEFAULT_VARIANT = "default"


def is_suite_file(path: Path) -> bool:
    """Cheap test used at collection: a YAML file with a top-level `suite:` key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    if not path.is_file():  # a FIFO would block the reads below; a directory is no suite
        return False
    from pytest_llmgate.promptflow.environment import is_experiment_file

    if is_experiment_file(path):  # Prompt Flow GenAIOps experiment.yaml: loaded as a suite
        return True
    try:
        head = path.read_bytes()[:65536].decode("utf-8-sig", errors="replace")  # BOM: Notepad
    except OSError:
        return False
    return bool(_SUITE_KEY.search(head))


def _resolve_path(doc: Located, key: tuple[str | int, ...], text: str, rootdir: Path) -> Path:
    raw = Path(text)
    candidates = [raw] if raw.is_absolute() else [doc.path.parent / raw, rootdir / raw]
    for candidate in candidates:
        if candidate.exists():
            resolved = candidate.resolve()
            if not resolved.is_relative_to(rootdir.resolve()) and not _outside_allowed():
                # a suite from an untrusted branch must not read e.g. ~/.ssh into the results
                raise doc.error(
                    key,
                    f"{text} resolves outside the project root {rootdir} "
                    f"(set {ALLOW_OUTSIDE_ROOT}=1 to allow)",
                )
            return resolved
    raise doc.error(key, f"file not found: {text}")


ALLOW_OUTSIDE_ROOT = "LLMGATE_ALLOW_OUTSIDE_ROOT"


def _outside_allowed() -> bool:
    return os.environ.get(ALLOW_OUTSIDE_ROOT, "").strip().lower() in ("1", "true", "yes")


def _dataset_specs(doc: Located, rootdir: Path) -> dict[str, DatasetSpec]:
    specs: dict[str, DatasetSpec] = {}
    for name, raw in doc.data["datasets"].items():
        entry = {"path": raw} if isinstance(raw, str) else raw
        path = _resolve_path(
            doc,
            ("datasets", name, "path") if not isinstance(raw, str) else ("datasets", name),
            entry["path"],
            rootdir,
        )
        schema = None
        if "schema" in entry:
            schema = _resolve_path(doc, ("datasets", name, "schema"), entry["schema"], rootdir)
        else:
            for candidate in (
                path.with_suffix(".schema.json"),
                path.parent / (path.name.split(".")[0] + ".schema.json"),
            ):
                if candidate.is_file():
                    schema = candidate
                    break
        specs[name] = DatasetSpec(
            name=name,
            path=path,
            format=entry.get("format"),
            schema=schema,
            id_column=entry.get("id"),
            limit=int(entry["limit"]) if entry.get("limit") is not None else None,
            sample=int(entry["sample"]) if entry.get("sample") is not None else None,
            seed=int(entry.get("seed", 0)),
        )
    return specs


def _subject_type(raw: Mapping[str, Any]) -> str:
    if "type" in raw:
        return str(raw["type"])
    if "target" in raw:
        return "python"
    path = str(raw.get("path", ""))
    if path.endswith(".prompty"):
        return "prompty"
    if path:
        return "flow"
    if "messages" in raw or "template" in raw:
        return "prompt"
    return "python"


def _flow_variants(
    doc: Located, name: str, raw: Mapping[str, Any], suite_dir: Path, rootdir: Path
) -> dict[str, dict[str, Any]]:
    """A Prompt Flow DAG's node variants, one gate variant per (node, variant id)."""
    from pytest_llmgate.promptflow.flowfile import locate_flow, node_variant_items
    from pytest_llmgate.subjects.flow import flow_path_of

    try:
        flow = locate_flow(flow_path_of(raw, suite_dir, rootdir))
    except ValueError as exc:
        raise doc.error(("subjects", name, "path"), str(exc)) from None
    return node_variant_items(flow) if flow.kind == "dag" else {}


def _evaluator_entries(doc: Located) -> list[EvaluatorEntry]:
    raw = doc.data.get("evaluators") or []
    entries: list[EvaluatorEntry] = []
    items: list[tuple[tuple[str | int, ...], str | None, Any]]
    if isinstance(raw, list):
        items = [(("evaluators", i), None, v) for i, v in enumerate(raw)]
    else:
        items = [(("evaluators", k), k, v) for k, v in raw.items()]
    seen: set[str] = set()
    for key, name, value in items:
        spec: Mapping[str, Any] = {"use": value} if isinstance(value, str) else (value or {})
        use = spec.get("use") or name
        if not use:
            raise doc.error(key, "an evaluator needs use: <built-in name or module:attr>")
        entry_name = spec.get("name") or name or str(use).split(":")[-1]
        if entry_name in seen:
            raise doc.error(key, f"duplicate evaluator name {entry_name!r} (set name:)")
        seen.add(entry_name)
        for input_key, expr in (spec.get("inputs") or {}).items():
            try:
                parse_references(expr)
            except MappingError as exc:
                raise doc.error((*key, "inputs", input_key), str(exc)) from None
        entries.append(
            EvaluatorEntry(
                name=entry_name,
                use=str(use),
                # `model:` on an evaluator names the judge model (same as args.model)
                args={
                    **({"model": spec["model"]} if spec.get("model") else {}),
                    **(spec.get("args") or {}),
                },
                inputs=spec.get("inputs") or {},
                prefix=spec.get("prefix", ""),
                key=key,
                repeat=spec.get("repeat"),
                timeout=spec.get("timeout"),
                outputs=tuple(spec["outputs"]) if spec.get("outputs") else None,
            )
        )
    return entries


def _repeat(value: Any, role: str) -> int:
    """`repeat: 3` repeats subjects; `repeat: {subject: 3, judge: 2}` sets each separately."""
    if isinstance(value, int):
        return value if role == "subject" else 1
    if isinstance(value, Mapping):
        return int(value.get(role, 1))
    return 1


class SuiteLoader:
    """Loads suites and datasets once per session (datasets are shared between suites)."""

    def __init__(self, rootdir: Path, limit: int | None = None, env: str | None = None) -> None:
        self.rootdir = rootdir
        self.limit = limit
        self.env = env  # --llm-gate-env: experiment.<env>.yaml overlays
        self._datasets: dict[DatasetSpec, Dataset] = {}
        # the session's policy check and its collection read the same suite files
        self._suites: dict[Path, Suite] = {}

    def dataset(self, spec: DatasetSpec) -> Dataset:
        if spec not in self._datasets:
            self._datasets[spec] = load_dataset(spec)
        return self._datasets[spec]

    def load(self, path: Path) -> Suite:
        """The suite in `path`, read once per loader (a file that fails is read again, so each
        caller reports its error)."""
        key = path.resolve()
        suite = self._suites.get(key)
        if suite is None:
            suite = self._suites[key] = self._load(path)
        return suite

    def _load(self, path: Path) -> Suite:
        from pytest_llmgate.promptflow.environment import is_experiment_file

        if is_experiment_file(path):
            from pytest_llmgate.suite.experiment import load_experiment

            return load_experiment(self, path, self.env)
        doc = load_yaml(path)
        if not isinstance(doc.data, dict):
            raise doc.error((), "expected a mapping with a top-level 'suite:' key")
        validate_located(doc, "suite")
        data = doc.data
        search = [self.rootdir, path.parent]
        for index, extra in enumerate(data.get("pythonpath") or []):
            search.append(_resolve_path(doc, ("pythonpath", index), extra, self.rootdir))
        datasets = _dataset_specs(doc, self.rootdir)
        subjects: dict[str, SubjectSpec] = {}
        for name, raw in data["subjects"].items():
            for index, ds in enumerate(raw.get("datasets") or []):
                if ds not in datasets:
                    raise doc.error(
                        ("subjects", name, "datasets", index),
                        f"unknown dataset {ds!r} (defined: {', '.join(datasets)})",
                    )
            for input_key, expr in (raw.get("inputs") or {}).items():
                try:
                    refs = parse_references(expr)
                except MappingError as exc:
                    raise doc.error(("subjects", name, "inputs", input_key), str(exc)) from None
                if any(ref.root != "data" for ref in refs):
                    raise doc.error(
                        ("subjects", name, "inputs", input_key),
                        "a subject's inputs can only reference ${data.<column>}",
                    )
            variants = {k: dict(v or {}) for k, v in (raw.get("variants") or {}).items()}
            if not variants and _subject_type(raw) == "flow":
                variants = _flow_variants(doc, name, raw, path.parent, self.rootdir)
            subjects[name] = SubjectSpec(
                name=name,
                type=_subject_type(raw),
                raw=raw,
                variants=variants or {DEFAULT_VARIANT: {}},
                datasets=tuple(raw["datasets"]) if raw.get("datasets") else None,
                evaluators=tuple(raw["evaluators"]) if "evaluators" in raw else None,
                suite_dir=path.parent,
                rootdir=self.rootdir,
                search_paths=tuple(search),
                line=doc.line(("subjects", name)),
                timeout=raw.get("timeout"),
                models=data.get("models") or {},
            )
        entries = _evaluator_entries(doc)
        names = {e.name for e in entries}
        for name, spec in subjects.items():
            for index, ev in enumerate(spec.evaluators or ()):
                if ev not in names:
                    raise doc.error(
                        ("subjects", name, "evaluators", index),
                        f"unknown evaluator {ev!r} (defined: {', '.join(sorted(names))})",
                    )
        thresholds = None
        if data.get("thresholds") is not None:
            thresholds = thresholds_from(doc, ("thresholds",), strict=True)
        load = None
        if data.get("load") is not None:
            from pytest_llmgate.load import load_suite_parts

            load, entries = load_suite_parts(doc, entries)
        return Suite(
            path=path,
            name=data["suite"],
            doc=doc,
            rootdir=self.rootdir,
            datasets=datasets,
            subjects=subjects,
            evaluator_entries=entries,
            thresholds=thresholds,
            concurrency=data.get("concurrency"),
            timeout=data.get("timeout"),
            search_paths=tuple(search),
            repeat_subject=_repeat(data.get("repeat"), "subject"),
            repeat_judge=_repeat(data.get("repeat"), "judge"),
            unconfigured=data.get("unconfigured"),
            load=load,
        )

    def check_columns(self, suite: Suite, subject_name: str, dataset_name: str) -> None:
        """Fail at collection when a mapping names a column the dataset does not have."""
        dataset = self.dataset(suite.datasets[dataset_name])
        columns = set(dataset.columns)
        subject = suite.subject(subject_name)
        spec = suite.subjects[subject_name]
        wanted = subject.input_columns() or set()
        for column in sorted(wanted):
            if column not in columns:
                raise suite.doc.error(
                    ("subjects", subject_name),
                    f"column {column!r} is not in dataset {dataset_name!r} "
                    f"({dataset.spec.path.name} has: {', '.join(sorted(columns))})",
                )
        for entry in suite.evaluator_entries:
            if spec.evaluators is not None and entry.name not in spec.evaluators:
                continue
            for input_key, expr in entry.inputs.items():
                for ref in parse_references(expr):
                    if ref.root == "data" and ref.path and ref.path[0] not in columns:
                        raise suite.doc.error(
                            (*entry.key, "inputs", input_key),
                            f"column {ref.path[0]!r} is not in dataset {dataset_name!r} "
                            f"({dataset.spec.path.name} has: {', '.join(sorted(columns))})",
                        )
            evaluator = suite.evaluator(entry)
            for param in evaluator.signature.required:
                if param in entry.inputs or param in evaluator.inputs or param == "self":
                    continue
                # the runner's own rule, asked with the dataset's columns instead of a row
                if source_of(param, columns=columns, output_keys=(), subject_inputs=()):
                    continue
                # a dict output may still supply it at run time; text outputs cannot
                if spec.type in ("recorded", "prompt", "prompty"):
                    raise suite.doc.error(
                        (*entry.key,),
                        f"evaluator {entry.name!r} needs input {param!r}: "
                        f"no such column in dataset "
                        f"{dataset_name!r}; map it under inputs:",
                    )
