"""Safe YAML loading that remembers where every value came from.

Errors must name `file:line: field`, so the loader walks PyYAML's node tree alongside the data and
records the line of every mapping key and sequence item. Duplicate keys, which PyYAML silently
overwrites, are reported instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_llmgate.errors import InputError

__all__ = ["Located", "dotted", "load_yaml", "parse_yaml"]

Key = tuple[str | int, ...]


def dotted(path: Key) -> str:
    """Render a data path as `a.b[2].c` for messages."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass(frozen=True)
class Located:
    """Parsed YAML plus the 1-based line of each value's key."""

    path: Path
    data: Any
    lines: dict[Key, int] = field(default_factory=dict)

    def line(self, key: Key) -> int | None:
        """Line of `key`, or of its nearest ancestor that has one."""
        key = tuple(key)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), None)

    def error(self, key: Key, problem: str) -> InputError:
        return InputError(self.path, problem, line=self.line(key), field=dotted(key) or None)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans.

    YAML 1.1 also reads on/off/yes/no/y/n as booleans, which turns a threshold's `on: ci_low`
    key into `True` and a country code `NO` into False.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
for _first in "tTfF":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, ("tag:yaml.org,2002:bool", _BOOL)
    )


def _walk(node: yaml.Node, key: Key, lines: dict[Key, int], path: Path) -> None:
    lines.setdefault(key, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if name in seen and name != "<<":
                raise InputError(
                    path,
                    f"duplicate key (first defined on line {seen[name]})",
                    line=line,
                    field=dotted((*key, name)),
                )
            seen[name] = line
            lines[(*key, name)] = line
            _walk(value_node, (*key, name), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*key, index)] = item.start_mark.line + 1
            _walk(item, (*key, index), lines, path)


def parse_yaml(text: str, path: Path) -> Located:
    """Parse YAML text safely; syntax errors become one-line `InputError`s."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(path, f"invalid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"invalid YAML: {exc}") from None
    lines: dict[Key, int] = {}
    if node is not None:
        _walk(node, (), lines, path)
    return Located(path=path, data=data, lines=lines)


def read_text(path: Path) -> str:
    """Read a UTF-8 (optionally BOM-prefixed) text file with one-line errors."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            path, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line=line
        ) from None


def load_yaml(path: Path) -> Located:
    """Load a YAML file safely with line information."""
    return parse_yaml(read_text(path), path)
