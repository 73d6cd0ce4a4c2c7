"""Offline token counting for `--llm-gate-dry-run` cost estimates.

Backends, first available wins (`backend()` says which):
1. `bpe-openai` (optional, `pip install bpe-openai`: a 41 MB wheel that bundles `o200k_base` and
   `cl100k_base`, import ~1 s): exact counts with no network.
2. `tiktoken`, only when its encoding file is already in its cache (`TIKTOKEN_CACHE_DIR`,
   `DATA_GYM_CACHE_DIR`, or the temp dir's `data-gym-cache`): tiktoken downloads missing files on
   first use, and a dry run must never touch the network.
3. The documented estimate: one token per 4 characters, rounded up (OpenAI's rule of thumb for
   English; code and non-Latin scripts count more tokens, so treat estimates as a lower bound).

Chat messages add OpenAI's framing: 3 tokens per message, 1 per `name`, 3 to prime the reply.
Nothing is imported until the first count.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "CHARS_PER_TOKEN",
    "backend",
    "count_message_tokens",
    "count_tokens",
    "encoding_name",
    "estimate_tokens",
]

CHARS_PER_TOKEN = 4
_TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
# Model name prefixes on the older cl100k_base encoding; everything newer uses o200k_base.
_CL100K = ("gpt-4-", "gpt-4", "gpt-3.5", "gpt-35", "text-embedding-")


def encoding_name(model: str) -> str:
    """The tokenizer of `model`: `o200k_base` (gpt-4o, gpt-4.1, gpt-5, o-series, unknown models)
    or `cl100k_base` (gpt-4, gpt-4-turbo, gpt-3.5-turbo, text-embedding-*)."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5")):
        return "o200k_base"
    return "cl100k_base" if name.startswith(_CL100K) else "o200k_base"


def estimate_tokens(text: str) -> int:
    """The fallback estimate: ceil(characters / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _tiktoken_cached(name: str) -> bool:
    url = _TIKTOKEN_URL.format(name)
    key = hashlib.sha1(url.encode()).hexdigest()
    dirs = [
        os.environ.get("TIKTOKEN_CACHE_DIR"),
        os.environ.get("DATA_GYM_CACHE_DIR"),
        str(Path(tempfile.gettempdir()) / "data-gym-cache"),
    ]
    return any(d and (Path(d) / key).is_file() for d in dirs)


@lru_cache(maxsize=8)
def _encoder(name: str) -> tuple[str, Callable[[str], int] | None]:
    try:
        import bpe_openai  # type: ignore[import-not-found,unused-ignore]

        enc: Any = bpe_openai.get_encoding(name)
        return "bpe-openai", lambda text: len(enc.encode_ordinary(text))
    except Exception:  # not installed, or a broken build: fall through
        pass
    if _tiktoken_cached(name):
        try:
            import tiktoken  # type: ignore[import-not-found,unused-ignore]

            tk: Any = tiktoken.get_encoding(name)
            return "tiktoken", lambda text: len(tk.encode_ordinary(text))
        except Exception:
            pass
    return "estimate", None


def backend(model: str = "gpt-4o") -> str:
    """`bpe-openai`, `tiktoken` or `estimate`: what `count_tokens(..., model)` uses."""
    return _encoder(encoding_name(model))[0]


def count_tokens(text: str, model: str = "gpt-4o") -> int:
    """Tokens in `text` for `model` (exact with a tokenizer backend, else the estimate)."""
    count = _encoder(encoding_name(model))[1]
    return count(text) if count is not None else estimate_tokens(text)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return "" if content is None else str(content)


def count_message_tokens(messages: Sequence[Mapping[str, Any]], model: str = "gpt-4o") -> int:
    """Prompt tokens of a chat request, with OpenAI's per-message framing."""
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += 3 + count_tokens(_content_text(message.get("content")), model)
        total += count_tokens(str(message.get("role", "")), model)
        if message.get("name"):
            total += 1 + count_tokens(str(message["name"]), model)
    return total
