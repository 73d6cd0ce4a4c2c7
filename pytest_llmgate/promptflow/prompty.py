"""The endpoint a `.prompty` file names in its `model.configuration`, as Prompt Flow reads it.

A prompty subject or judge runs on its own configuration unless the suite names a model: a
`connection:` is built like a flow's (`<NAME>_API_KEY`, ...); an `azure_endpoint` / `api_key`
(`${env:X}` resolved), or else `AZURE_OPENAI_ENDPOINT` / `AZURE_OPENAI_API_KEY`
(`OPENAI_BASE_URL` / `OPENAI_API_KEY` for `type: openai`) make an endpoint of their own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_llmgate.config.models import ModelConfig, Secret, environment, register_secret
from pytest_llmgate.promptflow.connections import ConnectionSource

__all__ = ["prompty_model"]

_ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")


def prompty_model(configuration: Mapping[str, Any], rootdir: Path, where: str) -> Any:
    """The model a prompty's `model.configuration` names, or None when it names no endpoint."""
    env = {**environment(rootdir), **os.environ}

    def value(key: str) -> str:
        raw = configuration.get(key)
        if not isinstance(raw, str):
            return "" if raw is None else str(raw)
        match = _ENV_REF.match(raw.strip())
        return env.get(match.group(1), "") if match else raw

    kind = value("type").lower() or "azure_openai"
    deployment = value("azure_deployment") or value("model") or value("deployment")
    name = f"prompty:{Path(where).name}"
    if value("connection"):
        entry = ConnectionSource({}, rootdir=rootdir).entry(value("connection"))
        fields = entry["value"]
        if entry["type"] == "AzureOpenAIConnection":
            endpoint, key, version, kind = (
                str(fields.get("api_base") or ""), str(fields.get("api_key") or ""),
                str(fields.get("api_version") or ""), "azure_openai",
            )
        else:
            endpoint, key, version, kind = (
                str(fields.get("base_url") or ""), str(fields.get("api_key") or ""), "", "openai"
            )
    elif kind in ("azure_openai", "azure"):
        # an empty configuration is read from the environment, as AzureOpenAIConnection.from_env
        endpoint = value("azure_endpoint") or env.get("AZURE_OPENAI_ENDPOINT", "")
        key = value("api_key") or env.get("AZURE_OPENAI_API_KEY", "")
        version = value("api_version") or env.get("OPENAI_API_VERSION", "")
    else:
        endpoint = value("base_url") or env.get("OPENAI_BASE_URL", "")
        key, version = value("api_key") or env.get("OPENAI_API_KEY", ""), ""
    if not endpoint or "${" in endpoint:
        return None
    register_secret(key)
    secret = Secret(key) if key else None
    if kind in ("azure_openai", "azure"):
        return ModelConfig(
            name=name, kind="azure", model=deployment, deployment=deployment or None,
            azure_endpoint=endpoint, api_version=version or "2024-10-21", api_key=secret,
            source=where,
        )
    return ModelConfig(
        name=name, kind="openai", model=deployment or "gpt-4o-mini", base_url=endpoint,
        api_key=secret, source=where,
    )
