"""The package layout keeps its promise: layers import downward only, and no import circles.

The order is read from docs/architecture.md, so the document and the code cannot drift apart.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pytest_llmgate"


def _layers() -> list[list[str]]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers, bottom to top", 1)[1].split("\n## ", 1)[0]
    layers = [re.match(r"\d+\. ((?:`[\w.]+`(?:, )?)+):", line) for line in section.splitlines()]
    return [re.findall(r"`([\w.]+)`", m.group(1)) for m in layers if m]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import of the package in `name`, lazy ones included;
    `if TYPE_CHECKING:` blocks are skipped (they never run)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]

    def walk(node: ast.AST) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from (x for stmt in child.orelse for x in walk_one(stmt))
                continue
            yield from walk_one(child)

    def walk_one(node: ast.AST) -> Iterator[tuple[str, int]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import sub` imports the submodule when there is one
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), node.lineno
        else:
            yield from walk(node)

    for target, line in walk(ast.parse(path.read_text(encoding="utf-8"))):
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name and target.startswith("pytest_llmgate"):
            yield target, line


GRAPH = {name: sorted(set(_imports(name, path))) for name, path in MODULES.items()}


def _layer_of(module: str, order: dict[str, int]) -> int | None:
    parts = module.split(".")
    return order.get(parts[1]) if len(parts) > 1 else None


def test_the_document_names_every_package_once() -> None:
    names = [name for layer in _layers() for name in layer]
    assert len(names) == len(set(names))
    top_level = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                 if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
                 or (p / "__init__.py").is_file()}
    assert set(names) == top_level


def test_layers_import_downward_only() -> None:
    order = {name: index for index, layer in enumerate(_layers()) for name in layer}
    upward = [
        f"{MODULES[name].relative_to(REPO)}:{line}: {name} imports {target}"
        for name, targets in GRAPH.items()
        for target, line in targets
        if (mine := _layer_of(name, order)) is not None
        and (theirs := _layer_of(target, order)) is not None
        and theirs > mine
    ]
    assert upward == []


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Modules that import each other, directly or around a loop (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return circles


def test_no_import_circles() -> None:
    assert _circles({name: {t for t, _ in targets} for name, targets in GRAPH.items()}) == []


def test_the_circle_check_finds_a_loop() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_layer_check_sees_a_lazy_upward_import(tmp_path: Path) -> None:
    """A planted lazy import of the CLI from `config` is found and ranks upward."""
    name = "pytest_llmgate.config.planted"
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from pytest_llmgate.cli.main import main\n", encoding="utf-8")
    MODULES[name] = planted
    try:
        found = sorted(set(_imports(name, planted)))
    finally:
        del MODULES[name]
    order = {n: i for i, layer in enumerate(_layers()) for n in layer}
    assert found == [("pytest_llmgate.cli.main", 2)]
    assert order["cli"] > order["config"]


def test_every_public_exception_is_a_gate_error() -> None:
    """`except GateError` catches whatever the gate raises on purpose (private control-flow
    signals, named with a leading underscore, excepted). Read from the source: importing every
    module would import promptflow and azure."""
    bases: dict[str, set[str]] = {}
    public: list[str] = []
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {ast.unparse(b).rpartition(".")[2] for b in node.bases}
                if not node.name.startswith("_"):
                    public.append(f"{name}.{node.name}")

    def is_exception(cls: str, seen: frozenset[str] = frozenset()) -> bool:
        builtin = getattr(builtins, cls, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return True
        return any(is_exception(b, seen | {cls}) for b in bases.get(cls, set()) - seen)

    def is_gate_error(cls: str, seen: frozenset[str] = frozenset()) -> bool:
        return cls == "GateError" or any(
            is_gate_error(b, seen | {cls}) for b in bases.get(cls, set()) - seen
        )

    exceptions = [q for q in public if is_exception(q.rpartition(".")[2])]
    assert len(exceptions) >= 15  # the walk sees the package's exceptions
    assert [q for q in exceptions if not is_gate_error(q.rpartition(".")[2])] == []
