"""`semantic_similarity` against the test server's `/v1/embeddings`, through the gate's engine.

Asserted from the server's side (its request log and counters): one request per row carrying both
texts, equal texts sent once, a cache hit sends nothing, bad input sends nothing and names the
field. The scores are checked against the cosine of the server's deterministic vectors, computed
here independently of the evaluator's HTTP path (base64 decoding, ordering).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmgate.engine import runtime
from pytest_llmgate.engine.loop import run_sync
from pytest_llmgate.engine.tokens import count_tokens
from pytest_llmgate.errors import EvaluationError
from pytest_llmgate.evaluators.embedding import SemanticSimilarity, cosine
from pytest_llmgate.evaluators.registry import resolve_evaluator
from pytest_llmgate.results.usage import Ledger, current_ledger
from pytest_llmgate.testing import LLMServer, answers
from pytest_llmgate.testing.fixtures import FAKE_KEY

TRUTH = "Refunds take five business days to arrive."
CLOSE = "Refunds arrive in five business days."
FAR = "Bananas are an excellent source of potassium."


def _prepare(tmp_path: Path, llm: LLMServer, cache_mode: str) -> None:
    thresholds = tmp_path / "thresholds.yaml"
    thresholds.write_text(
        "models:\n"
        "  embeddings:\n"
        f"    base_url: {llm.base_url}\n"
        "    model: text-embedding-3-small\n"
        "    api_key: ${LLMGATE_EMB_KEY}\n"
        "    max_retries: 2\n",
        encoding="utf-8",
    )
    runtime.reset()
    runtime.prepare(SimpleNamespace(rootdir=tmp_path, thresholds_path=thresholds,
                                        concurrency=8, cache_mode=cache_mode,
                                        cache_dir=tmp_path / "cache"))


@pytest.fixture
def session(llm: LLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("LLMGATE_EMB_KEY", FAKE_KEY)
    llm.retry_after = 0
    _prepare(tmp_path, llm, "rw")
    yield tmp_path
    runtime.finish()


def _score(ev: Any, **kwargs: Any) -> tuple[dict[str, Any], Ledger]:
    ledger = Ledger("judge")

    async def go() -> dict[str, Any]:
        token = current_ledger.set(ledger)
        try:
            result: dict[str, Any] = await ev(**kwargs)
            return result
        finally:
            current_ledger.reset(token)

    return run_sync(go()), ledger


def _expected(a: str, b: str, dims: int = 64) -> float:
    va, vb = answers.embedding(a, dims), answers.embedding(b, dims)
    dot = sum(x * y for x, y in zip(va, vb, strict=True))
    return dot / (math.sqrt(sum(x * x for x in va)) * math.sqrt(sum(x * x for x in vb)))


def _embedding_bodies(llm: LLMServer) -> list[dict[str, Any]]:
    return [e["body"] for e in llm.log if e["route"] == "embeddings"]


def test_both_texts_in_one_request_and_the_score_is_their_cosine(
    session: Path, llm: LLMServer
) -> None:
    ev = SemanticSimilarity()
    close, ledger = _score(ev, response=CLOSE, ground_truth=TRUTH)
    far, _ = _score(ev, response=FAR, ground_truth=TRUTH)
    bodies = _embedding_bodies(llm)
    assert [b["input"] for b in bodies] == [[CLOSE, TRUTH], [FAR, TRUTH]]
    assert all(b["model"] == "text-embedding-3-small" for b in bodies)
    assert close["semantic_similarity"] == pytest.approx(_expected(CLOSE, TRUTH), abs=1e-6)
    assert far["semantic_similarity"] == pytest.approx(_expected(FAR, TRUTH), abs=1e-6)
    assert close["semantic_similarity"] > far["semantic_similarity"]
    # cost through the engine: the server's token count at text-embedding-3-small's price
    [call] = ledger.calls
    tokens = answers.token_estimate(CLOSE) + answers.token_estimate(TRUTH)
    assert call.prompt_tokens == tokens
    assert call.cost_usd == pytest.approx(tokens * 0.02 / 1e6)
    assert not call.cached


def test_equal_texts_are_sent_once(session: Path, llm: LLMServer) -> None:
    got, _ = _score(SemanticSimilarity(), response=TRUTH, ground_truth=TRUTH)
    assert [b["input"] for b in _embedding_bodies(llm)] == [[TRUTH]]
    assert got["semantic_similarity"] == pytest.approx(1.0)


def test_dimensions_reach_the_request(session: Path, llm: LLMServer) -> None:
    got, _ = _score(SemanticSimilarity(dimensions=16), response=CLOSE, ground_truth=TRUTH)
    assert _embedding_bodies(llm)[0]["dimensions"] == 16
    assert got["semantic_similarity"] == pytest.approx(_expected(CLOSE, TRUTH, 16), abs=1e-6)


def test_a_cache_hit_sends_nothing_and_scores_the_same(
    session: Path, llm: LLMServer
) -> None:
    first, _ = _score(SemanticSimilarity(), response=CLOSE, ground_truth=TRUTH)
    assert llm.routes["embeddings"] == 1
    # a new session on the same cache directory: the answer comes from disk
    runtime.finish()
    _prepare(session, llm, "ro")
    again, ledger = _score(SemanticSimilarity(), response=CLOSE, ground_truth=TRUTH)
    assert llm.routes["embeddings"] == 1
    assert again == first
    [call] = ledger.calls
    assert call.cached
    assert call.cost_usd > 0  # a cached call reports what the original cost (money saved)


def test_429s_are_retried_by_the_engine(session: Path, llm: LLMServer) -> None:
    llm.error_rate_429 = 0.5
    scores = [_score(SemanticSimilarity(), response=f"{CLOSE} {n}", ground_truth=TRUTH)[0]
              for n in range(6)]
    assert llm.faults["429"] > 0
    assert all(-1 <= s["semantic_similarity"] <= 1 for s in scores)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"response": "", "ground_truth": TRUTH}, "response is empty"),
        ({"response": "  \n\t", "ground_truth": TRUTH}, "response is empty"),
        ({"response": CLOSE, "ground_truth": ""}, "ground_truth is empty"),
        ({"response": None, "ground_truth": TRUTH}, "response must be text, not NoneType"),
        ({"response": CLOSE, "ground_truth": ["a"]}, "ground_truth must be text, not list"),
        ({"response": "word " * 9000, "ground_truth": TRUTH},
         r"response is \d+ tokens, over the embedding input limit of 8192 \(set truncate"),
    ],
)
def test_bad_input_is_an_error_and_sends_nothing(
    session: Path, llm: LLMServer, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(EvaluationError, match=message):
        _score(SemanticSimilarity(), **kwargs)
    assert llm.requests == 0


def test_truncate_cuts_long_input_to_the_limit(session: Path, llm: LLMServer) -> None:
    long = "refunds " * 2000
    got, _ = _score(SemanticSimilarity(max_input_tokens=100, truncate=True), response=long,
                    ground_truth=TRUTH)
    [body] = _embedding_bodies(llm)
    sent = body["input"][0]
    assert long.startswith(sent)
    tokens = count_tokens(sent, "text-embedding-3-small")
    assert 80 < tokens <= 100  # cut to the limit, not far below it
    assert got["semantic_similarity_truncated"] == ["response"]


def test_unknown_model_names_the_configured_ones(session: Path) -> None:
    with pytest.raises(Exception, match="model 'nope' is not configured"):
        _score(SemanticSimilarity(model="nope"), response=CLOSE, ground_truth=TRUTH)


@pytest.mark.parametrize(
    "args", [{"dimensions": 0}, {"dimensions": "64"}, {"max_input_tokens": -1},
             {"truncate": "yes"}, {"model": ""}, {"unknown": 1}],
)
def test_bad_args_are_spec_errors(args: dict[str, Any]) -> None:
    from pytest_llmgate.evaluators.registry import EvaluatorSpecError

    with pytest.raises(EvaluatorSpecError, match="semantic_similarity: bad args"):
        resolve_evaluator(name="semantic_similarity", use="semantic_similarity", args=args)


def test_registered_as_a_builtin() -> None:
    bound = resolve_evaluator(name="semantic_similarity", use="semantic_similarity")
    assert not bound.needs_model  # not the judge: no judge skip, no judge repeats
    assert bound.outputs == ("semantic_similarity",)
    assert set(bound.signature.required) == {"response", "ground_truth"}


@pytest.mark.parametrize(
    ("a", "b", "problem"),
    [([0.0, 0.0], [1.0, 0.0], "zero vector"), ([1.0], [1.0, 0.0], "different sizes"),
     ([math.nan, 1.0], [1.0, 0.0], "non-finite"), ([], [], "different sizes")],
)
def test_cosine_refuses_what_it_cannot_compare(a: list[float], b: list[float], problem: str) -> None:
    with pytest.raises(EvaluationError, match=problem):
        cosine(a, b)


# embedding components: finite, and never so tiny that scaling them underflows to zero (5e-324 * 0.5
# == 0.0 would turn a vector into the zero vector, whose direction is rightly refused)
_components = st.floats(-1e150, 1e150, allow_nan=False).filter(lambda x: x == 0 or abs(x) > 1e-150)
_vectors = st.lists(_components, min_size=1, max_size=16)


@given(_vectors, st.floats(1e-3, 1e3))
def test_cosine_is_bounded_symmetric_and_scale_free(a: list[float], k: float) -> None:
    if not any(a):
        return
    b = [x * 0.5 + 1.0 for x in a]
    c = cosine(a, b)
    assert -1.0 <= c <= 1.0
    assert c == pytest.approx(cosine(b, a), abs=1e-12)
    assert c == pytest.approx(cosine([x * k for x in a], b), abs=1e-9)
    assert cosine(a, a) == pytest.approx(1.0)
    assert cosine(a, [-x for x in a]) == pytest.approx(-1.0)
