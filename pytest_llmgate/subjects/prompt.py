"""Prompt subjects: a Jinja2 chat prompt (`type: prompt`) or a `.prompty` file (`type: prompty`)
rendered with the row and sent to a named model through the session's pooled client.

    subjects:
      rag:
        type: prompt
        model: subject                      # a name from `models:` (default: the subject model)
        messages:                           # or template: prompts/rag.jinja2 (role sections)
          - {role: system, content: "Answer from the context only."}
          - {role: user, content: "Context: {{ context }}\\nQuestion: {{ question }}"}
        inputs: {question: "${data.question}", context: "${data.context}"}   # optional
        parameters: {temperature: 0, max_tokens: 300}
        output: text                        # or json (parse the reply; use with json_object)
        variants:
          strict: {}
          chatty: {template: prompts/chatty.jinja2, temperature: 0.7}
          mini: {model: small, seed: 7}

A variant may set `model`, `messages`, `template`, `path` (prompty), `parameters`, `output`; any
other key is a sampling parameter (`temperature`, `max_tokens`, `seed`, `top_p`,
`response_format`...). Parameters merge: prompty `model.parameters` < subject < variant.

Templates render in a sandboxed Jinja2 environment with `StrictUndefined`: a variable the row does
not supply is an error naming the template and the variable, never an empty string. A `.prompty`
file renders as Prompt Flow renders it: a variable it uses but nobody supplies is empty (its
declared `inputs:` must still have a value or a default). Role sections (`system:`, `user:`,
`assistant:` alone on a line) split a template into messages, as `.prompty` files do.

A prompty's own `model.configuration` is used unless the suite names a `model:`: a `connection:`
is built like a flow's (`promptflow/connections.py`: `<NAME>_API_KEY`, ...); an
`azure_endpoint` / `api_key` (`${env:X}` resolved), or else `AZURE_OPENAI_ENDPOINT` /
`AZURE_OPENAI_API_KEY` (`OPENAI_BASE_URL` / `OPENAI_API_KEY` for `type: openai`) as Prompt Flow
reads them, make an endpoint of their own, with `azure_deployment` (or `model`) as the
deployment. With no endpoint anywhere, the gate's subject model answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmgate.config.mapping import COLUMN_ALIASES, data_columns
from pytest_llmgate.config.prompts import (
    ROLES,
    STRUCTURAL,
    ChatTemplate,
    PromptTemplateError,
    _shown,
    load_prompty,
)
from pytest_llmgate.promptflow.prompty import prompty_model
from pytest_llmgate.subjects.base import SubjectBase, SubjectSpec, mapped_inputs

__all__ = ["PromptSubject", "build_prompt_subject"]

def _template_from(value: Any, spec: SubjectSpec, key: str) -> ChatTemplate:
    if key == "messages":
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise PromptTemplateError(
                f"subject {spec.name!r}: messages must be a list of {{role, content}}"
            )
        pairs = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping) or set(item) - {"role", "content"} or (
                str(item.get("role")) not in ROLES or not isinstance(item.get("content"), str)
            ):
                raise PromptTemplateError(
                    f"subject {spec.name!r}: messages[{index}] must be {{role: "
                    f"{'|'.join(ROLES)}, content: <text>}}"
                )
            pairs.append((str(item["role"]), str(item["content"])))
        template = ChatTemplate(where=f"subject {spec.name!r} messages", messages=tuple(pairs))
        template._compiled()
        return template
    path = Path(str(value))
    if not path.is_absolute():
        path = spec.suite_dir / path
    shown = _shown(path, spec.rootdir)
    if key == "path" or path.suffix == ".prompty":
        return load_prompty(path, shown)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptTemplateError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    template = ChatTemplate(where=shown, text=text)
    template._compiled()
    return template


@dataclass(frozen=True)
class _Variant:
    template: ChatTemplate
    model: str | None
    params: dict[str, Any]
    output: str


class PromptSubject(SubjectBase):
    """A chat prompt on a named model; the output is the reply text (or its JSON)."""

    needs_model = True

    def __init__(self, spec: SubjectSpec) -> None:
        self.spec = spec
        raw = spec.raw
        self.kind = spec.type
        self.mapping = dict(raw.get("inputs") or {})
        self._variants: dict[str, _Variant] = {}
        self._models: dict[str, Any] = {}
        for variant, overrides in spec.variants.items():
            self._variants[variant] = self._build_variant(variant, dict(overrides or {}))
        # a prompty that brings its own endpoint says itself whether it can run
        self.own_connections = any(
            v.template.configuration and v.model is None for v in self._variants.values()
        )

    def _build_variant(self, variant: str, overrides: dict[str, Any]) -> _Variant:
        raw = self.spec.raw
        source = overrides if _overridden(overrides) else raw
        template: ChatTemplate | None = None
        for key in ("path", "template", "messages"):
            if source.get(key) is not None:
                template = _template_from(source[key], self.spec, key)
                break
        if template is None:
            need = "path: <file>.prompty" if self.kind == "prompty" else "messages: or template:"
            raise PromptTemplateError(f"subject {self.spec.name!r}: needs {need}")
        params: dict[str, Any] = dict(template.parameters or {})
        params.update(raw.get("parameters") or {})
        params.update(overrides.get("parameters") or {})
        params.update({k: v for k, v in overrides.items() if k not in STRUCTURAL})
        for reserved in ("model", "messages", "stream", "n"):
            if reserved in params:
                raise PromptTemplateError(
                    f"subject {self.spec.name!r} variant {variant!r}: parameter {reserved!r} "
                    "cannot be set here"
                    + (" (use model: <name> at the subject or variant level)"
                       if reserved == "model" else "")
                )
        output = str(overrides.get("output", raw.get("output", "text")))
        if output not in ("text", "json"):
            raise PromptTemplateError(
                f"subject {self.spec.name!r}: output must be text or json, not {output!r}"
            )
        model = overrides.get("model", raw.get("model"))
        return _Variant(template, str(model) if model else None, params, output)

    # --- Subject protocol ---------------------------------------------------------------------
    def describe(self, variant: str) -> dict[str, Any]:
        v = self._variants[variant]
        out: dict[str, Any] = {
            "type": self.kind,
            "model": v.model or "(default)",
            "params": dict(v.params),
            "template": v.template.where,
            "template_sha256": v.template.sha256,
            "output": v.output,
        }
        return out

    def input_columns(self) -> set[str] | None:
        if self.mapping:
            return {column for _, column in data_columns(self.mapping)}
        needed: set[str] = set()
        for v in self._variants.values():
            if v.template.declared is not None:
                return None  # prompty inputs take aliases and defaults: checked per row
            needed |= v.template.variables()
        return needed

    def _inputs(self, data: Mapping[str, Any], template: ChatTemplate) -> dict[str, Any]:
        if self.mapping:
            values = mapped_inputs(self.mapping, data)
        elif template.declared is not None:
            values = {}
            for name in template.declared:
                if name in data:
                    values[name] = data[name]
                    continue
                alias = next((a for a in COLUMN_ALIASES.get(name, ()) if a in data), None)
                if alias is not None:
                    values[name] = data[alias]
        else:
            values = dict(data)
        for name, default in (template.defaults or {}).items():
            values.setdefault(name, default)
        if template.declared is not None:
            missing = [n for n in template.declared if n not in values]
            if missing:
                raise LookupError(
                    f"{template.where}: no value for input {missing[0]!r} (row columns: "
                    f"{', '.join(data)}; map it under inputs: or give it a default)"
                )
        return values

    def _model(self, variant: str, name: str | None) -> Any:
        model = self._models.get(variant)
        if model is None:
            template = self._variants[variant].template
            if name is None and template.configuration:
                model = prompty_model(template.configuration, self.spec.rootdir, template.where)
            if model is None:
                from pytest_llmgate.engine.runtime import model_for

                model = model_for(
                    name, "subject", suite_models=self.spec.models,
                    source=str(self.spec.suite_dir),
                )
            self._models[variant] = model
        return model

    def unavailable_reason(self) -> str | None:
        """Why a variant cannot reach its model (a prompty's own configuration counts)."""
        for variant, v in self._variants.items():
            try:
                model = self._model(variant, v.model)
            except Exception as exc:
                from pytest_llmgate.promptflow.connections import ConnectionError_

                if isinstance(exc, ConnectionError_):  # named, so never a skip
                    from pytest_llmgate.errors import GateError

                    raise GateError(f"{v.template.where}: {exc}") from None
                return str(exc).strip().splitlines()[0] or type(exc).__name__
            if not model.available:
                return str(model.unavailable_reason())
        return None

    def render(self, data: Mapping[str, Any], variant: str) -> tuple[dict[str, Any], list[Any]]:
        """(inputs, messages) for one row; no model needed (dry runs, tests)."""
        v = self._variants[variant]
        inputs = self._inputs(data, v.template)
        return inputs, v.template.render(inputs)

    async def run(self, data: Mapping[str, Any], variant: str) -> tuple[dict[str, Any], Any]:
        from pytest_llmgate.engine.llm import chat

        v = self._variants[variant]
        inputs, messages = self.render(data, variant)
        model = self._model(variant, v.model)
        result = await chat(model, messages, params=v.params, role="subject")
        if v.output == "json":
            try:
                return inputs, json.loads(result.text)
            except ValueError:
                raise ValueError(
                    f"output: json, but the reply is not JSON: {result.text[:80]!r}"
                ) from None
        return inputs, result.text


def _overridden(overrides: Mapping[str, Any]) -> bool:
    return any(k in overrides for k in ("path", "template", "messages"))


def build_prompt_subject(spec: SubjectSpec) -> PromptSubject:
    """The adapter for `type: prompt` and `type: prompty` subjects."""
    if spec.type == "prompty" and "path" not in spec.raw and not any(
        "path" in (v or {}) for v in spec.variants.values()
    ):
        raise PromptTemplateError(f"subject {spec.name!r}: type prompty needs path: <file>.prompty")
    return PromptSubject(spec)
