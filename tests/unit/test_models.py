"""Model configs: placeholders, secrets, .env, environment-only models, the judge, prices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.config.models import (
    NO_MODEL_REASON,
    PRICES,
    ModelConfig,
    Price,
    Secret,
    azure_model_config,
    cost_usd,
    default_judge,
    environment,
    load_dotenv,
    load_models,
    models_configured,
    models_from_env,
    price_for,
    redact,
)
from pytest_llmgate.errors import InputError

KEY = "sk-unit-test-key-1234567890abcdef"
AZ_KEY = "0123456789abcdef0123456789abcdef"


def load(
    raw: dict[str, Any], env: dict[str, str] | None = None, **kw: Any
) -> dict[str, ModelConfig]:
    return load_models(raw, source=Path("thresholds.yaml"), env=env or {}, **kw)


def test_azure_model_with_placeholders() -> None:
    models = load(
        {
            "judge": {
                "kind": "azure",
                "azure_endpoint": "${AZURE_OPENAI_ENDPOINT}",
                "deployment": "gpt4o-prod",
                "model": "gpt-4o",
                "rpm": 300,
                "api_key": "${AZURE_OPENAI_API_KEY}",
            }
        },
        {"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_API_KEY": AZ_KEY},
        include_env=False,
    )
    judge = models["judge"]
    assert judge.kind == "azure"
    assert judge.azure_endpoint == "https://res.openai.azure.com"
    assert judge.api_key is not None
    assert judge.api_key.get() == AZ_KEY
    assert judge.api_version == "2024-10-21"
    assert judge.request_model == "gpt4o-prod"
    assert judge.price_model == "gpt-4o"
    assert judge.rpm == 300
    assert judge.available


def test_key_never_prints() -> None:
    cfg = load(
        {"m": {"model": "gpt-4o", "api_key": "${OPENAI_API_KEY}"}},
        {"OPENAI_API_KEY": KEY},
        include_env=False,
    )["m"]
    for text in (repr(cfg), str(cfg), f"{cfg.api_key}", repr(cfg.api_key), cfg.describe()):
        assert KEY not in text
    assert str(cfg.api_key) == "***"


@pytest.mark.parametrize(
    "value",
    ["sk-literal-secret-123456", "prefix-${OPENAI_API_KEY}", "${OPENAI_API_KEY:-fallback-secret}"],
)
def test_literal_secret_in_a_config_file_is_rejected(value: str) -> None:
    with pytest.raises(InputError) as info:
        load({"m": {"model": "gpt-4o", "api_key": value}}, include_env=False)
    message = str(info.value)
    assert message.startswith("thresholds.yaml: models.m.api_key: secrets must not be written")
    assert "\n" not in message
    assert "sk-literal-secret" not in message


def test_missing_variables_make_a_model_unavailable_not_an_error() -> None:
    cfg = load(
        {"j": {"azure_endpoint": "${AZURE_OPENAI_ENDPOINT}", "deployment": "d"}}, include_env=False
    )["j"]
    assert cfg.kind == "azure"
    assert not cfg.available
    assert cfg.missing == ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY")
    assert cfg.unavailable_reason() == (
        "model 'j' needs AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY (not set in the environment)"
    )


def test_placeholder_defaults_in_plain_fields() -> None:
    cfg = load(
        {"m": {"base_url": "${LOCAL_URL:-http://localhost:8000/v1}", "model": "llama"}},
        include_env=False,
    )["m"]
    assert cfg.base_url == "http://localhost:8000/v1"
    assert cfg.api_key is not None
    assert cfg.api_key.get() == "not-needed"  # never the user's OpenAI key to a custom server


@pytest.mark.parametrize(
    ("spec", "field", "problem"),
    [
        ({"model": "m", "colour": "red"}, "models.x.colour", "unknown setting"),
        ({"model": "m", "rpm": "fast"}, "models.x.rpm", "expected an integer"),
        ({"model": "m", "concurrency": True}, "models.x.concurrency", "expected an integer"),
        ({"model": "m", "concurrency": 0}, "models.x.concurrency", "must be positive"),
        ({"model": "m", "kind": "bedrock"}, "models.x.kind", "expected 'openai' or 'azure'"),
        ({"kind": "azure", "azure_endpoint": "https://a"}, "models.x.deployment", "is required"),
        ({"base_url": "http://x/v1"}, "models.x.model", "is required"),
        ({"model": "m", "base_url": "ftp://x"}, "models.x.base_url", "expected an http(s) URL"),
        ({"model": "m", "prices": {"input": 1}}, "models.x.prices.input", "expected input_per_1m"),
    ],
)
def test_invalid_specs_are_one_line_input_errors(
    spec: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InputError) as info:
        load({"x": spec}, include_env=False)
    assert info.value.field == field
    assert problem in info.value.problem


def test_azure_evaluation_style_names_are_accepted() -> None:
    cfg = load(
        {
            "j": {
                "type": "azure_openai",
                "azure_endpoint": "https://a.openai.azure.com",
                "azure_deployment": "dep",
                "api_key": "${K}",
            }
        },
        {"K": AZ_KEY},
        include_env=False,
    )["j"]
    assert (cfg.kind, cfg.deployment) == ("azure", "dep")


def test_dotenv_does_not_override_the_real_environment(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nexport OPENAI_API_KEY='from-dotenv-1234'\nOPENAI_MODEL=gpt-4.1 # trailing\n"
        'GREETING="a\\nb"\nREAL=dotenv\n',
        encoding="utf-8",
    )
    env = environment(tmp_path, base={"REAL": "real"})
    assert env["OPENAI_API_KEY"] == "from-dotenv-1234"
    assert env["OPENAI_MODEL"] == "gpt-4.1"
    assert env["GREETING"] == "a\nb"
    assert env["REAL"] == "real"
    assert redact("key=from-dotenv-1234") == "key=***"  # registered as a secret
    assert load_dotenv(tmp_path / "absent") == {}
    (tmp_path / "bad.env").write_text("not a pair\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.env:1: expected KEY=value"):
        load_dotenv(tmp_path / "bad.env")


def test_models_from_env() -> None:
    env = {
        "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com",
        "AZURE_OPENAI_API_KEY": AZ_KEY,
        "AZURE_OPENAI_DEPLOYMENT": "gpt-4o-dep",
        "OPENAI_API_VERSION": "2025-01-01-preview",
        "OPENAI_API_KEY": KEY,
        "OPENAI_MODEL": "gpt-4.1-mini",
        "LLMGATE_JUDGE_BASE_URL": "http://localhost:9000/v1",
        "LLMGATE_JUDGE_MODEL": "judge-llm",
    }
    models = models_from_env(env)
    assert models["azure"].deployment == "gpt-4o-dep"
    assert models["azure"].api_version == "2025-01-01-preview"
    assert models["openai"].model == "gpt-4.1-mini"
    assert models["openai"].base_url is None
    assert models["judge"].base_url == "http://localhost:9000/v1"
    assert models["judge"].model == "judge-llm"
    assert models_from_env({}) == {}
    partial = models_from_env({"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com"})["azure"]
    assert partial.missing == ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_DEPLOYMENT")


def test_default_judge_order() -> None:
    env = {"OPENAI_API_KEY": KEY}
    both = load(
        {
            "judge": {"model": "gpt-4o", "api_key": "${OPENAI_API_KEY}"},
            "subject": {"model": "gpt-4o-mini", "api_key": "${OPENAI_API_KEY}"},
        },
        env,
    )
    assert default_judge(both).name == "judge"  # type: ignore[union-attr]
    assert default_judge(both, name="subject").name == "subject"  # type: ignore[union-attr]
    assert default_judge(both, env={"LLMGATE_JUDGE": "openai"}).name == "openai"  # type: ignore[union-attr]
    only_env = load({}, env)
    assert default_judge(only_env).name == "openai"  # type: ignore[union-attr]
    assert default_judge(load({}, {})) is None
    with pytest.raises(InputError, match="judge model 'nope' is not configured"):
        default_judge(both, name="nope")


def test_config_names_win_over_environment_models() -> None:
    models = load(
        {"openai": {"base_url": "http://localhost:1/v1", "model": "x"}}, {"OPENAI_API_KEY": KEY}
    )
    assert models["openai"].base_url == "http://localhost:1/v1"


def test_azure_model_config_dicts() -> None:
    az = ModelConfig(
        name="a",
        kind="azure",
        deployment="d",
        azure_endpoint="https://e",
        api_version="2024-06-01",
        api_key=Secret(AZ_KEY),
    )
    assert azure_model_config(az) == {
        "type": "azure_openai",
        "azure_endpoint": "https://e",
        "azure_deployment": "d",
        "api_key": AZ_KEY,
        "api_version": "2024-06-01",
    }
    oa = ModelConfig(
        name="o", model="gpt-4o", base_url="http://localhost:8000/v1", api_key=Secret(KEY)
    )
    assert azure_model_config(oa) == {
        "type": "openai",
        "model": "gpt-4o",
        "api_key": KEY,
        "base_url": "http://localhost:8000/v1",
    }


def test_cache_identity_ignores_loopback_ports_and_keys() -> None:
    a = ModelConfig(name="a", model="m", base_url="http://127.0.0.1:4321/v1/", api_key=Secret(KEY))
    b = ModelConfig(name="b", model="m", base_url="http://localhost:9999/v1")
    c = ModelConfig(name="c", model="m", base_url="https://proxy.example.com:8443/v1")
    assert a.cache_identity() == b.cache_identity()
    assert c.cache_identity()["endpoint"] == "https://proxy.example.com:8443/v1"
    assert ModelConfig(name="d", model="m", cache_namespace="team").cache_identity()[
        "endpoint"
    ] == ("team")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("GPT-4.1-nano", "gpt-4.1-nano"),
        ("openai/o4-mini", "o4-mini"),
        ("gpt-35-turbo", "gpt-3.5-turbo"),
        ("text-embedding-3-small", "text-embedding-3-small"),
    ],
)
def test_price_lookup(model: str, expected: str) -> None:
    assert price_for(model) is PRICES[expected]


def test_cost_arithmetic() -> None:
    assert price_for("llama3.1:8b") is None
    assert cost_usd("llama3.1:8b", 1000, 1000) == 0.0
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.50)
    assert cost_usd("gpt-4o", 1000, 500) == pytest.approx((1000 * 2.5 + 500 * 10) / 1e6)
    assert cost_usd("gpt-4o-mini", 2000, 100) == pytest.approx((2000 * 0.15 + 100 * 0.6) / 1e6)
    azure = ModelConfig(name="a", kind="azure", deployment="prod-4o", model="gpt-4o")
    assert cost_usd(azure, 1000, 0) == pytest.approx(0.0025)
    custom = load(
        {
            "m": {
                "base_url": "http://localhost:1/v1",
                "model": "local",
                "prices": {"input_per_1k": 0.001, "output_per_1m": 3},
            }
        },
        include_env=False,
    )["m"]
    assert custom.price == Price(1.0, 3.0)
    assert cost_usd(custom, 1_000_000, 1_000_000) == pytest.approx(4.0)


def test_redact() -> None:
    Secret("my-registered-secret-value")
    text = (
        "auth failed for my-registered-secret-value; Authorization: Bearer abcdefghijklmnopqrstuv; "
        "api-key: 0123456789abcdef; key sk-proj-ABCDEFGHIJKLMNOPQRSTUV"
    )
    out = redact(text)
    for secret in (
        "my-registered-secret-value",
        "abcdefghijklmnopqrstuv",
        "0123456789abcdef",
        "sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
    ):
        assert secret not in out
    assert out.startswith("auth failed for ***;")
    assert redact("the model said hello") == "the model said hello"


def test_models_configured_gives_the_skip_reason(tmp_path: Path) -> None:
    assert models_configured(tmp_path, env={}) == NO_MODEL_REASON
    assert NO_MODEL_REASON.startswith("no judge model configured: set AZURE_OPENAI_ENDPOINT")
    assert models_configured(tmp_path, env={"OPENAI_API_KEY": KEY}) is None
    partial = {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com"}
    assert models_configured(tmp_path, env=partial) == (
        "model 'azure' needs AZURE_OPENAI_API_KEY, AZURE_OPENAI_DEPLOYMENT (not set in the "
        "environment)"
    )
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={KEY}\n", encoding="utf-8")
    assert models_configured(tmp_path, env={}) is None
    assert "judge model 'x' is not configured" in str(
        models_configured(tmp_path, env={"LLMGATE_JUDGE": "x"})
    )
    judge = ModelConfig(name="judge", model="m", base_url="http://localhost:1/v1")
    assert models_configured(None, models={"judge": judge}, env={}) is None
