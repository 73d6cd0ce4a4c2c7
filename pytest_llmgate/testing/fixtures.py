"""Pytest fixtures around the test server.

Load with `pytest_plugins = ["pytest_llmgate.testing.fixtures"]`:

- `llm_server`: one `LLMServer` per session (per xdist worker), started on a free port.
- `llm`: the same server, reset (counters and switches) before and after each test.
- `llm_model` / `llm_azure_model`: `ModelConfig`s pointing at it (OpenAI and Azure routes) with
  a fake key that tests can grep for in artifacts.
- `llm_env`: environment variables that configure a gate run to use the server as subject and judge.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_llmgate.config.models import ModelConfig, Secret
from pytest_llmgate.testing.server import LLMServer

__all__ = ["FAKE_KEY", "llm", "llm_azure_model", "llm_env", "llm_model", "llm_server"]

# Shaped like a real key so redaction patterns would catch it too; tests grep outputs for it.
FAKE_KEY = "sk-llmgate-test-0123456789abcdefSECRET"


@pytest.fixture(scope="session")
def llm_server() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture
def llm(llm_server: LLMServer) -> Iterator[LLMServer]:
    llm_server.reset()
    yield llm_server
    llm_server.reset()


@pytest.fixture
def llm_model(llm: LLMServer) -> ModelConfig:
    return ModelConfig(
        name="test", kind="openai", model="gpt-4o", base_url=llm.base_url, api_key=Secret(FAKE_KEY)
    )


@pytest.fixture
def llm_azure_model(llm: LLMServer) -> ModelConfig:
    return ModelConfig(
        name="test-azure",
        kind="azure",
        model="gpt-4o-mini",
        deployment="gpt-4o-mini-dep",
        azure_endpoint=llm.azure_endpoint,
        api_version="2024-10-21",
        api_key=Secret(FAKE_KEY),
    )


@pytest.fixture
def llm_env(llm: LLMServer) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": FAKE_KEY,
        "OPENAI_MODEL": "gpt-4o-mini",
        "LLMGATE_JUDGE_BASE_URL": llm.base_url,
        "LLMGATE_JUDGE_API_KEY": FAKE_KEY,
        "LLMGATE_JUDGE_MODEL": "gpt-4o",
    }
