"""Safe YAML loading that remembers where every value came from.

Errors must name `file:line: field`, so the loader walks PyYAML's node tree alongside the data and
records the line of every mapping key and sequence item. Duplicate keys, which PyYAML silently
overwrites, are reported instead.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_llmgate.errors import InputError

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "Located",
    "check_regular_file",
    "dotted",
    "load_yaml",
    "parse_yaml",
    "read_text",
]

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


# An alias re-uses a node; walking (and later validating) the data visits it once per use, so ten
# levels of ten aliases are 10**10 values from a few hundred bytes ("billion laughs"). Suites and
# policies re-use small blocks: this many re-visited values is far above any real file.
MAX_ALIAS_EXPANSION = 10_000


class _Walk:
    """One pass over the composed node graph: records lines, refuses duplicate keys, and bounds
    what aliases expand to (recursive aliases included)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[Key, int] = {}
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.expanded = 0

    def _alias_error(self, key: Key, problem: str) -> InputError:
        line = None
        probe = key
        while probe and line is None:
            line = self.lines.get(probe)
            probe = probe[:-1]
        return InputError(self.path, problem, line=line, field=dotted(key) or None)

    def walk(self, node: yaml.Node, key: Key, aliased: bool = False) -> None:
        if not aliased:  # inside an alias, a value's line is where the alias is used
            self.lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            if aliased:
                self._count(key)
            return
        ident = id(node)
        if ident in self.active:
            raise self._alias_error(key, "recursive alias (a value that contains itself)")
        aliased = aliased or ident in self.seen
        if aliased:
            self._count(key)
        self.seen.add(ident)
        self.active.add(ident)
        try:
            if isinstance(node, yaml.MappingNode):
                self._mapping(node, key, aliased)
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    if not aliased:
                        self.lines[(*key, index)] = item.start_mark.line + 1
                    self.walk(item, (*key, index), aliased)
        finally:
            self.active.discard(ident)

    def _count(self, key: Key) -> None:
        self.expanded += 1
        if self.expanded > MAX_ALIAS_EXPANSION:
            raise self._alias_error(
                key,
                f"aliases expand to more than {MAX_ALIAS_EXPANSION} values "
                "(refused: a small file must not expand without limit)",
            )

    def _mapping(self, node: yaml.MappingNode, key: Key, aliased: bool) -> None:
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if name in seen and name != "<<":
                raise InputError(
                    self.path,
                    f"duplicate key (first defined on line {seen[name]})",
                    line=line,
                    field=dotted((*key, name)),
                )
            seen[name] = line
            if not aliased:
                self.lines[(*key, name)] = line
            self.walk(value_node, (*key, name), aliased)


def parse_yaml(text: str, path: Path) -> Located:
    """Parse YAML text safely; syntax errors become one-line `InputError`s.

    The node graph is walked before it is constructed: PyYAML's merge keys (`<<: *base`) rewrite
    the nodes in place when constructing, and a bounded walk must come before anything that
    expands aliases.
    """
    walker = _Walk(path)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                walker.walk(node, ())
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
    return Located(path=path, data=data, lines=walker.lines)


def check_regular_file(path: Path) -> None:
    """Refuse anything but a regular file before opening it: reading a FIFO blocks until a writer
    appears (a run that hangs silently), and a device or socket is never a dataset or policy."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise InputError(path, "is a directory, expected a file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a special file"
        )
        raise InputError(path, f"is {kind}, not a regular file (refused: reading it could block)")


def read_text(path: Path) -> str:
    """Read a UTF-8 (optionally BOM-prefixed) text file with one-line errors."""
    check_regular_file(path)
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
