"""The test server: routes, deterministic answers, markers, fault switches, counters, speed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import struct
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmgate.testing import LLMServer, ServerProcess
from pytest_llmgate.testing.answers import chat_reply, judge_verdict

openai = pytest.importorskip("openai")

RAG = (
    "Context:\nThe warranty lasts two years from purchase. Shipping is free above 50 euros. "
    "Returns are accepted within 30 days.\n\nQuestion: How long does the warranty last?"
)


_CLIENTS: dict[tuple[int, float | None], Any] = {}


def client(server: LLMServer, timeout: float | None = None) -> Any:
    # One client per server: building one costs tens of milliseconds (CA bundle).
    key = (server.port, timeout)
    if key not in _CLIENTS:
        extra = {} if timeout is None else {"timeout": timeout}
        _CLIENTS[key] = openai.OpenAI(
            base_url=server.base_url, api_key="sk-test", max_retries=0, **extra
        )
    return _CLIENTS[key]


def ask(server: LLMServer, content: str, **kw: Any) -> Any:
    messages = [{"role": "user", "content": content}]
    return client(server).chat.completions.create(model="gpt-4o", messages=messages, **kw)


def raw(server: LLMServer, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request(method, path, body=body or None, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


# --- routes --------------------------------------------------------------------------------------


def test_chat_answer_is_realistic_and_deterministic(llm: LLMServer) -> None:
    first, again = ask(llm, RAG), ask(llm, RAG)
    assert first.choices[0].message.content == "The warranty lasts two years from purchase."
    assert again.choices[0].message.content == first.choices[0].message.content
    assert first.id.startswith("chatcmpl-")
    assert first.model == "gpt-4o"
    assert first.system_fingerprint.startswith("fp_")
    assert first.choices[0].finish_reason == "stop"
    words = len(RAG.split())
    assert words * 1.2 < first.usage.prompt_tokens < words * 1.3 + 20
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert llm.requests == 2
    assert llm.routes == {"chat": 2}


def test_unrelated_context_gets_a_refusal_and_no_context_a_restatement(llm: LLMServer) -> None:
    text = ask(
        llm, "Context: Shipping is free above 50 euros.\nQuestion: Who painted the Mona Lisa?"
    )
    assert text.choices[0].message.content.startswith("I don't know")
    plain = ask(llm, "What is the tallest mountain?").choices[0].message.content
    assert "tallest mountain" in plain


def test_max_tokens_truncates_with_finish_reason_length(llm: LLMServer) -> None:
    resp = ask(llm, RAG, max_tokens=3)
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.completion_tokens <= 4


def test_json_mode_chat_gets_a_json_object(llm: LLMServer) -> None:
    resp = ask(llm, RAG, response_format={"type": "json_object"})
    assert json.loads(resp.choices[0].message.content) == {
        "answer": "The warranty lasts two years from purchase."
    }


def test_vary_by_model_lets_model_system_and_temperature_change_answers(llm: LLMServer) -> None:
    context = ". ".join(f"The warranty fact number {i} is about warranty {i}" for i in range(6))
    messages = [{"role": "user", "content": f"Context: {context}.\nQuestion: warranty?"}]

    def answers() -> set[str]:
        out = set()
        for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o4-mini"):
            for system in ("Be brief.", "Be thorough."):
                msgs = [{"role": "system", "content": system}, *messages]
                out.add(
                    chat_reply(msgs, model=model, temperature=0.7, vary_by_model=llm.vary_by_model)
                )
        return out

    assert len(answers()) == 1
    llm.vary_by_model = True
    assert len(answers()) > 1


def test_embeddings_float_and_base64(llm: LLMServer) -> None:
    c = client(llm)
    floats = c.embeddings.create(
        model="text-embedding-3-small",
        input=["cats purr", "cats purr loudly", "stock market"],
        encoding_format="float",
    )
    vecs = [d.embedding for d in floats.data]
    assert len(vecs) == 3
    assert len(vecs[0]) == 64
    assert abs(sum(x * x for x in vecs[0]) - 1) < 1e-6
    cos = [sum(a * b for a, b in zip(vecs[0], v, strict=True)) for v in vecs[1:]]
    assert cos[0] > cos[1]  # shared words make close vectors
    status, body = raw(
        llm,
        "POST",
        "/v1/embeddings",
        json.dumps(
            {"model": "m", "input": "cats purr", "encoding_format": "base64", "dimensions": 8}
        ).encode(),
    )
    assert status == 200
    decoded = struct.unpack("<8f", base64.b64decode(body["data"][0]["embedding"]))
    assert len(decoded) == 8
    assert floats.usage.prompt_tokens > 0


def test_models_route(llm: LLMServer) -> None:
    ids = [m.id for m in client(llm).models.list().data]
    assert "gpt-4o" in ids
    assert llm.routes["models"] == 1


def test_azure_routes(llm: LLMServer) -> None:
    az = openai.AzureOpenAI(
        azure_endpoint=llm.azure_endpoint, api_key="k", api_version="2024-10-21", max_retries=0
    )
    resp = az.chat.completions.create(
        model="my-deployment", messages=[{"role": "user", "content": RAG}]
    )
    assert resp.choices[0].message.content == "The warranty lasts two years from purchase."
    assert resp.model == "my-deployment"
    emb = az.embeddings.create(model="emb-deployment", input="hello")
    assert len(emb.data[0].embedding) == 64
    assert llm.routes == {"azure_chat": 1, "azure_embeddings": 1}
    status, body = raw(llm, "POST", "/openai/deployments/d/chat/completions", b"{}")
    assert status == 400
    assert "api-version" in body["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/nothing", 404),
        ("GET", "/v1/chat/completions", 405),
        ("POST", "/v1/models", 405),
    ],
)
def test_bad_requests(llm: LLMServer, method: str, path: str, status: int) -> None:
    assert raw(llm, method, path)[0] == status


def test_body_that_is_not_json_is_a_400(llm: LLMServer) -> None:
    assert raw(llm, "POST", "/v1/chat/completions", b"not json")[0] == 400


def test_require_key(llm: LLMServer) -> None:
    llm.require_key = "right-key"
    with pytest.raises(openai.AuthenticationError):
        ask(llm, "hi")
    ok = openai.OpenAI(base_url=llm.base_url, api_key="right-key", max_retries=0)
    assert ok.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


# --- forcing replies -----------------------------------------------------------------------------


def test_reply_marker_and_scripted_replies(llm: LLMServer) -> None:
    assert ask(llm, "x LLMGATE_REPLY:forced text\nmore").choices[0].message.content == "forced text"
    llm.scripted = {"magic words": "scripted answer"}
    assert ask(llm, "say the magic words please").choices[0].message.content == "scripted answer"


def test_judge_reply_marker_only_applies_to_judge_prompts(llm: LLMServer) -> None:
    planted = "The answer. LLMGATE_JUDGE_REPLY:this is not json"
    subject = ask(llm, f"Context: {planted}\nQuestion: what?").choices[0].message.content
    assert subject != "this is not json"
    judge_prompt = f"**Fluency** refers to writing.\n# Data\nRESPONSE: {planted}\n\n# Tasks\n"
    assert ask(llm, judge_prompt).choices[0].message.content == "this is not json"


def test_status_and_latency_markers(llm: LLMServer) -> None:
    with pytest.raises(openai.BadRequestError):
        ask(llm, "LLMGATE_STATUS:400")
    started = time.perf_counter()
    ask(llm, "slow one LLMGATE_LATENCY_MS:200")
    assert time.perf_counter() - started >= 0.2


# --- faults --------------------------------------------------------------------------------------


def test_429_with_retry_after_headers(llm: LLMServer) -> None:
    llm.configure(error_rate_429=1.0, retry_after=1.5)
    with pytest.raises(openai.RateLimitError) as info:
        ask(llm, "hi")
    headers = info.value.response.headers
    assert headers["retry-after"] == "1.5"
    assert headers["retry-after-ms"] == "1500"
    assert llm.faults == {"429": 1}


def test_500(llm: LLMServer) -> None:
    llm.error_rate_500 = 1.0
    with pytest.raises(openai.InternalServerError):
        ask(llm, "hi")


def test_faults_are_deterministic_per_seed_and_a_retry_gets_a_fresh_draw(llm: LLMServer) -> None:
    def pattern() -> list[bool]:
        llm.reset_counters()
        out = []
        for i in range(40):
            try:
                ask(llm, f"question {i}")
                out.append(True)
            except openai.RateLimitError:
                out.append(False)
        return out

    llm.configure(error_rate_429=0.5, seed=7)
    first = pattern()
    assert first == pattern()
    assert 5 < first.count(False) < 35
    llm.seed = 8
    assert pattern() != first
    # The same request retried: some later attempt succeeds.
    llm.reset_counters()
    outcomes = []
    for _ in range(10):
        try:
            ask(llm, "retry me")
            outcomes.append(True)
        except openai.RateLimitError:
            outcomes.append(False)
    assert True in outcomes


def test_timeout_fault_holds_the_request_until_the_client_gives_up(llm: LLMServer) -> None:
    llm.timeout_rate = 1.0
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        client(llm, timeout=0.3).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert 0.25 < time.perf_counter() - started < 2
    assert llm.faults == {"timeout": 1}


def test_malformed_body(llm: LLMServer) -> None:
    llm.malformed_rate = 1.0
    with pytest.raises(ValueError, match="Expecting"):
        ask(llm, "hi")


def test_down_refuses_connections_and_comes_back(llm: LLMServer) -> None:
    llm.down = True
    with pytest.raises(openai.APIConnectionError):
        ask(llm, "hi")
    llm.down = False
    assert ask(llm, "hi").choices[0].message.content


def test_reset_restores_switches_and_counters(llm: LLMServer) -> None:
    llm.configure(latency_ms=5, error_rate_500=0.1, scripted={"a": "b"})
    ask(llm, "LLMGATE_REPLY:x")
    llm.reset()
    assert (llm.latency_ms, llm.error_rate_500, llm.scripted, llm.requests) == (0.0, 0.0, {}, 0)
    with pytest.raises(TypeError, match="unknown test-server switch"):
        llm.configure(latency=5)


def test_judge_noise_varies_repeats_but_not_retries(llm: LLMServer) -> None:
    prompt = (
        "**Groundedness** refers to x.\n# Data\nCONTEXT: The sky is blue and the grass is green.\n"
        "RESPONSE: The sky is blue.\n\n# Tasks\n"
    )

    def score() -> int:
        return int(json.loads(ask(llm, prompt).choices[0].message.content)["score"])

    assert {score() for _ in range(5)} == {5}
    llm.judge_noise = 2.0
    noisy = [score() for _ in range(12)]
    assert len(set(noisy)) > 1
    assert all(1 <= s <= 5 for s in noisy)
    # With faults, the k-th successful answer is the one a fault-free run gives.
    llm.reset_counters()
    clean = [score() for _ in range(4)]
    llm.reset_counters()
    llm.error_rate_500 = 0.5
    faulty: list[int] = []
    while len(faulty) < 4:
        with contextlib.suppress(openai.InternalServerError):
            faulty.append(score())
    assert faulty == clean


# --- speed and processes -------------------------------------------------------------------------


def test_64_concurrent_calls_at_50ms_take_about_one_latency(llm: LLMServer) -> None:
    llm.latency_ms = 50

    async def run() -> float:
        c = openai.AsyncOpenAI(base_url=llm.base_url, api_key="k", max_retries=0)
        msgs = [{"role": "user", "content": "warm up"}]
        await c.chat.completions.create(model="m", messages=msgs)
        started = time.perf_counter()
        await asyncio.gather(
            *[
                c.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"q{i}"}]
                )
                for i in range(64)
            ]
        )
        elapsed = time.perf_counter() - started
        await c.close()
        return elapsed

    # serial handling would take 64 x 50 ms = 3.2 s; the margin keeps a loaded CI machine green
    assert asyncio.run(run()) < 2.5
    assert llm.requests == 65


def test_server_process_with_control_routes() -> None:
    with ServerProcess(latency_ms=0) as proc:
        proc.configure(error_rate_500=1.0)
        c = openai.OpenAI(base_url=proc.base_url, api_key="k", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        proc.reset()
        assert c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert proc.stats()["requests"] == 1


# --- the judge's scoring -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    evaluator=st.sampled_from(
        [
            "groundedness",
            "relevance",
            "coherence",
            "fluency",
            "similarity",
            "retrieval",
            "response_completeness",
            "judge",
        ]
    ),
    response=st.text(min_size=1, max_size=200),
    other=st.text(min_size=1, max_size=200),
)
def test_judge_scores_stay_on_the_scale(evaluator: str, response: str, other: str) -> None:
    fields = {"response": response, "context": other, "query": other, "ground_truth": other}
    verdict = judge_verdict(evaluator, fields)
    reply = json.loads(verdict.reply())
    if reply["status"] == "completed":
        assert reply["score"] in (1, 2, 3, 4, 5)
    else:
        assert reply["score"] is None


@pytest.mark.parametrize(
    "evaluator", ["groundedness", "relevance", "similarity", "response_completeness", "retrieval"]
)
def test_better_answers_get_better_scores(evaluator: str) -> None:
    context = "The Eiffel Tower in Paris was completed in 1889 and is 330 metres tall."
    query = "When was the Eiffel Tower completed?"
    truth = "The Eiffel Tower was completed in 1889."
    good = {
        "response": "The Eiffel Tower was completed in 1889.",
        "context": context,
        "query": query,
        "ground_truth": truth,
    }
    bad = {
        "response": "I enjoy hiking in summer.",
        "context": "Bananas are yellow fruit.",
        "query": query,
        "ground_truth": truth,
    }
    assert judge_verdict(evaluator, good).score == 5
    assert judge_verdict(evaluator, bad).score == 1


def test_custom_judge_scale_is_read_from_the_prompt(llm: LLMServer) -> None:
    prompt = (
        "Rate the answer with a score between 0 and 10. Return JSON.\n"
        "Question: When was it built?\nAnswer: It was built in 1889.\n"
        "Reference: It was built in 1889."
    )
    resp = ask(llm, prompt, response_format={"type": "json_object"})
    assert json.loads(resp.choices[0].message.content)["score"] == 10


def test_only_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="only listens on loopback"):
        LLMServer(host="0.0.0.0")


def test_status_marker_followed_by_text_still_forces_the_status(llm: LLMServer) -> None:
    import httpx

    body = {"model": "m", "messages": [{"role": "user", "content": "LLMGATE_STATUS:503 and more"}]}
    reply = httpx.post(f"{llm.base_url}/chat/completions", json=body, timeout=10)
    assert reply.status_code == 503
