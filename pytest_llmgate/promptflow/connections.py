"""Prompt Flow connections built from configuration and the environment, never from `pf connection`.

Prompt Flow keeps connections in a local store under `~/.promptflow`; the gate must not read or
write the user's home, and CI has only environment variables. So every connection a flow uses is
built here, by name, from (first match wins):

1. an explicit entry: experiment.yaml's `connections:` list (`name`, `connection_type`,
   `api_base`/`api_endpoint`, `api_key: ${api_key}`, `api_version`, `api_type`) or a suite
   subject's `connections:` mapping (`name: {type, api_base, ...}`, or `name: <model name>` to use
   one of the gate's named models). `${VAR}` placeholders resolve from the environment and the
   project's `.env`; a literal key in a file is refused, as for `models:`;
2. environment variables named after the connection, `AOAI_API_KEY`-style: for connection `aoai`,
   `AOAI_API_KEY` with `AOAI_API_BASE` (or `AOAI_ENDPOINT`/`AOAI_API_ENDPOINT`) and optional
   `AOAI_API_VERSION` make an Azure OpenAI connection; `AOAI_BASE_URL` (no api base) an
   OpenAI-compatible one;
3. the gate's default subject model (`OPENAI_*` / `AZURE_OPENAI_*`, or `models:`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ConnectionError_", "build_connections", "env_prefix"]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TYPES = {
    "azureopenaiconnection": "AzureOpenAIConnection",
    "azure_openai": "AzureOpenAIConnection",
    "azure": "AzureOpenAIConnection",
    "openaiconnection": "OpenAIConnection",
    "openai": "OpenAIConnection",
    "customconnection": "CustomConnection",
    "custom": "CustomConnection",
}
_RENAMES = {"api_endpoint": "api_base", "endpoint": "api_base", "azure_endpoint": "api_base"}
_META = {"name", "connection_type", "type", "module", "secret_keys"}
_SECRETS = {"api_key", "key", "secret"}


class ConnectionError_(ValueError):
    """A connection cannot be built (names the connection and the missing variable)."""


def env_prefix(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _resolve(name: str, key: str, value: Any, env: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    if key in _SECRETS and value and not _PLACEHOLDER.search(value):
        raise ConnectionError_(
            f"connection {name!r}: {key} must be a ${{VAR}} placeholder, not a literal secret"
        )

    def sub(match: re.Match[str]) -> str:
        var = match.group(1)
        if not env.get(var):
            raise ConnectionError_(
                f"connection {name!r}: {key} needs environment variable {var} (not set)"
            )
        return env[var]

    return _PLACEHOLDER.sub(sub, value)


def _explicit(name: str, spec: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    raw_type = str(spec.get("connection_type") or spec.get("type") or "AzureOpenAIConnection")
    typ = _TYPES.get(raw_type.lower(), raw_type)
    value: dict[str, Any] = {}
    for key, item in spec.items():
        if key in _META:
            continue
        key = _RENAMES.get(str(key), str(key))
        value[key] = _resolve(name, key, item, env)
    if typ == "OpenAIConnection":
        value.pop("api_type", None)
        value.pop("api_version", None)
        if "api_base" in value:
            value["base_url"] = value.pop("api_base")
    entry: dict[str, Any] = {"type": typ, "name": name, "module": "promptflow.connections"}
    if typ == "CustomConnection":
        secret_keys = [k for k in value if k in _SECRETS or k in (spec.get("secret_keys") or [])]
        entry["secret_keys"] = secret_keys
    entry["value"] = value
    return entry


def _from_env(name: str, env: Mapping[str, str]) -> dict[str, Any] | None:
    prefix = env_prefix(name)
    key = env.get(f"{prefix}_API_KEY")
    base = next(
        (env[v] for v in (f"{prefix}_API_BASE", f"{prefix}_ENDPOINT", f"{prefix}_API_ENDPOINT")
         if env.get(v)),
        None,
    )
    base_url = env.get(f"{prefix}_BASE_URL")
    value: dict[str, Any]
    if base and (env.get(f"{prefix}_API_TYPE", "azure").lower() == "azure"):
        value = {
            "api_base": base,
            "api_key": key or "",
            "api_type": "azure",
            "api_version": env.get(f"{prefix}_API_VERSION") or "2024-10-21",
        }
        typ = "AzureOpenAIConnection"
    elif base_url or base or key:
        value = {"api_key": key or "not-needed", "base_url": base_url or base}
        typ = "OpenAIConnection"
    else:
        return None
    return {"type": typ, "name": name, "module": "promptflow.connections", "value": value}


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


def build_connections(
    used: Iterable[str],
    declared: Mapping[str, Any],
    *,
    rootdir: Path | None,
    suite_models: Mapping[str, Any] | None = None,
    source: str = "suite",
) -> dict[str, dict[str, Any]]:
    """The connections dict for `FlowExecutor.create` (promptflow's DictConnectionProvider)."""
    from pytest_llmgate.models import environment, register_secret

    env = environment(rootdir)
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys([*declared, *used]):
        spec = declared.get(name)
        entry: dict[str, Any] | None
        if isinstance(spec, Mapping):
            entry = _explicit(name, spec, env)
        elif isinstance(spec, str) or spec is None:
            entry = None if isinstance(spec, str) else _from_env(name, env)
            if entry is None:
                from pytest_llmgate.llm_session import model_for

                model = model_for(spec, "subject", suite_models=suite_models, source=source)
                if not model.available:
                    raise ConnectionError_(
                        f"connection {name!r}: {model.unavailable_reason()}; or set "
                        f"{env_prefix(name)}_API_KEY and {env_prefix(name)}_API_BASE"
                    )
                entry = _from_model(name, model)
        else:
            raise ConnectionError_(f"connection {name!r}: expected a mapping or a model name")
        for key, value in entry["value"].items():
            if key in _SECRETS and isinstance(value, str):
                register_secret(value)
        out[name] = entry
    return out
