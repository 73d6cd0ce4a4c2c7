"""Under xdist each worker gets its share of a model's declared budget (rpm, tpm, concurrency)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_llmgate.engine import runtime


@pytest.fixture
def session_reset() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


@pytest.mark.usefixtures("session_reset")
@pytest.mark.parametrize(("workers", "share", "concurrency"), [(None, 1.0, 8), ("4", 0.25, 2)])
def test_budget_is_divided_across_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str | None, share: float,
    concurrency: int,
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT", "LLMGATE_JUDGE"):
        monkeypatch.delenv(name, raising=False)
    if workers is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", workers)
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(
        "models:\n  judge:\n    base_url: http://127.0.0.1:9/v1\n    model: gpt-4o\n"
        "    concurrency: 8\n    rpm: 600\n",
        encoding="utf-8",
    )
    settings = SimpleNamespace(
        rootdir=tmp_path, thresholds_path=thresholds, concurrency=16, cache_mode="off"
    )
    runtime.prepare(settings)
    model = runtime.model_for("judge", "judge")
    assert model.concurrency == concurrency
    from pytest_llmgate.engine.llm import get_pool

    assert get_pool().rate_share == share
    runtime.finish()
