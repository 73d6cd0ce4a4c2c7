"""The call cache: key canonicalization (property tests), modes, the one-file store, many writer
processes, the migration from the one-file-per-entry layout, prune and stats."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.cli.main import main as llmgate
from pytest_llmgate.config.models import ModelConfig, Secret
from pytest_llmgate.engine import cache_db
from pytest_llmgate.engine.cache import (
    CacheMissError,
    ResponseCache,
    cache_key,
    canonical_json,
)
from pytest_llmgate.errors import ModelCallError

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


def test_keys_are_the_ones_earlier_versions_wrote() -> None:
    """Pinned: the one-file cache migrated from the old layout must still hit. The hex was
    computed by the key code before the cache moved into SQLite (commit 18293d2)."""
    from collections import OrderedDict

    request = {
        "messages": [
            {"role": "system", "content": "Be brief. é"},
            {"role": "user", "content": "Hi?", "name": None},
        ],
        "temperature": 0.0,
        "max_tokens": 800,
        "top_p": 1.0,
        "response_format": OrderedDict(type="json_object"),
        "stop": ("a", "b"),
        "seed": None,
        "logit_bias": {1: 2.5},
    }
    got = cache_key(op="chat", model=MODEL, request=request, repeat=2,
                    extra={"evaluator": "groundedness", "version": 1})
    assert got == "7cdd43bb0734f227f0f49e1bf9aa327367729d84cbaa534a4771f2a9fdb66fe9"


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


def ckey(i: int | str) -> str:
    return key({"messages": [{"role": "user", "content": str(i)}]})


def files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_rw_round_trip_in_one_file(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c", "rw")
    k = key({"messages": MESSAGES})
    assert cache.get(k) is None
    cache.put(k, {"text": "hello", "cost_usd": 0.25}, meta={"op": "chat", "model": "gpt-4o"})
    assert cache.get(k) == {"text": "hello", "cost_usd": 0.25}  # pending or written: visible
    cache.flush()
    assert ResponseCache(tmp_path / "c", "ro").get(k) == {"text": "hello", "cost_usd": 0.25}
    assert cache.stats.as_dict() == {
        "hits": 1,
        "misses": 1,
        "writes": 1,
        "corrupt": 0,
        "write_errors": 0,
        "saved_usd": 0.25,
    }
    assert cache.entries() == 1
    cache.close()
    assert files(tmp_path / "c") == ["cache.sqlite3"]  # the WAL is folded back on close
    assert cache.clear() == 1
    assert cache.entries() == 0
    cache.close()


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


def test_read_only_never_creates_or_changes_the_file(tmp_path: Path) -> None:
    empty = ResponseCache(tmp_path / "none", "ro")
    assert empty.get(ckey(1)) is None
    assert not (tmp_path / "none").exists()
    writer = ResponseCache(tmp_path, "rw")
    writer.put(ckey(1), {"text": "one"})
    writer.close()
    before = (tmp_path / "cache.sqlite3").read_bytes()
    ro = ResponseCache(tmp_path, "ro")
    assert ro.get(ckey(1)) == {"text": "one"}
    assert ro.get(ckey(2)) is None
    ro.close()
    assert (tmp_path / "cache.sqlite3").read_bytes() == before
    assert files(tmp_path) == ["cache.sqlite3"]


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
    cache = ResponseCache(tmp_path, "rw", background=False)
    k = key({"messages": MESSAGES})
    cache.put(k, {"text": "fine"})
    with contextlib.closing(sqlite3.connect(tmp_path / "cache.sqlite3")) as conn, conn:
        conn.execute("UPDATE entries SET value = ? WHERE key = ?", ('{"te', k))
    cache.put(ckey("list"), {"text": "x"})
    with contextlib.closing(sqlite3.connect(tmp_path / "cache.sqlite3")) as conn, conn:
        conn.execute("UPDATE entries SET value = '[1]' WHERE key = ?", (ckey("list"),))
    assert cache.get(k) is None
    assert cache.get(ckey("list")) is None
    assert cache.stats.corrupt == 2
    cache.put(k, {"text": "fixed"})
    assert ResponseCache(tmp_path, "ro").get(k) == {"text": "fixed"}
    cache.close()


def test_a_file_that_is_not_a_database_costs_calls_not_the_run(tmp_path: Path) -> None:
    (tmp_path / "cache.sqlite3").write_bytes(b"this is not a database at all" * 100)
    cache = ResponseCache(tmp_path, "rw")
    assert cache.get(ckey(1)) is None
    cache.put(ckey(1), {"text": "lost"})
    cache.flush()
    assert cache.stats.write_errors == 1
    assert "cache.sqlite3" in (cache.last_write_error or "")
    with pytest.raises(CacheMissError):
        ResponseCache(tmp_path, "ro").lookup(ckey(1), "a call")
    cache.close()


def test_values_are_redacted_before_they_reach_disk(tmp_path: Path) -> None:
    Secret("sk-cache-secret-abcdef123456")
    cache = ResponseCache(tmp_path, "rw")
    k = key({"messages": MESSAGES})
    cache.put(k, {"text": "the key is sk-cache-secret-abcdef123456"},
              meta={"note": "sk-cache-secret-abcdef123456"})
    assert cache.get(k) == {"text": "the key is ***"}  # as the next run will read it
    cache.flush()
    for path in tmp_path.iterdir():
        assert b"sk-cache-secret" not in path.read_bytes()
    cache.close()


def test_background_writes_are_visible_at_once_and_durable_after_close(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, "rw")
    keys = [ckey(i) for i in range(50)]
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


# No close() or flush(): the interpreter-exit hook must commit the pending entries. Each worker
# writes the shared keys and its own, and reads the others' as they appear.
WRITER = """
import sys
from pytest_llmgate.engine.cache import ResponseCache
root, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
shared = sys.argv[4:]
cache = ResponseCache(root, "rw")
for n, k in enumerate(shared):
    cache.put(k, {"text": f"worker {worker} item {n}", "pad": "x" * 4000})
    cache.get(shared[-1 - n])
for n in range(count):
    cache.put(f"{worker}-{n:05d}", {"text": f"own {worker} {n}"})
    if n % 50 == 0:
        cache.flush()
"""


def test_many_processes_writing_one_file(tmp_path: Path) -> None:
    keys = [ckey(i) for i in range(60)]
    own = 400
    env = {**os.environ, "LLMGATE_RUN_ID": "xdist-like-run"}
    # Separate interpreters, as xdist workers are (fork would copy this process's threads).
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w), str(own), *keys],
                         env=env, stderr=subprocess.PIPE)
        for w in range(4)
    ]
    # wait for every process before asserting: a failure must not leave the others running
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors
    cache = ResponseCache(tmp_path, "ro")
    for n, k in enumerate(keys):
        value = cache.get(k)
        assert value is not None
        assert value["text"].endswith(f"item {n}")  # whole entries only, whichever worker won
    for w in range(4):
        for n in range(own):
            assert cache.get(f"{w}-{n:05d}") == {"text": f"own {w} {n}"}
    assert cache.stats.corrupt == 0
    assert cache.entries() == len(keys) + 4 * own
    cache.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "cache.sqlite3")) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT run, count(*) FROM runs").fetchall() == [("xdist-like-run", 1)]
    assert files(tmp_path) == ["cache.sqlite3"]


def write_legacy(root: Path, entries: dict[str, dict[str, Any]]) -> None:
    """The one-file-per-entry layout the cache used before the cache file."""
    for k, value in entries.items():
        path = cache_db.legacy_path(root, k)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"key": k, "created": 1700000000.5, "meta": {"op": "chat", "model": "m"},
                 "value": value}
        path.write_text(json.dumps(entry), encoding="utf-8")


def test_the_old_layout_is_imported_once_and_removed(tmp_path: Path) -> None:
    old = {ckey(i): {"text": f"old {i}", "cost_usd": 0.5} for i in range(30)}
    write_legacy(tmp_path, old)
    broken = cache_db.legacy_path(tmp_path, ckey("broken"))
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"key": "x", "val', encoding="utf-8")
    (broken.parent / ".stray.123.tmp").write_text("half", encoding="utf-8")
    misnamed = cache_db.legacy_path(tmp_path, ckey("misnamed"))
    misnamed.parent.mkdir(parents=True, exist_ok=True)
    misnamed.write_bytes(cache_db.legacy_path(tmp_path, ckey(0)).read_bytes())
    # read-only: the old layout is read where it lies, nothing is written
    ro = ResponseCache(tmp_path, "ro")
    assert ro.get(ckey(3)) == {"text": "old 3", "cost_usd": 0.5}
    assert ro.get(ckey("misnamed")) is None
    assert not (tmp_path / "cache.sqlite3").exists()
    rw = ResponseCache(tmp_path, "rw")
    assert all(rw.get(k) == v for k, v in old.items())
    assert rw.migrated == (30, 2)
    assert rw.get(ckey("broken")) is None
    rw.close()
    assert files(tmp_path) == ["cache.sqlite3"]
    assert ResponseCache(tmp_path, "ro").get(ckey(7)) == {"text": "old 7", "cost_usd": 0.5}


MIGRATOR = """
import sys
from pytest_llmgate.engine.cache import ResponseCache
cache = ResponseCache(sys.argv[1], "rw")
assert cache.get(sys.argv[2]) is not None, cache.last_write_error
"""


def test_concurrent_processes_migrate_once(tmp_path: Path) -> None:
    old = {ckey(i): {"text": f"old {i}"} for i in range(200)}
    write_legacy(tmp_path, old)
    procs = [
        subprocess.Popen([sys.executable, "-c", MIGRATOR, str(tmp_path), ckey(w)],
                         stderr=subprocess.PIPE)
        for w in range(3)
    ]
    # wait for every process before asserting: a failure must not leave the others running
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors
    cache = ResponseCache(tmp_path, "ro")
    assert cache.entries() == 200
    assert all(cache.get(k) == v for k, v in old.items())
    cache.close()
    assert files(tmp_path) == ["cache.sqlite3"]


def run_with(root: Path, run_id: str, monkeypatch: pytest.MonkeyPatch, mode: str = "rw"
             ) -> ResponseCache:
    monkeypatch.setenv("LLMGATE_RUN_ID", run_id)
    return ResponseCache(root, mode)


def surviving(root: Path, keys: list[str]) -> list[int]:
    cache = ResponseCache(root, "ro")
    alive = [i for i, k in enumerate(keys) if cache.get(k) is not None]
    cache.close()
    return alive


def test_prune_unused_keeps_what_the_last_run_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [ckey(i) for i in range(6)]
    first = run_with(tmp_path, "run-a", monkeypatch)
    for k in keys[:4]:
        first.put(k, {"text": k})
    first.close()
    second = run_with(tmp_path, "run-b", monkeypatch)
    assert second.get(keys[1]) is not None  # a hit marks the entry as used by run-b
    second.put(keys[4], {"text": "new"})
    second.close()
    replay = run_with(tmp_path, "run-c", monkeypatch, mode="ro")  # ro runs do not count
    assert replay.get(keys[2]) is not None
    replay.close()
    assert llmgate(["cache", "prune", "--dir", str(tmp_path), "--unused"]) == 0
    assert surviving(tmp_path, keys) == [1, 4]


def test_prune_older_than_a_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [ckey(i) for i in range(4)]
    old = run_with(tmp_path, "run-a", monkeypatch)
    for k in keys:
        old.put(k, {"text": k})
    old.close()
    cutoff = time.time()
    while time.time() <= cutoff:  # the next use must carry a later timestamp
        time.sleep(0.001)
    new = run_with(tmp_path, "run-b", monkeypatch)
    assert new.get(keys[2]) is not None
    new.close()
    conn = cache_db.connect(tmp_path / "cache.sqlite3", create=True)
    assert cache_db.prune(conn, before=cutoff) == 3
    conn.close()
    assert surviving(tmp_path, keys) == [2]


def test_cli_stats_migrate_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_legacy(tmp_path / "c", {ckey(i): {"text": "x" * 100} for i in range(5)})
    assert llmgate(["cache", "migrate", "--dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "imported 5 entries from the old layout" in out
    assert files(tmp_path / "c") == ["cache.sqlite3"]
    assert llmgate(["cache", "stats", "--dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "5 entries" in out
    assert "       5  chat   m" in out
    assert llmgate(["cache", "prune", "--dir", str(tmp_path / "c"), "--unused"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmgate cache: error: ") and "no run is recorded" in err
    assert llmgate(["cache", "prune", "--dir", str(tmp_path / "c")]) == 2
    assert "give --older-than DATE and/or --unused" in capsys.readouterr().err
    assert llmgate(["cache", "stats", "--dir", str(tmp_path / "nothing")]) == 2
    assert "no call cache here" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        llmgate(["cache", "prune", "--dir", str(tmp_path / "c"), "--older-than", "last tuesday"])
    assert info.value.code == 2
    assert "expected a date (2026-01-31)" in capsys.readouterr().err
    assert llmgate(["cache", "prune", "--dir", str(tmp_path / "c"), "--older-than",
                    "2023-11-15"]) == 0  # the imported entries were last used 2023-11-14
    assert "pruned 5 of 5 entries" in capsys.readouterr().out
    assert llmgate(["cache", "clear", "--dir", str(tmp_path / "c")]) == 0


@given(days=st.integers(0, 3650))
def test_relative_dates(days: int) -> None:
    import datetime as dt

    from pytest_llmgate.cli.cache import parse_when

    now = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    assert parse_when(f"{days}d", now=now) == (now - dt.timedelta(days=days)).timestamp()
    assert parse_when("2026-06-01", now=now) == now.timestamp()
    assert parse_when("2026-06-01T02:00+02:00") == now.timestamp()
