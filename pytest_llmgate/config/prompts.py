"""Prompt templates as users write them: chat messages, Jinja2 templates with role sections, and
`.prompty` files (front matter + body), parsed and rendered in a sandbox.

Prompt subjects send them to a model; prompty judges score with them. Rendering is strict
(`StrictUndefined`) for the gate's own templates and lenient, as Prompt Flow renders them, for
`.prompty` files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import SpecError

__all__ = [
    "ROLES",
    "STRUCTURAL",
    "ChatTemplate",
    "PromptTemplateError",
    "load_prompty",
    "parse_chat",
]


ROLES = ("system", "user", "assistant", "developer")
_ROLE_LINE = re.compile(r"(?im)^\s*#?\s*(system|user|assistant|developer)\s*:\s*\n")
_FRONT_MATTER = re.compile(r"\A\ufeff?-{3,}[ \t]*\r?\n(.*?)^-{3,}[ \t]*\r?\n?(.*)\Z", re.S | re.M)
STRUCTURAL = frozenset({"model", "messages", "template", "path", "parameters", "output"})


class PromptTemplateError(SpecError):
    """A template cannot be loaded or rendered (names the template and the problem)."""


_ENVS: dict[bool, Any] = {}


def _environment(lenient: bool = False) -> Any:
    env = _ENVS.get(lenient)
    if env is None:
        from jinja2 import StrictUndefined, Undefined
        from jinja2.sandbox import SandboxedEnvironment

        # the settings .prompty files render with (trim_blocks, keep_trailing_newline); a
        # .prompty renders an unsupplied variable as empty, as Prompt Flow does
        env = _ENVS[lenient] = SandboxedEnvironment(
            undefined=Undefined if lenient else StrictUndefined,
            trim_blocks=True,
            keep_trailing_newline=True,
        )
    return env


def parse_chat(text: str, where: str) -> list[dict[str, str]]:
    """Split rendered text at role lines into messages; text before the first role is an error."""
    parts = _ROLE_LINE.split(text)
    head, rest = parts[0], parts[1:]
    if head.strip():
        raise PromptTemplateError(
            f"{where}: text before the first role line (start with 'system:' or 'user:')"
        )
    messages = []
    for role, content in zip(rest[::2], rest[1::2], strict=True):
        messages.append({"role": role.lower(), "content": content.strip()})
    if not messages:
        raise PromptTemplateError(f"{where}: no role sections ('system:', 'user:', 'assistant:')")
    return messages


@dataclass(frozen=True)
class ChatTemplate:
    """Either a list of {role, content} templates or one text with role sections."""

    where: str  # file path or "subject 'x' messages" (for messages)
    text: str | None = None
    messages: tuple[tuple[str, str], ...] = ()
    defaults: Mapping[str, Any] | None = None
    declared: tuple[str, ...] | None = None  # prompty `inputs:` names
    parameters: Mapping[str, Any] | None = None
    lenient: bool = False  # a .prompty: unsupplied variables render empty
    configuration: Mapping[str, Any] | None = None  # a .prompty's model.configuration

    @property
    def sha256(self) -> str:
        payload = self.text if self.text is not None else json.dumps(self.messages)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _compiled(self) -> list[tuple[str | None, Any]]:
        cached = self.__dict__.get("_compiled_cache")
        if cached is None:
            from jinja2 import TemplateSyntaxError

            env = _environment(self.lenient)
            try:
                if self.text is not None:
                    cached = [(None, env.from_string(self.text))]
                else:
                    cached = [(role, env.from_string(content)) for role, content in self.messages]
            except TemplateSyntaxError as exc:
                raise PromptTemplateError(
                    f"{self.where}: template syntax error line {exc.lineno}: {exc.message}"
                ) from None
            object.__setattr__(self, "_compiled_cache", cached)
        return cached

    def variables(self) -> set[str]:
        """Names the template reads (Jinja2's undeclared variables)."""
        from jinja2 import meta

        env = _environment(self.lenient)
        sources = [self.text] if self.text is not None else [c for _, c in self.messages]
        found: set[str] = set()
        for source in sources:
            found |= meta.find_undeclared_variables(env.parse(source))
        return found

    def render(self, values: Mapping[str, Any]) -> list[dict[str, str]]:
        from jinja2 import UndefinedError

        compiled = self._compiled()
        try:
            if self.text is not None:
                return parse_chat(compiled[0][1].render(values), self.where)
            return [
                {"role": str(role), "content": template.render(values)}
                for role, template in compiled
            ]
        except UndefinedError as exc:
            shown = ", ".join(sorted(values)) or "none"
            raise PromptTemplateError(
                f"{self.where}: {exc.message} (variables given: {shown})"
            ) from None
        except PromptTemplateError:
            raise
        except Exception as exc:  # a sandbox violation, a filter failing on the row's data
            raise PromptTemplateError(f"{self.where}: {type(exc).__name__}: {exc}") from None


def _shown(path: Path, rootdir: Path) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return str(path)


def load_prompty(path: Path, shown: str | None = None) -> ChatTemplate:
    """Parse a `.prompty` file: front matter (model.parameters, inputs with defaults) + body."""
    import yaml

    where = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptTemplateError(f"{where}: cannot read: {exc.strerror or exc}") from None
    match = _FRONT_MATTER.match(text)
    if not match:
        raise PromptTemplateError(f"{where}: expected YAML front matter between '---' lines")
    try:
        front = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise PromptTemplateError(f"{where}: front matter is not valid YAML: {exc}") from None
    if not isinstance(front, dict):
        raise PromptTemplateError(f"{where}: front matter must be a mapping")
    model = front.get("model") or {}
    params = dict(model.get("parameters") or {}) if isinstance(model, dict) else {}
    configuration = model.get("configuration") if isinstance(model, dict) else None
    inputs = front.get("inputs")
    declared: tuple[str, ...] | None = None
    defaults: dict[str, Any] = {}
    if isinstance(inputs, dict):
        declared = tuple(str(k) for k in inputs)
        for name, spec in inputs.items():
            if isinstance(spec, dict) and "default" in spec:
                defaults[str(name)] = spec["default"]
    template = ChatTemplate(
        where=where,
        text=match.group(2),
        defaults=defaults,
        declared=declared,
        parameters=params,
        lenient=True,
        configuration=dict(configuration) if isinstance(configuration, dict) else None,
    )
    template._compiled()  # syntax errors surface at collection
    return template
