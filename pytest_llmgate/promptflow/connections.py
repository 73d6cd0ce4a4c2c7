"""Prompt Flow connections built from configuration and the environment, never from `pf connection`.

Prompt Flow keeps connections in a local store under `~/.promptflow`; the gate must not read or
write the user's home, and CI has only environment variables. So every connection a flow asks for
(a node's `connection:`, a node input of connection type, a flex flow's `init` argument or
`model_config.connection`, a prompty's `configuration.connection`) is built here, by name, when it
is first asked for (first match wins):

1. an explicit entry: experiment.yaml's `connections:` list (`name`, `connection_type`,
   `api_base`/`api_endpoint`, `api_key: ${api_key}`, `api_version`, `api_type`) or a suite
   subject's `connections:` mapping (`name: {type, api_base, ...}`, or `name: <model name>` to use
   one of the gate's named models). A `${x}` placeholder is read, as the GenAIOps template reads
   it, from the variable `<NAME>_<X>` upper-cased (`openai_conn` + `${api_key}` ->
   `OPENAI_CONN_API_KEY`), else from `x` itself (`${AOAI_API_KEY}`); `${env:X}` as in .prompty
   files. The project's `.env` counts as the environment. A literal key in a file is refused;
2. environment variables named after the connection: `<NAME>_API_KEY` with `<NAME>_API_BASE` (or
   `<NAME>_ENDPOINT`/`<NAME>_API_ENDPOINT`) and optional `<NAME>_API_VERSION` make an Azure OpenAI
   connection; `<NAME>_BASE_URL` (no api base) an OpenAI-compatible one; `<NAME>_CONNECTION_TYPE`
   (`custom`, `openai`, `azure_openai`) chooses the type, and a custom connection takes every
   `<NAME>_<FIELD>` as field `<field>`;
3. the gate's default subject model (`OPENAI_*` / `AZURE_OPENAI_*`, or `models:`).

A connection that cannot be built raises `ConnectionError_` naming the connection and the variables
to set: the item errors with that line (never a skip).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_llmgate.errors import SpecError

__all__ = ["ConnectionError_", "ConnectionSource", "build_connections", "env_prefix"]

_PLACEHOLDER = re.compile(r"\$\{(env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
_TYPES = {
    "azureopenaiconnection": "AzureOpenAIConnection",
    "azure_openai": "AzureOpenAIConnection",
    "azureopenai": "AzureOpenAIConnection",
    "azure": "AzureOpenAIConnection",
    "openaiconnection": "OpenAIConnection",
    "openai": "OpenAIConnection",
    "customconnection": "CustomConnection",
    "custom": "CustomConnection",
}
_RENAMES = {"api_endpoint": "api_base", "endpoint": "api_base", "azure_endpoint": "api_base"}
_META = {"name", "connection_type", "type", "module", "secret_keys"}
_SECRETS = {"api_key", "key", "secret"}
_SECRET_FIELD = re.compile(r"(key|secret|token|password)", re.IGNORECASE)


class ConnectionError_(SpecError):
    """A connection cannot be built (names the connection and the variables to set)."""


def env_prefix(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _hint(name: str) -> str:
    prefix = env_prefix(name)
    return (
        f"set {prefix}_API_KEY with {prefix}_API_BASE (Azure OpenAI) or {prefix}_BASE_URL "
        f"(OpenAI-compatible), or declare it under connections:"
    )


def _resolve(name: str, key: str, value: Any, env: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    if key in _SECRETS and value and not _PLACEHOLDER.search(value):
        raise ConnectionError_(
            f"connection {name!r}: {key} must be a ${{VAR}} placeholder, not a literal secret"
        )

    def sub(match: re.Match[str]) -> str:
        explicit_env, var = match.group(1), match.group(2)
        # the GenAIOps template's convention first: `${api_key}` of `openai_conn` is
        # OPENAI_CONN_API_KEY; then the variable named in the placeholder itself
        candidates = [var] if explicit_env else [f"{env_prefix(name)}_{var.upper()}", var]
        for candidate in candidates:
            if env.get(candidate):
                return env[candidate]
        raise ConnectionError_(
            f"connection {name!r}: {key} needs environment variable "
            f"{' or '.join(dict.fromkeys(candidates))} (not set)"
        )

    return _PLACEHOLDER.sub(sub, value)


def _entry(name: str, typ: str, value: dict[str, Any], secret_keys: Iterable[str] = ()) -> dict[
    str, Any
]:
    if typ == "OpenAIConnection":
        value.pop("api_type", None)
        value.pop("api_version", None)
        if "api_base" in value:
            value["base_url"] = value.pop("api_base")
    entry: dict[str, Any] = {"type": typ, "name": name, "module": "promptflow.connections"}
    if typ == "CustomConnection":
        entry["secret_keys"] = [
            k for k in value if k in _SECRETS or _SECRET_FIELD.search(k) or k in secret_keys
        ]
    entry["value"] = value
    return entry


def _explicit(name: str, spec: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    raw_type = str(spec.get("connection_type") or spec.get("type") or "AzureOpenAIConnection")
    typ = _TYPES.get(raw_type.lower(), raw_type)
    value: dict[str, Any] = {}
    for key, item in spec.items():
        if key in _META:
            continue
        key = _RENAMES.get(str(key), str(key)) if typ != "CustomConnection" else str(key)
        value[key] = _resolve(name, key, item, env)
    return _entry(name, typ, value, spec.get("secret_keys") or ())


def _from_env(name: str, env: Mapping[str, str]) -> dict[str, Any] | None:
    prefix = env_prefix(name) + "_"
    fields = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix) and v}
    raw_type = fields.pop("connection_type", None) or fields.pop("type", None)
    if raw_type is not None:
        typ = _TYPES.get(raw_type.lower(), raw_type)
        if typ == "CustomConnection":
            return _entry(name, typ, fields)
    key = fields.get("api_key")
    base = next((fields[v] for v in ("api_base", "endpoint", "api_endpoint") if fields.get(v)),
                None)
    base_url = fields.get("base_url")
    api_type = fields.get("api_type", "azure").lower()
    value: dict[str, Any]
    if (raw_type is None and base and api_type == "azure") or (
        raw_type is not None and _TYPES.get(raw_type.lower()) == "AzureOpenAIConnection"
    ):
        if not base or not key:
            missing = [f"{prefix}API_KEY"] if not key else []
            missing += [] if base else [f"{prefix}API_BASE"]
            raise ConnectionError_(f"connection {name!r}: set {' and '.join(missing)}")
        value = {
            "api_base": base,
            "api_key": key,
            "api_type": "azure",
            "api_version": fields.get("api_version") or "2024-10-21",
        }
        typ = "AzureOpenAIConnection"
    elif base_url or base or key:
        value = {"api_key": key or "not-needed", "base_url": base_url or base}
        if fields.get("organization"):
            value["organization"] = fields["organization"]
        typ = "OpenAIConnection"
    else:
        return None
    return _entry(name, typ, value)


def _from_model(name: str, model: Any) -> dict[str, Any]:
    key = model.api_key.get() if model.api_key is not None else "not-needed"
    if model.kind == "azure":
        value = {
            "api_base": model.azure_endpoint,
            "api_key": key,
            "api_type": "azure",
            "api_version": model.api_version,
        }
        typ = "AzureOpenAIConnection"
    else:
        value = {"api_key": key, "base_url": model.endpoint}
        typ = "OpenAIConnection"
    return {"type": typ, "name": name, "module": "promptflow.connections", "value": value}


class ConnectionSource:
    """Connections by name for one flow: built on first use, each once."""

    def __init__(
        self,
        declared: Mapping[str, Any],
        *,
        rootdir: Path | None,
        suite_models: Mapping[str, Any] | None = None,
        source: str = "suite",
    ) -> None:
        self.declared = dict(declared)
        self.rootdir = rootdir
        self.suite_models = suite_models
        self.source = source
        self._built: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def entry(self, name: str) -> dict[str, Any]:
        """The connection dict (promptflow's `DictConnectionProvider` shape) for `name`."""
        with self._lock:
            found = self._built.get(name)
            if found is None:
                found = self._built[name] = self._build(name)
        return {**found, "value": dict(found["value"])}

    def _build(self, name: str) -> dict[str, Any]:
        from pytest_llmgate.config.models import environment, register_secret

        env = environment(self.rootdir)
        spec = self.declared.get(name)
        entry: dict[str, Any] | None
        if isinstance(spec, Mapping):
            entry = _explicit(name, spec, env)
        elif isinstance(spec, str) or spec is None:
            entry = None if isinstance(spec, str) else _from_env(name, env)
            if entry is None:
                entry = self._from_gate_model(name, spec)
        else:
            raise ConnectionError_(f"connection {name!r}: expected a mapping or a model name")
        for key, value in entry["value"].items():
            if (key in _SECRETS or key in entry.get("secret_keys", ())) and isinstance(value, str):
                register_secret(value)
        return entry

    def _from_gate_model(self, name: str, spec: str | None) -> dict[str, Any]:
        from pytest_llmgate.engine.runtime import ModelNotConfigured, model_for

        try:
            model = model_for(spec, "subject", suite_models=self.suite_models, source=self.source)
        except ModelNotConfigured as exc:
            if spec:
                raise ConnectionError_(f"connection {name!r}: {exc}") from None
            raise ConnectionError_(
                f"connection {name!r} is not configured: {_hint(name)}"
            ) from None
        if not model.available:
            raise ConnectionError_(
                f"connection {name!r}: {model.unavailable_reason()}; or {_hint(name)}"
            )
        return _from_model(name, model)


def build_connections(
    used: Iterable[str],
    declared: Mapping[str, Any],
    *,
    rootdir: Path | None,
    suite_models: Mapping[str, Any] | None = None,
    source: str = "suite",
) -> dict[str, dict[str, Any]]:
    """The connections dict for `FlowExecutor.create` (promptflow's DictConnectionProvider)."""
    connections = ConnectionSource(
        declared, rootdir=rootdir, suite_models=suite_models, source=source
    )
    return {name: connections.entry(name) for name in dict.fromkeys([*declared, *used])}
