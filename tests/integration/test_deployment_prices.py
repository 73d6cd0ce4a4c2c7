"""Azure deployment names and the price table: a deployment is priced as the model its `models:`
entry names (`model:` / `base_model:`), for the gate's own calls and for calls that name only the
deployment; a cost rule over calls whose price is unknown fails closed with a line saying what to
set, instead of passing on a cost counted as $0."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.config.models import (
    PRICES,
    ModelConfig,
    cost_usd,
    load_models,
    price_for,
    priced,
)
from pytest_llmgate.testing import LLMServer

INI = "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\npythonpath = .\n"
ROWS = [{"id": "r1", "question": "What color is the sky?", "context": "The sky is blue."},
        {"id": "r2", "question": "What color is grass?", "context": "Grass is green."}]
SUITE = """
suite: priced
datasets:
  qa: ../data/qa.jsonl
subjects:
  answer:
    type: prompt
    model: deployed
    messages:
      - {role: system, content: "Answer from the context only."}
      - {role: user, content: "Context: {{ context }}\\nQuestion: {{ question }}"}
    parameters: {temperature: 0}
"""
THRESHOLDS = """
version: 1
models:
  deployed:
    kind: azure
    azure_endpoint: ${{MY_AZURE_ENDPOINT}}
    deployment: {deployment}
    api_key: ${{MY_AZURE_KEY}}
{extra}
metrics:
  cost_usd: {{aggregate: sum, max: 0.01}}
"""


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


@pytest.fixture
def project(pytester: pytest.Pytester, llm: LLMServer, llm_env: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in llm_env.items():  # the gate's judge (the session asks for one)
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MY_AZURE_ENDPOINT", llm.azure_endpoint)
    monkeypatch.setenv("MY_AZURE_KEY", "azure-key-0008")
    _write(pytester.path, "pytest.ini", INI)
    _write(pytester.path, "data/qa.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))
    _write(pytester.path, "suites/priced.yaml", SUITE)
    return pytester


def _item(pytester: pytest.Pytester) -> dict[str, Any]:
    data = json.loads((pytester.path / ".llmgate/results.json").read_text("utf-8"))
    (item,) = data["items"]
    return dict(item)


def test_unknown_deployment_price_fails_a_cost_rule_closed(
    project: pytest.Pytester, llm: LLMServer
) -> None:
    _write(project.path, "thresholds.yaml",
           THRESHOLDS.format(deployment="my-gpt4o-deploy-x1", extra=""))
    result = project.runpytest_subprocess("--llm-gate", "-p", "no:xdist")
    assert result.ret != 0
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*cost_usd: no price known for model 'deployed (deployment my-gpt4o-deploy-x1)' "
        "(counted as $0): for an Azure "
        "deployment name, give its `models:` entry `model: <the model behind it>`*"])
    item = _item(project)
    assert item["verdict"] == "failed"
    assert {c["metric"]: c["verdict"] for c in item["checks"]} == {"cost_usd": "error"}
    assert all(r["details"]["unpriced_models"] == ["deployed (deployment my-gpt4o-deploy-x1)"]
               for r in item["rows"])
    assert llm.routes["azure_chat"] == 2  # the calls were made; only their price is unknown


@pytest.mark.parametrize("key", ["model", "base_model"])
def test_deployment_priced_as_its_model(project: pytest.Pytester, llm: LLMServer,
                                        key: str) -> None:
    _write(project.path, "thresholds.yaml",
           THRESHOLDS.format(deployment="my-gpt4o-deploy-x2", extra=f"    {key}: gpt-4o"))
    result = project.runpytest_subprocess("--llm-gate", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    item = _item(project)
    for row in item["rows"]:
        metrics = row["metrics"]
        assert metrics["cost_usd"] == pytest.approx(
            (metrics["prompt_tokens"] * PRICES["gpt-4o"].input_per_1m
             + metrics["completion_tokens"] * PRICES["gpt-4o"].output_per_1m) / 1e6)
        assert "unpriced_models" not in row["details"]
    assert [e["path"] for e in llm.log] == [
        "/openai/deployments/my-gpt4o-deploy-x2/chat/completions"] * 2


def test_configured_deployment_prices_calls_that_name_only_the_deployment() -> None:
    """A flow connection or a user's own client sends only the deployment name: the configured
    entry maps it (its `model:`, or its own `prices:`); an unmapped name stays unpriced."""
    raw = {
        "a": {"kind": "azure", "azure_endpoint": "https://x.example", "deployment": "Dep-U1",
              "base_model": "gpt-4o-mini", "api_key": "${NOPE_KEY}"},
        "b": {"kind": "azure", "azure_endpoint": "https://x.example", "deployment": "dep-u2",
              "prices": {"input_per_1m": 1.0, "output_per_1m": 2.0}, "api_key": "${NOPE_KEY}"},
    }
    models = load_models(raw, source="thresholds.yaml", env={}, include_env=False)
    assert models["a"].model == "gpt-4o-mini" and models["a"].missing == ("NOPE_KEY",)
    assert price_for("dep-u1") == PRICES["gpt-4o-mini"]  # deployment names are case-insensitive
    assert cost_usd("dep-u2", 1_000_000, 1_000_000) == pytest.approx(3.0)
    ad_hoc = ModelConfig(name="flow", kind="azure", model="dep-u1", deployment="dep-u1",
                         azure_endpoint="https://y.example")
    assert priced(ad_hoc) and cost_usd(ad_hoc, 1_000_000, 0) == pytest.approx(0.15)
    assert not priced("dep-u3-unknown")
    assert cost_usd("dep-u3-unknown", 1000, 1000) == 0.0
