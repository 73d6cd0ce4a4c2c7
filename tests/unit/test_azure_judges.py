"""Each real azure-ai-evaluation judge, pointed at the test server, parses its answer."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_llmgate.testing import LLMServer

evaluation = pytest.importorskip("azure.ai.evaluation")

CONTEXT = "The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall."
QUERY = "When was the Eiffel Tower completed?"
TRUTH = "The Eiffel Tower was completed in 1889."
GOOD = "The Eiffel Tower was completed in 1889, which makes it well over a century old."
BAD = "Bananas are an excellent source of potassium."

# evaluator class, output name, inputs for an answer
CASES: list[tuple[str, str, Any]] = [
    (
        "GroundednessEvaluator",
        "groundedness",
        lambda r: {"query": QUERY, "response": r, "context": CONTEXT},
    ),
    ("RelevanceEvaluator", "relevance", lambda r: {"query": QUERY, "response": r}),
    ("CoherenceEvaluator", "coherence", lambda r: {"query": QUERY, "response": r}),
    ("FluencyEvaluator", "fluency", lambda r: {"response": r}),
    (
        "SimilarityEvaluator",
        "similarity",
        lambda r: {"query": QUERY, "response": r, "ground_truth": TRUTH},
    ),
    (
        "RetrievalEvaluator",
        "retrieval",
        lambda r: {"query": QUERY, "context": CONTEXT if r == GOOD else BAD},
    ),
    (
        "ResponseCompletenessEvaluator",
        "response_completeness",
        lambda r: {"response": r, "ground_truth": TRUTH},
    ),
]


@pytest.fixture(params=["openai", "azure"])
def model_config(request: pytest.FixtureRequest, llm: LLMServer) -> dict[str, str]:
    if request.param == "openai":
        return dict(
            evaluation.OpenAIModelConfiguration(
                type="openai", base_url=llm.base_url, api_key="x", model="gpt-4o"
            )
        )
    return dict(
        evaluation.AzureOpenAIModelConfiguration(
            azure_endpoint=llm.azure_endpoint,
            azure_deployment="judge",
            api_key="x",
            api_version="2024-10-21",
        )
    )


@pytest.mark.filterwarnings("ignore")  # the SDK's own experimental-class notices
@pytest.mark.parametrize(("cls", "name", "inputs"), CASES, ids=[c[1] for c in CASES])
def test_real_evaluator_parses_the_server_answer(
    llm: LLMServer, model_config: dict[str, str], cls: str, name: str, inputs: Any
) -> None:
    evaluator = getattr(evaluation, cls)(model_config)
    good = evaluator(**inputs(GOOD))
    bad = evaluator(**inputs(BAD))
    for result in (good, bad):
        assert isinstance(result[name], float)
        assert not math.isnan(result[name])
        assert 1 <= result[name] <= 5
        assert result[f"{name}_status"] == "completed"
        assert result[f"{name}_reason"].startswith("Let's think step by step")
    if name != "fluency":  # fluency judges the writing, and both answers are well written
        assert good[name] > bad[name], (good, bad)
    assert llm.requests == 2


@pytest.mark.filterwarnings("ignore")
def test_planted_unparseable_judge_answer_is_not_a_score(llm: LLMServer) -> None:
    config = evaluation.OpenAIModelConfiguration(
        type="openai", base_url=llm.base_url, api_key="x", model="gpt-4o"
    )
    evaluator = evaluation.GroundednessEvaluator(config)
    planted = "It was 1889. LLMGATE_JUDGE_REPLY:I cannot help with that."
    with pytest.raises(Exception, match=r"(?i)json|invalid|parse|expecting"):
        evaluator(query=QUERY, response=planted, context=CONTEXT)
