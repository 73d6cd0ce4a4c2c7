"""Fixtures of the tests that drive judges through the gate's engine against azure's own
evaluator classes, both on the test server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, overload

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


class ChatRequests(Sequence[dict[str, Any]]):
    """The chat request bodies the test server received (what went on the wire, whichever
    client call sent them), oldest first; `clear()` starts afresh."""

    def __init__(self, llm: LLMServer) -> None:
        self.llm = llm
        llm.log.clear()

    def _bodies(self) -> list[dict[str, Any]]:
        return [e["body"] for e in self.llm.log if e["route"] in ("chat", "azure_chat")]

    def __len__(self) -> int:
        return len(self._bodies())

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self._bodies()[index]

    def clear(self) -> None:
        self.llm.log.clear()


@pytest.fixture
def chat_requests(llm: LLMServer) -> ChatRequests:
    """Every chat request the test server receives during the test, as its JSON body."""
    return ChatRequests(llm)


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
