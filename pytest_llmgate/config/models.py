"""Named model endpoints (Azure OpenAI, OpenAI, any OpenAI-compatible base_url), secrets, prices.

Secrets come only from the environment: a config file may name them with `${VAR}` placeholders, and
a literal key in a file is an input error. A `.env` file at the project root fills in variables the
real environment lacks. Every secret value resolved here is registered so `redact()` can mask it in
reports, logs and error messages; `ModelConfig` holds the key in a `Secret` that prints as `***`.

A model whose variables are not set is still loaded, with `missing` naming them: items that need it
are skipped (or fail under --llm-gate-require-models) with `unavailable_reason()`, not crashed.

Config shape (the `models:` mapping of thresholds.yaml or a suite file):

    models:
      judge:
        kind: azure                      # or openai (default); azure_openai/type are accepted too
        azure_endpoint: ${AZURE_OPENAI_ENDPOINT}
        deployment: gpt-4o
        api_version: "2024-10-21"
        api_key: ${AZURE_OPENAI_API_KEY} # the default for azure; openai: ${OPENAI_API_KEY}
        model: gpt-4o                    # the model behind the deployment, for the price table
                                         # (also `base_model:`); calls to this deployment name
                                         # from anywhere (flow connections, own clients) price so
        concurrency: 8
        rpm: 300
        tpm: 150000
        timeout_s: 60
        max_retries: 6
        prices: {input_per_1m: 2.5, output_per_1m: 10}   # or input_per_1k / output_per_1k
        cache_namespace: prod-gpt4o      # optional: replaces the endpoint in cache keys
      local:
        base_url: http://localhost:11434/v1
        model: llama3.1

Environment-only models: `azure` (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,
AZURE_OPENAI_DEPLOYMENT, OPENAI_API_VERSION), `openai` (OPENAI_API_KEY, OPENAI_BASE_URL,
OPENAI_MODEL) and `judge` (LLMGATE_JUDGE_BASE_URL or LLMGATE_JUDGE_AZURE_ENDPOINT, with
LLMGATE_JUDGE_MODEL, LLMGATE_JUDGE_DEPLOYMENT, LLMGATE_JUDGE_API_KEY, LLMGATE_JUDGE_API_VERSION).
`LLMGATE_JUDGE=<name>` picks the judge among all models."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pytest_llmgate.errors import InputError

if TYPE_CHECKING:
    from azure.ai.evaluation import AzureOpenAIModelConfiguration, OpenAIModelConfiguration

__all__ = [
    "DEFAULT_API_VERSION",
    "NO_MODEL_REASON",
    "PRICES",
    "ModelConfig",
    "Price",
    "Secret",
    "azure_model_config",
    "cost_usd",
    "default_judge",
    "environment",
    "load_dotenv",
    "load_models",
    "models_configured",
    "models_from_env",
    "price_for",
    "priced",
    "redact",
    "register_deployment",
    "register_secret",
]

DEFAULT_API_VERSION = "2024-10-21"
Kind = Literal["openai", "azure"]


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input_per_1m: float
    output_per_1m: float = 0.0


# List prices (USD per 1M tokens, standard tier) of common OpenAI models; Azure OpenAI global
# deployments charge the same. Override per model with `prices:` when your contract differs.
PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "o1": Price(15.00, 60.00),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "text-embedding-3-small": Price(0.02),
    "text-embedding-3-large": Price(0.13),
    "text-embedding-ada-002": Price(0.10),
}
# Azure's names for the same models.
_ALIASES = {"gpt-35-turbo": "gpt-3.5-turbo", "gpt-4o-mini-realtime": "gpt-4o-mini"}


class Secret:
    """A secret string that never prints: `str()`/`repr()` give `***`; `.get()` reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True)
class ModelConfig:
    """One named model endpoint. `model` is the model name sent (OpenAI) or the model behind the
    deployment (Azure, for prices); `deployment` is what Azure requests are routed by."""

    name: str
    kind: Kind = "openai"
    model: str = ""
    deployment: str | None = None
    base_url: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    api_key: Secret | None = field(default=None, repr=False)
    concurrency: int = 16
    rpm: int | None = None
    tpm: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 6
    price: Price | None = None
    cache_namespace: str | None = None
    missing: tuple[str, ...] = ()
    source: str = "<environment>"

    @property
    def request_model(self) -> str:
        """The `model` field of a request: the deployment on Azure, the model name elsewhere."""
        return (self.deployment or self.model) if self.kind == "azure" else self.model

    @property
    def price_model(self) -> str:
        return self.model or self.deployment or ""

    @property
    def endpoint(self) -> str:
        return (self.azure_endpoint if self.kind == "azure" else self.base_url) or (
            "https://api.openai.com/v1"
        )

    @property
    def available(self) -> bool:
        return not self.missing

    def unavailable_reason(self) -> str:
        if not self.missing:
            return ""
        return f"model {self.name!r} needs {', '.join(self.missing)} (not set in the environment)"

    def describe(self) -> str:
        """`name (azure deployment gpt-4o at host)` — for messages; never includes the key."""
        what = f"deployment {self.deployment}" if self.kind == "azure" else f"model {self.model}"
        return f"{self.name!r} ({self.kind} {what} at {urlsplit(self.endpoint).netloc or '?'})"

    def cache_identity(self) -> dict[str, str]:
        """What identifies the answering model in cache keys (see `cache.py` for why)."""
        return {
            "kind": self.kind,
            "endpoint": self.cache_namespace or _endpoint_identity(self.endpoint),
            "model": self.request_model,
        }


def _endpoint_identity(url: str) -> str:
    # Local servers (vLLM, Ollama, the test server) run on ephemeral or per-developer ports; the
    # same path on loopback is taken to be the same server, so a local cache can be replayed.
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host in ("localhost", "127.0.0.1", "::1") or host.startswith("127."):
        host = "localhost"
    elif parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}"


# --- secrets -------------------------------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)S?$", re.IGNORECASE)
_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{12,}"),
    re.compile(r"(?i)(api[-_]key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{8,}"),
)
_MIN_SECRET = 6  # shorter values would mask ordinary words all over a report


def register_secret(value: str | None) -> None:
    """Remember a secret value so `redact()` masks it."""
    if value and len(value) >= _MIN_SECRET:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with every known secret value, and anything shaped like a key, replaced by `***`."""
    if not text:
        return text
    with _SECRETS_LOCK:
        known = sorted(_SECRETS, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


# --- environment ---------------------------------------------------------------------------------

_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def load_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (`KEY=value`, `export KEY=value`, quotes, `#` comments); {} if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if not match:
            raise InputError(path, "expected KEY=value", line=number)
        key, value = match.groups()
        if value[:1] in ("'", '"') and value.endswith(value[0]) and len(value) >= 2:
            value = value[1:-1]
            if match.group(2).startswith('"'):
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.sub(r"\s+#.*$", "", value)
        values[key] = value
    return values


def environment(root: Path | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with `<root>/.env` underneath it (real variables win); secrets registered."""
    env = dict(os.environ if base is None else base)
    merged = {**(load_dotenv(root / ".env") if root is not None else {}), **env}
    for key, value in merged.items():
        if _SECRET_NAME.search(key):
            register_secret(value)
    return merged


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _resolve(value: str, env: Mapping[str, str], missing: list[str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    return _PLACEHOLDER.sub(sub, value)


# --- loading -------------------------------------------------------------------------------------

_FIELDS = {
    "kind": str,
    "model": str,
    "deployment": str,
    "base_url": str,
    "azure_endpoint": str,
    "api_version": str,
    "api_key": str,
    "concurrency": int,
    "rpm": int,
    "tpm": int,
    "timeout_s": (int, float),
    "max_retries": int,
    "prices": dict,
    "cache_namespace": str,
}
_RENAMES = {
    "type": "kind",
    "base_model": "model",
    "azure_deployment": "deployment",
    "endpoint": "azure_endpoint",
    "timeout": "timeout_s",
}


def load_models(
    raw: Mapping[str, Any] | None,
    *,
    source: Path | str,
    env: Mapping[str, str],
    include_env: bool = True,
) -> dict[str, ModelConfig]:
    """Named models from a `models:` mapping, plus the environment's (unless the name is taken)."""
    models: dict[str, ModelConfig] = {}
    if raw is not None and not isinstance(raw, Mapping):
        raise InputError(source, "expected a mapping of model names to settings", field="models")
    for name, spec in (raw or {}).items():
        if name == "azure_ai_project":  # the Azure AI project of the safety evaluators
            continue
        if not isinstance(spec, Mapping):
            raise InputError(source, "expected a mapping of settings", field=f"models.{name}")
        models[str(name)] = _model_from_spec(str(name), spec, source=str(source), env=env)
    if include_env:
        for name, config in models_from_env(env).items():
            models.setdefault(name, config)
    return models


def _model_from_spec(
    name: str, spec: Mapping[str, Any], *, source: str, env: Mapping[str, str]
) -> ModelConfig:
    where = f"models.{name}"
    values: dict[str, Any] = {}
    for key, value in spec.items():
        key = _RENAMES.get(str(key), str(key))
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise InputError(source, f"unknown setting (known: {known})", field=f"{where}.{key}")
        expected = _FIELDS[key]
        if isinstance(value, bool) or not isinstance(value, expected):  # type: ignore[arg-type]
            raise InputError(
                source, f"expected {_type_name(expected)}, got {value!r}", field=f"{where}.{key}"
            )
        values[key] = value
    given = values.pop("kind", "azure" if "azure_endpoint" in values else "openai")
    kinds: dict[str, Kind] = {"azure_openai": "azure", "azure": "azure", "openai": "openai"}
    kind = kinds.get(given)
    if kind is None:
        raise InputError(source, "expected 'openai' or 'azure'", field=f"{where}.kind")
    key_text = values.pop("api_key", None)
    if key_text is not None and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", key_text.strip()):
        raise InputError(
            source,
            "secrets must not be written in config files; use a placeholder such as "
            + ("${AZURE_OPENAI_API_KEY}" if kind == "azure" else "${OPENAI_API_KEY}"),
            field=f"{where}.api_key",
        )
    missing: list[str] = []
    for key, value in list(values.items()):
        if isinstance(value, str):
            values[key] = _resolve(value, env, missing)
    if key_text is None:
        key_text = _default_key(kind, values.get("base_url"))
    api_key = _resolve(key_text, env, missing) if key_text.startswith("${") else key_text
    price = _price_from_spec(values.pop("prices", None), source=source, where=where)
    for key in ("concurrency", "rpm", "tpm", "timeout_s"):
        if key in values and values[key] <= 0:
            raise InputError(source, "must be positive", field=f"{where}.{key}")
    if values.get("max_retries", 0) < 0:
        raise InputError(source, "must be zero or more", field=f"{where}.max_retries")
    if kind == "azure":
        for key in ("azure_endpoint", "deployment"):
            if key not in values:
                raise InputError(
                    source, "is required for an Azure OpenAI model", field=f"{where}.{key}"
                )
        values.setdefault("api_version", DEFAULT_API_VERSION)
    elif not values.get("model"):
        raise InputError(source, "is required (the model name to request)", field=f"{where}.model")
    for key in ("base_url", "azure_endpoint"):
        url = values.get(key)
        if url and not missing and urlsplit(url).scheme not in ("http", "https"):
            raise InputError(
                source, f"expected an http(s) URL, got {url!r}", field=f"{where}.{key}"
            )
    config = ModelConfig(
        name=name,
        kind=kind,
        api_key=Secret(api_key) if api_key else None,
        price=price,
        missing=tuple(dict.fromkeys(missing)),
        source=source,
        **values,
    )
    register_deployment(config)
    return config


def _default_key(kind: str, base_url: str | None) -> str:
    if kind == "azure":
        return "${AZURE_OPENAI_API_KEY}"
    if not base_url or urlsplit(base_url).hostname == "api.openai.com":
        return "${OPENAI_API_KEY}"
    # Never send the user's OpenAI key to some other server by default; local servers ignore keys.
    return "not-needed"


def _type_name(expected: Any) -> str:
    if isinstance(expected, tuple):
        return "a number"
    return {str: "a string", int: "an integer", dict: "a mapping"}[expected]


def _price_from_spec(spec: Any, *, source: str, where: str) -> Price | None:
    if spec is None:
        return None
    per_1m: dict[str, float] = {}
    for key, value in spec.items():
        scale = {"_per_1m": 1.0, "_per_1k": 1000.0}.get(str(key)[-7:])
        side = str(key)[: -len("_per_1m")]
        if scale is None or side not in ("input", "output") or not isinstance(value, (int, float)):
            raise InputError(
                source,
                "expected input_per_1m/output_per_1m (or _per_1k) numbers",
                field=f"{where}.prices.{key}",
            )
        per_1m[side] = float(value) * scale
    return Price(per_1m.get("input", 0.0), per_1m.get("output", 0.0))


def models_from_env(env: Mapping[str, str]) -> dict[str, ModelConfig]:
    """Models configured by the usual environment variables alone (see the module docstring)."""
    out: dict[str, ModelConfig] = {}

    def get(*names: str) -> str | None:
        return next((env[n] for n in names if env.get(n)), None)

    azure_endpoint = get("AZURE_OPENAI_ENDPOINT")
    azure_version = get("OPENAI_API_VERSION", "AZURE_OPENAI_API_VERSION") or DEFAULT_API_VERSION
    if azure_endpoint:
        deployment = get(
            "AZURE_OPENAI_DEPLOYMENT",
            "AZURE_OPENAI_DEPLOYMENT_NAME",
            "AZURE_OPENAI_CHAT_DEPLOYMENT_NAME",
        )
        key = get("AZURE_OPENAI_API_KEY")
        out["azure"] = ModelConfig(
            name="azure",
            kind="azure",
            azure_endpoint=azure_endpoint,
            deployment=deployment or "",
            model=get("AZURE_OPENAI_MODEL") or deployment or "",
            api_version=azure_version,
            api_key=Secret(key) if key else None,
            missing=tuple(
                n
                for n, v in (("AZURE_OPENAI_API_KEY", key), ("AZURE_OPENAI_DEPLOYMENT", deployment))
                if not v
            ),
        )
    base_url, openai_key = get("OPENAI_BASE_URL"), get("OPENAI_API_KEY")
    if base_url or openai_key:
        key = openai_key or ("not-needed" if base_url else None)
        out["openai"] = ModelConfig(
            name="openai",
            kind="openai",
            base_url=base_url,
            model=get("OPENAI_MODEL") or "gpt-4o-mini",
            api_key=Secret(key) if key else None,
        )
    judge_url, judge_azure = get("LLMGATE_JUDGE_BASE_URL"), get("LLMGATE_JUDGE_AZURE_ENDPOINT")
    judge_key = get("LLMGATE_JUDGE_API_KEY")
    if judge_azure:
        deployment = get("LLMGATE_JUDGE_DEPLOYMENT") or ""
        out["judge"] = ModelConfig(
            name="judge",
            kind="azure",
            azure_endpoint=judge_azure,
            deployment=deployment,
            model=get("LLMGATE_JUDGE_MODEL") or deployment,
            api_version=get("LLMGATE_JUDGE_API_VERSION") or azure_version,
            api_key=Secret(judge_key) if judge_key else None,
            missing=tuple(
                n
                for n, v in (
                    ("LLMGATE_JUDGE_API_KEY", judge_key),
                    ("LLMGATE_JUDGE_DEPLOYMENT", deployment),
                )
                if not v
            ),
        )
    elif judge_url:
        out["judge"] = ModelConfig(
            name="judge",
            kind="openai",
            base_url=judge_url,
            model=get("LLMGATE_JUDGE_MODEL") or "gpt-4o",
            api_key=Secret(judge_key or "not-needed"),
        )
    for config in out.values():
        register_deployment(config)  # AZURE_OPENAI_MODEL names the deployment's model
    return out


def default_judge(
    models: Mapping[str, ModelConfig],
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    source: Path | str | None = None,
) -> ModelConfig | None:
    """The judge: `name` (the config's `judge:` key) or LLMGATE_JUDGE, else a model called
    `judge`, else the environment's `azure` then `openai` model; None when nothing is configured."""
    chosen = name or (env or {}).get("LLMGATE_JUDGE")
    if chosen:
        if chosen not in models:
            known = ", ".join(sorted(models)) or "none"
            raise InputError(
                source, f"judge model {chosen!r} is not configured (models: {known})", field="judge"
            )
        return models[chosen]
    for candidate in ("judge", "azure", "openai"):
        if candidate in models:
            return models[candidate]
    return None


NO_MODEL_REASON = (
    "no judge model configured: set AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and "
    "AZURE_OPENAI_DEPLOYMENT, or OPENAI_BASE_URL / OPENAI_API_KEY (or add `models:` to "
    "thresholds.yaml)"
)


def models_configured(
    root: Path | str | None = None,
    *,
    models: Mapping[str, ModelConfig] | None = None,
    env: Mapping[str, str] | None = None,
) -> str | None:
    """None when a usable judge is configured (config `models` or the environment, with
    `<root>/.env`), else the one-line reason to skip the items that need a model."""
    merged = environment(Path(root) if root is not None else None, env)
    found = dict(models or {})
    for name, config in models_from_env(merged).items():
        found.setdefault(name, config)
    try:
        judge = default_judge(found, env=merged)
    except InputError as exc:
        return exc.problem
    if judge is None:
        return NO_MODEL_REASON
    return judge.unavailable_reason() or None


def azure_model_config(
    cfg: ModelConfig,
) -> AzureOpenAIModelConfiguration | OpenAIModelConfiguration:
    """The azure-ai-evaluation model configuration for `cfg`.

    Those types are TypedDicts, i.e. plain dicts at run time, so they are built without importing
    azure.ai.evaluation (seconds). The result holds the key: hand it to the SDK, never print it.
    """
    key = cfg.api_key.get() if cfg.api_key else ""
    if cfg.kind == "azure":
        return {
            "type": "azure_openai",
            "azure_endpoint": cfg.azure_endpoint or "",
            "azure_deployment": cfg.deployment or "",
            "api_key": key,
            "api_version": cfg.api_version or DEFAULT_API_VERSION,
        }
    out: dict[str, Any] = {"type": "openai", "model": cfg.model, "api_key": key}
    if cfg.base_url:
        out["base_url"] = cfg.base_url
    return out  # type: ignore[return-value]


# --- prices --------------------------------------------------------------------------------------


# Azure deployment name -> the price of the model behind it, from configured models (`model:` /
# `base_model:` or `prices:` on an azure entry). A flow's connection or a user's own client names
# only the deployment; this is how its calls are priced.
_DEPLOYMENTS: dict[str, Price | str] = {}
_DEPLOYMENTS_LOCK = threading.Lock()


def register_deployment(config: ModelConfig) -> None:
    """Remember what an Azure deployment of `config` costs (its `prices:` or its `model:`)."""
    deployment = (config.deployment or "").strip().lower()
    if config.kind != "azure" or not deployment:
        return
    target: Price | str | None = config.price
    if target is None and config.model and config.model.strip().lower() != deployment:
        target = config.model
    if target is not None:
        with _DEPLOYMENTS_LOCK:
            _DEPLOYMENTS[deployment] = target


def price_for(model: str, table: Mapping[str, Price] | None = None) -> Price | None:
    """The price of `model`: a configured Azure deployment's model (see `register_deployment`),
    exact name, Azure alias, or the longest known prefix of a dated snapshot
    (`gpt-4o-2024-08-06` -> `gpt-4o`); a `provider/` prefix is ignored. None: unknown."""
    if table is None:
        with _DEPLOYMENTS_LOCK:
            mapped = _DEPLOYMENTS.get(model.strip().lower())
        if isinstance(mapped, Price):
            return mapped
        if mapped:
            model = mapped
    table = PRICES if table is None else table
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = _ALIASES.get(name, name)
    if name in table:
        return table[name]
    best = max((k for k in table if name.startswith(k + "-")), key=len, default=None)
    return table[best] if best else None


def priced(model: ModelConfig | str) -> bool:
    """Whether `cost_usd` knows a price for `model` (else its 0.0 means unknown, not free)."""
    if isinstance(model, ModelConfig):
        return model.price is not None or price_for(model.price_model) is not None
    return price_for(model) is not None


def cost_usd(
    model: ModelConfig | str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    price: Price | None = None,
) -> float:
    """USD for one call; 0.0 when the model's price is unknown (a local model, say)."""
    if price is None:
        if isinstance(model, ModelConfig):
            price = model.price or price_for(model.price_model)
        else:
            price = price_for(model)
    if price is None:
        return 0.0
    return (prompt_tokens * price.input_per_1m + completion_tokens * price.output_per_1m) / 1e6
