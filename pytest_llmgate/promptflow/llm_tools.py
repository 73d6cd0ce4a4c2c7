# mypy: disable-error-code="misc,untyped-decorator,type-arg,no-any-return"
# (promptflow is untyped, and these signatures must keep the runtime shapes it parses)
"""Prompt Flow's LLM node tools (`type: llm`, `api: chat` / `completion`) on the gate's side.

Prompt Flow resolves an LLM node by its connection type: `AzureOpenAIConnection` -> the provider
class named `AzureOpenAI`, `OpenAIConnection` -> `OpenAI`, method `chat`. promptflow-tools
registers its own classes under those names; registering ours (after importing theirs, when it is
installed) makes every chat LLM node call `pytest_llmgate.engine.llm.chat`, so flow runs get
the session's
pooled client, cache, retries, rate limits and per-row cost ledger, exactly like prompt subjects.
`api: completion` nodes call the connection's legacy completions API through the same engine
(`llm.complete`): cached under the same key scheme, retried, priced.

The prompt is rendered the way promptflow-tools renders it (Jinja2 with trim_blocks, flow inputs
escaped so a row cannot inject role lines, `system:`/`user:` sections parsed by Prompt Flow's own
`parse_chat`), so outputs match what `pf flow test` would have sent.

No `from __future__ import annotations` here, on purpose: Prompt Flow reads these signatures'
annotations at run time (`PromptTemplate` marks the template parameter, the connection annotation
maps connection types to providers) and compares them with the classes, not with strings.
"""

import contextlib
import threading
from typing import Any, Literal

from promptflow.connections import AzureOpenAIConnection, OpenAIConnection
from promptflow.contracts.types import PromptTemplate
from promptflow.core import ToolProvider, tool

__all__ = ["AzureOpenAI", "OpenAI", "register"]

_PARAMS = (
    "temperature",
    "top_p",
    "stop",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "response_format",
    "seed",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
)
# promptflow-tools' defaults: sent only when the node sets something else, so a node that leaves
# them alone produces the same request (and cache key) as a prompt subject would
_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "logit_bias": {},
    "user": "",
    "stop": None,
    "max_tokens": None,
    "response_format": None,
    "seed": None,
    "tools": None,
    "tool_choice": None,
    "functions": None,
    "function_call": None,
}
_lock = threading.Lock()
_models: dict[tuple[Any, ...], Any] = {}


def _messages(prompt: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """Render like promptflow-tools' `build_messages` (escaping flow inputs' role lines)."""
    from promptflow.core._prompty_utils import Escaper, parse_chat, render_jinja_template

    to_escape = kwargs.pop("_inputs_to_escape", None)
    escape = Escaper.build_escape_dict_from_kwargs(_inputs_to_escape=to_escape, **kwargs)
    values = Escaper.escape_kwargs(escape_dict=escape, _inputs_to_escape=to_escape, **kwargs)
    text = render_jinja_template(
        prompt, trim_blocks=True, keep_trailing_newline=True, escape_dict=escape, **values
    )
    messages = parse_chat(text, escape_dict=escape)
    if escape:
        for message in messages:
            for key, value in list(message.items()):
                message[key] = Escaper.unescape_roles(value, escape)
    return messages


def _model(kind: str, connection: Any, deployment: str) -> Any:
    """A `ModelConfig` for (connection, deployment); one per distinct endpoint so the pool keeps
    one client for it."""
    from pytest_llmgate.config.models import ModelConfig, Secret, register_secret

    key_value = connection.api_key if hasattr(connection, "api_key") else None
    if kind == "azure":
        endpoint = str(connection.api_base)
        identity: tuple[Any, ...] = (kind, endpoint, connection.api_version, deployment, key_value)
    else:
        endpoint = str(getattr(connection, "base_url", None) or "https://api.openai.com/v1")
        identity = (kind, endpoint, deployment, key_value)
    with _lock:
        model = _models.get(identity)
        if model is None:
            register_secret(key_value)
            name = str(getattr(connection, "name", None) or "promptflow")
            if kind == "azure":
                model = ModelConfig(
                    name=name,
                    kind="azure",
                    model=deployment,
                    deployment=deployment,
                    azure_endpoint=endpoint,
                    api_version=str(connection.api_version),
                    api_key=Secret(key_value) if key_value else None,
                    source="promptflow connection",
                )
            else:
                model = ModelConfig(
                    name=name,
                    kind="openai",
                    model=deployment,
                    base_url=endpoint,
                    api_key=Secret(key_value) if key_value else None,
                    source="promptflow connection",
                )
            _models[identity] = model
    return model


def _role() -> Literal["subject", "judge"]:
    """An evaluation flow's LLM nodes run in the row's judge phase and are accounted as judges."""
    from pytest_llmgate.results.usage import current_ledger

    ledger = current_ledger.get()
    return "judge" if ledger is not None and ledger.role == "judge" else "subject"


async def _chat(
    kind: str, connection: Any, prompt: str, deployment: str, kwargs: dict[str, Any]
) -> Any:
    from pytest_llmgate.engine.llm import chat

    params = {}
    for name in _PARAMS:
        if name in kwargs:
            value = kwargs.pop(name)
            if value != _DEFAULTS.get(name):
                params[name] = value
    for unsupported in ("n", "stream"):
        value = kwargs.pop(unsupported, None)
        if value not in (None, False, 1):
            raise ValueError(
                f"LLM node parameter {unsupported}={value!r} is not supported by the gate"
            )
    kwargs.pop("detail", None)
    messages = _messages(prompt, kwargs)
    role = _role()
    from pytest_llmgate.promptflow.observe import gate_call

    token = gate_call.set(True)  # accounted by the engine itself: not observed twice
    try:
        result = await chat(
            _model(kind, connection, deployment), messages, params=params, role=role
        )
    finally:
        gate_call.reset(token)
    return result.text


_COMPLETION_PARAMS = (
    "suffix", "max_tokens", "temperature", "top_p", "logprobs", "echo", "stop",
    "presence_penalty", "frequency_penalty", "best_of", "logit_bias", "user",
)
async def _completion(
    kind: str, connection: Any, prompt: str, deployment: str, kwargs: dict[str, Any]
) -> str:
    """`api: completion` LLM nodes: the prompt rendered as promptflow-tools renders it (Jinja2,
    no role sections), sent to the legacy completions API of the node's connection through the
    gate's engine (cache, retries, rate limits, cost), like chat nodes."""
    from promptflow.core._prompty_utils import render_jinja_template

    params = {name: kwargs.pop(name) for name in _COMPLETION_PARAMS if name in kwargs}
    for unsupported in ("n", "stream"):
        value = kwargs.pop(unsupported, None)
        if value not in (None, False, 1):
            raise ValueError(
                f"LLM node parameter {unsupported}={value!r} is not supported by the gate"
            )
    params = {k: v for k, v in params.items() if v not in (None, "", {})}
    kwargs.pop("_inputs_to_escape", None)
    text = render_jinja_template(prompt, trim_blocks=True, keep_trailing_newline=True, **kwargs)
    from pytest_llmgate.engine.llm import complete
    from pytest_llmgate.promptflow.observe import gate_call

    token = gate_call.set(True)  # accounted by the engine itself: not observed twice
    try:
        result = await complete(
            _model(kind, connection, deployment), text, params=params, role=_role()
        )
    finally:
        gate_call.reset(token)
    return result.text


def _params(given: dict[str, Any], model_arg: str) -> dict[str, Any]:
    """A tool call's sampling parameters: its named arguments (promptflow reads the signatures
    above, so they stay spelled out) and its **kwargs, without the prompt and the model."""
    values = {k: v for k, v in given.items()
              if k not in ("self", "prompt", model_arg, "kwargs", "__class__")}
    return {**values, **given.get("kwargs", {})}


class AzureOpenAI(ToolProvider):
    """`AzureOpenAIConnection` LLM nodes."""

    def __init__(self, connection: AzureOpenAIConnection):
        super().__init__()
        self.connection = connection

    @tool
    async def chat(
        self,
        prompt: PromptTemplate,
        deployment_name: str,
        temperature: float = 1.0,
        top_p: float = 1.0,
        n: int = 1,
        stream: bool = False,
        stop: list | None = None,
        max_tokens: int | None = None,
        presence_penalty: float = 0,
        frequency_penalty: float = 0,
        logit_bias: dict = {},  # noqa: B006 - promptflow-tools' signature, never mutated
        user: str = "",
        response_format: object | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> str | dict:
        values = _params(locals(), "deployment_name")
        return await _chat("azure", self.connection, prompt, deployment_name, values)

    @tool
    async def completion(
        self,
        prompt: PromptTemplate,
        deployment_name: str,
        suffix: str | None = None,
        max_tokens: int = 16,
        temperature: float = 1.0,
        top_p: float = 1.0,
        n: int = 1,
        stream: bool = False,
        logprobs: int | None = None,
        echo: bool = False,
        stop: list | None = None,
        presence_penalty: float = 0,
        frequency_penalty: float = 0,
        best_of: int = 1,
        logit_bias: dict = {},  # noqa: B006 - promptflow-tools' signature, never mutated
        user: str = "",
        **kwargs: Any,
    ) -> str:
        values = _params(locals(), "deployment_name")
        return await _completion(
            "azure", self.connection, prompt, deployment_name, values
        )


class OpenAI(ToolProvider):
    """`OpenAIConnection` LLM nodes (OpenAI or any OpenAI-compatible `base_url`)."""

    def __init__(self, connection: OpenAIConnection):
        super().__init__()
        self.connection = connection

    @tool
    async def chat(
        self,
        prompt: PromptTemplate,
        model: str = "gpt-4o-mini",
        temperature: float = 1.0,
        top_p: float = 1.0,
        n: int = 1,
        stream: bool = False,
        stop: list | None = None,
        max_tokens: int | None = None,
        presence_penalty: float = 0,
        frequency_penalty: float = 0,
        logit_bias: dict = {},  # noqa: B006 - promptflow-tools' signature, never mutated
        user: str = "",
        response_format: object | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> str | dict:
        values = _params(locals(), "model")
        return await _chat("openai", self.connection, prompt, model, values)

    @tool
    async def completion(
        self,
        prompt: PromptTemplate,
        model: str = "gpt-3.5-turbo-instruct",
        suffix: str | None = None,
        max_tokens: int = 16,
        temperature: float = 1.0,
        top_p: float = 1.0,
        n: int = 1,
        stream: bool = False,
        logprobs: int | None = None,
        echo: bool = False,
        stop: list | None = None,
        presence_penalty: float = 0,
        frequency_penalty: float = 0,
        best_of: int = 1,
        logit_bias: dict = {},  # noqa: B006 - promptflow-tools' signature, never mutated
        user: str = "",
        **kwargs: Any,
    ) -> str:
        values = _params(locals(), "model")
        return await _completion(
            "openai", self.connection, prompt, model, values
        )


_registered = False


def register() -> None:
    """Make Prompt Flow resolve LLM nodes to the classes above (idempotent)."""
    global _registered
    with _lock:
        if _registered:
            return
        # promptflow-tools registers its providers on import: import it first, then replace
        with contextlib.suppress(ImportError):
            from promptflow.tools import aoai, openai  # noqa: F401
        from promptflow._core.tools_manager import register_apis

        register_apis(AzureOpenAI)
        register_apis(OpenAI)
        _registered = True

