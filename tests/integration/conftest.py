"""Fixtures of the tests that drive judges through the gate's engine against azure's own
evaluator classes, both on the test server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_llmgate.engine import runtime
from pytest_llmgate.testing import LLMServer
from pytest_llmgate.testing.fixtures import FAKE_KEY

# what azure's `<name>_properties` add that ours leave out (token counts and samples of the call)
TOKEN_METADATA = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "finish_reason",
                            "model", "sample_input", "sample_output"})


@pytest.fixture
def judge_session(
    llm: LLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """A prepared model session whose judge is the test server (cache off)."""
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMGATE_JUDGE_BASE_URL", llm.base_url)
    monkeypatch.setenv("LLMGATE_JUDGE_MODEL", "gpt-4o")
    monkeypatch.setenv("LLMGATE_JUDGE_API_KEY", FAKE_KEY)
    runtime.reset()
    runtime.prepare(SimpleNamespace(rootdir=tmp_path, thresholds_path=None, concurrency=8,
                                    cache_mode="off", cache_dir=None))
    yield
    runtime.finish()


@pytest.fixture
def chat_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every chat.completions.create call made through openai's async client, as its kwargs."""
    from openai.resources.chat.completions import AsyncCompletions

    seen: list[dict[str, Any]] = []
    original = AsyncCompletions.create

    async def create(self: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return await original(self, **kwargs)

    monkeypatch.setattr(AsyncCompletions, "create", create)
    return seen


def assert_same_result(
    ours: dict[str, Any], theirs: dict[str, Any], skip: frozenset[str] = frozenset()
) -> None:
    """Every output of azure's (but those in `skip`) is ours too, with the same value; a
    `_properties` dict is compared without azure's TOKEN_METADATA."""
    for key, value in theirs.items():
        if key in skip:
            continue
        if key.endswith("_properties") and isinstance(value, dict):
            assert ours[key] == {k: v for k, v in value.items() if k not in TOKEN_METADATA}
        else:
            assert ours[key] == value, key


def assert_same_requests(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """As many chat requests as azure made, each equal to azure's but for the model name, the
    headers and the timeout."""
    ignored = {"model", "extra_headers", "timeout"}
    assert len(ours) == len(theirs) > 0
    for mine, azure in zip(ours, theirs, strict=True):
        assert {k: v for k, v in mine.items() if k not in ignored} == {
            k: v for k, v in azure.items() if k not in ignored
        }


def azure_model_config(llm: LLMServer) -> Any:
    """azure-ai-evaluation's model configuration for gpt-4o on the test server."""
    from azure.ai.evaluation import OpenAIModelConfiguration

    return OpenAIModelConfiguration(
        type="openai", base_url=llm.base_url, api_key="x", model="gpt-4o"
    )
