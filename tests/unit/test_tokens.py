"""Offline token counting: the encoding per model, exact backends, and the documented estimate."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from pytest_llmgate.engine import tokens

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
]


@pytest.fixture
def no_tokenizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "bpe_openai", None)  # import fails
    monkeypatch.setattr(tokens, "_tiktoken_cached", lambda name: False)
    tokens._encoder.cache_clear()
    yield
    tokens._encoder.cache_clear()


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("llama3", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
    ],
)
def test_encoding_per_model(model: str, encoding: str) -> None:
    assert tokens.encoding_name(model) == encoding


@pytest.mark.usefixtures("no_tokenizer")
def test_estimate_without_a_tokenizer() -> None:
    assert tokens.backend() == "estimate"
    assert tokens.estimate_tokens("") == 0
    assert tokens.count_tokens("abcde") == 2  # ceil(5 / 4)
    assert tokens.count_message_tokens(MESSAGES) == 3 + (3 + 7 + 2) + (3 + 2 + 1)


def test_exact_counts_with_bpe_openai() -> None:
    pytest.importorskip("bpe_openai")
    tokens._encoder.cache_clear()
    assert tokens.backend("gpt-4o") == "bpe-openai"
    assert tokens.count_tokens("Hello world", "gpt-4") == 2
    assert tokens.count_tokens("<|endoftext|> is plain text here", "gpt-4o") > 3
    # OpenAI's cookbook framing: 6 + 2 content, 1 + 1 roles, 3 per message, 3 priming.
    assert tokens.count_message_tokens(MESSAGES, "gpt-4") == 19
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello!"}], "name": "bob"}]
    assert tokens.count_message_tokens(parts, "gpt-4o") == 3 + 3 + 2 + 1 + 1 + 1
