"""The call cache: key canonicalization (property tests), modes, atomic writes, many writers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.cache import (
    CacheMissError,
    ResponseCache,
    cache_key,
    canonical_json,
)
from pytest_llmgate.errors import ModelCallError
from pytest_llmgate.models import ModelConfig, Secret

MODEL = {"kind": "openai", "endpoint": "http://localhost/v1", "model": "gpt-4o"}
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
params = st.dictionaries(
    st.sampled_from(
        [
            "temperature",
            "top_p",
            "max_tokens",
            "seed",
            "stop",
            "n",
            "response_format",
            "presence_penalty",
            "logit_bias",
            "tools",
        ]
    ),
    json_values,
    max_size=6,
)


def key(request: dict[str, Any], **kw: Any) -> str:
    return cache_key(op="chat", model=kw.pop("model", MODEL), request=request, **kw)


@settings(max_examples=150, deadline=None)
@given(params=params, seed=st.randoms(use_true_random=False))
def test_key_ignores_dict_order(params: dict[str, Any], seed: Any) -> None:
    items = list(params.items())
    seed.shuffle(items)
    shuffled = dict(items)
    assert key({"messages": MESSAGES, **params}) == key({"messages": MESSAGES, **shuffled})


@settings(max_examples=150, deadline=None)
@given(params=params)
def test_key_is_stable_through_a_json_round_trip(params: dict[str, Any]) -> None:
    request = {"messages": MESSAGES, **params}
    assert key(request) == key(json.loads(json.dumps(request)))
    assert len(key(request)) == 64


@settings(max_examples=100, deadline=None)
@given(a=st.text(max_size=30), b=st.text(max_size=30))
def test_different_messages_give_different_keys(a: str, b: str) -> None:
    ka = key({"messages": [{"role": "user", "content": a}]})
    kb = key({"messages": [{"role": "user", "content": b}]})
    assert (ka == kb) == (a == b)


@given(value=st.integers(-(2**50), 2**50))
def test_integral_floats_equal_ints(value: int) -> None:
    assert canonical_json({"t": float(value)}) == canonical_json({"t": value})


def test_what_is_in_and_out_of_the_key() -> None:
    base = key({"messages": MESSAGES, "temperature": 0})
    same = [
        key({"messages": MESSAGES, "temperature": 0.0}),
        key(
            {
                "messages": MESSAGES,
                "temperature": 0,
                "timeout": 30,
                "user": "u",
                "extra_headers": {"api-key": "secret"},
                "seed": None,
            }
        ),
        key({"messages": [{**m, "name": None} for m in MESSAGES], "temperature": 0}),
        key({"messages": tuple(MESSAGES), "temperature": 0}),
    ]
    assert all(k == base for k in same)
    different = [
        key({"messages": MESSAGES, "temperature": 0.2}),
        key({"messages": MESSAGES, "temperature": 0, "seed": 1}),
        key({"messages": MESSAGES, "temperature": 0, "response_format": {"type": "json_object"}}),
        key({"messages": MESSAGES[1:], "temperature": 0}),
        key({"messages": MESSAGES, "temperature": 0}, repeat=1),
        key({"messages": MESSAGES, "temperature": 0}, extra={"evaluator": "groundedness@1"}),
        key({"messages": MESSAGES, "temperature": 0}, model={**MODEL, "model": "gpt-4o-mini"}),
        key({"messages": MESSAGES, "temperature": 0}, model={**MODEL, "kind": "azure"}),
        cache_key(op="embed", model=MODEL, request={"messages": MESSAGES, "temperature": 0}),
        key({"messages": MESSAGES, "temperature": True}),
        key({"messages": MESSAGES, "temperature": 1}),
    ]
    assert len({base, *different}) == len(different) + 1


def test_api_key_is_not_in_the_key() -> None:
    a = ModelConfig(
        name="a", model="gpt-4o", base_url="http://127.0.0.1:1/v1", api_key=Secret("key-one-123456")
    )
    b = ModelConfig(
        name="b", model="gpt-4o", base_url="http://127.0.0.1:2/v1", api_key=Secret("key-two-123456")
    )
    request = {"messages": MESSAGES}
    assert key(request, model=a.cache_identity()) == key(request, model=b.cache_identity())


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        key({"messages": MESSAGES, "temperature": float("nan")})


def test_rw_round_trip_and_layout(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c", "rw")
    k = key({"messages": MESSAGES})
    assert cache.get(k) is None
    cache.put(k, {"text": "hello", "cost_usd": 0.25}, meta={"model": "gpt-4o"})
    assert cache.get(k) == {"text": "hello", "cost_usd": 0.25}  # pending or written: visible
    cache.flush()
    path = tmp_path / "c" / "v1" / k[:2] / f"{k}.json"
    assert path.is_file()
    assert cache.path_for(k) == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left
    assert cache.stats.as_dict() == {
        "hits": 1,
        "misses": 1,
        "writes": 1,
        "corrupt": 0,
        "write_errors": 0,
        "saved_usd": 0.25,
    }
    assert cache.entries() == 1
    assert cache.clear() == 1
    assert cache.entries() == 0


def test_modes(tmp_path: Path) -> None:
    k = key({"messages": MESSAGES})
    ResponseCache(tmp_path, "rw", background=False).put(k, {"text": "old"})
    assert ResponseCache(tmp_path, "ro").get(k) == {"text": "old"}
    assert ResponseCache(tmp_path, "off").get(k) is None
    refresh = ResponseCache(tmp_path, "refresh", background=False)
    assert refresh.get(k) is None  # refresh never reads...
    refresh.put(k, {"text": "new"})  # ...but writes
    assert ResponseCache(tmp_path, "ro").get(k) == {"text": "new"}
    ResponseCache(tmp_path, "ro").put(k, {"text": "ignored"})
    ResponseCache(tmp_path, "off").put(k, {"text": "ignored"})
    assert ResponseCache(tmp_path, "rw").get(k) == {"text": "new"}
    with pytest.raises(ValueError, match="cache mode must be one of"):
        ResponseCache(tmp_path, "read")


def test_ro_miss_is_a_clear_model_call_error(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, "ro")
    with pytest.raises(CacheMissError) as info:
        cache.lookup("ab" * 32, "a judge call to model 'judge'")
    assert isinstance(info.value, ModelCallError)
    assert str(info.value).startswith(
        "no cached answer for a judge call to model 'judge' (cache is read-only:"
    )
    assert "--llm-gate-cache=rw" in str(info.value)
    assert ResponseCache(tmp_path, "rw").lookup("ab" * 32, "x") is None


def test_corrupt_entry_reads_as_a_miss_and_is_rewritten(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, "rw")
    k = key({"messages": MESSAGES})
    cache.path_for(k).parent.mkdir(parents=True)
    cache.path_for(k).write_text('{"key": "' + k + '", "value": {"te', encoding="utf-8")
    assert cache.get(k) is None
    assert cache.stats.corrupt == 1
    cache.put(k, {"text": "fixed"})
    assert cache.get(k) == {"text": "fixed"}
    other = key({"messages": MESSAGES[1:]})  # an entry copied under the wrong name
    cache.path_for(other).parent.mkdir(parents=True, exist_ok=True)
    cache.path_for(other).write_bytes(cache.path_for(k).read_bytes())
    assert cache.get(other) is None


def test_values_are_redacted_before_they_reach_disk(tmp_path: Path) -> None:
    Secret("sk-cache-secret-abcdef123456")
    cache = ResponseCache(tmp_path, "rw")
    k = key({"messages": MESSAGES})
    cache.put(k, {"text": "the key is sk-cache-secret-abcdef123456"})
    assert cache.get(k) == {"text": "the key is ***"}  # as the next run will read it
    cache.flush()
    assert "sk-cache-secret" not in cache.path_for(k).read_text(encoding="utf-8")


def test_background_writes_are_visible_at_once_and_durable_after_flush(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, "rw")
    keys = [key({"messages": [{"role": "user", "content": str(i)}]}) for i in range(50)]
    for i, k in enumerate(keys):
        cache.put(k, {"text": str(i)})
    assert all(cache.get(k) == {"text": str(i)} for i, k in enumerate(keys))
    cache.close()
    fresh = ResponseCache(tmp_path, "ro")
    assert all(fresh.get(k) == {"text": str(i)} for i, k in enumerate(keys))
    assert cache.stats.writes == 50
    cache.put(keys[0], {"text": "again"})  # a put after close starts a new writer
    cache.close()
    assert ResponseCache(tmp_path, "ro").get(keys[0]) == {"text": "again"}


def test_inline_writes(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, "rw", background=False)
    k = key({"messages": MESSAGES})
    cache.put(k, {"text": "now"})
    assert cache.path_for(k).is_file()


@pytest.mark.parametrize("background", [True, False])
def test_a_failing_write_is_counted_not_raised(tmp_path: Path, background: bool) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    cache = ResponseCache(blocker, "rw", background=background)
    cache.put(key({"messages": MESSAGES}), {"text": "lost"})
    cache.flush()
    assert cache.stats.write_errors == 1
    assert cache.last_write_error is not None
    assert cache.get(key({"messages": MESSAGES})) is None


# No close() or flush(): the interpreter-exit hook must write the pending entries.
WRITER = """
import sys
from pytest_llmgate.cache import ResponseCache
root, worker, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
cache = ResponseCache(root, "rw")
for n, k in enumerate(keys):
    cache.put(k, {"text": f"worker {worker} item {n}", "pad": "x" * 4000})
"""


def test_many_processes_writing_the_same_keys(tmp_path: Path) -> None:
    keys = [key({"messages": [{"role": "user", "content": str(i)}]}) for i in range(60)]
    # Separate interpreters, as xdist workers are (fork would copy this process's threads).
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w), *keys])
        for w in range(4)
    ]
    for p in procs:
        assert p.wait(60) == 0
    cache = ResponseCache(tmp_path, "ro")
    for n, k in enumerate(keys):
        value = cache.get(k)
        assert value is not None
        assert value["text"].endswith(f"item {n}")  # whole entries only, whichever worker won
    assert cache.stats.corrupt == 0
    assert not list(tmp_path.glob("v1/*/*.tmp"))
