"""Model calls made inside flows go through the gate's cache and retry policy: a chat LLM node, an
`api: completion` node, a Python tool with its own sync OpenAI client (SDK retries left on), a flex
class flow with its own AzureOpenAI client and an async flex function with its own AsyncOpenAI
client. A re-run of the suite makes no HTTP request; transient 429s are retried by the gate; a
persistent 500 becomes an error row after the gate's retries (the SDK's own retries are off)."""

from __future__ import annotations

import pytest

from pytest_llmgate.testing import LLMServer
from tests.promptflow.conftest import jsonl, results, run_gate, write
from tests.promptflow.flow_files import chat_node_flow
from tests.promptflow.test_connections import COMPLETION, FLEX_FLOW, QUESTIONS, TOOL_FLOW

OWN_CLIENTS = {
    # a chat LLM node on an Azure connection named by the environment convention
    **chat_node_flow("chat_node", connection="open_ai_connection"),
    # an async flex function building its own AsyncOpenAI client with the SDK's default retries
    "flows/async_flex/flow.flex.yaml": "entry: ask:ask\n",
    "flows/async_flex/ask.py": """
        import os

        from openai import AsyncOpenAI


        async def ask(question: str, context: str) -> str:
            client = AsyncOpenAI(base_url=os.environ["MY_BACKEND_API_BASE"],
                                 api_key=os.environ["MY_BACKEND_API_KEY"])
            reply = await client.chat.completions.create(
                model="gpt-4o", temperature=0,
                messages=[{"role": "user", "content": f"Context: {context}\\nQuestion: {question}"}])
            await client.close()
            return reply.choices[0].message.content
    """,
    # a Python tool whose sync client keeps the SDK's default retries (max_retries=2)
    "flows/tool_retry/flow.dag.yaml": """
        inputs:
          question: {type: string}
          context: {type: string}
        outputs:
          answer: {type: string, reference: "${ask.output}"}
        nodes:
        - name: ask
          type: python
          source: {type: code, path: ask.py}
          inputs: {connection: my_backend, question: "${inputs.question}",
                   context: "${inputs.context}"}
    """,
    "flows/tool_retry/ask.py": """
        from openai import OpenAI
        from promptflow.connections import CustomConnection
        from promptflow.core import tool


        @tool
        def ask(connection: CustomConnection, question: str, context: str) -> str:
            client = OpenAI(base_url=connection.configs["api_base"],
                            api_key=connection.secrets["api_key"])
            reply = client.chat.completions.create(
                model="gpt-4o-mini", temperature=0,
                messages=[{"role": "user", "content": f"Context: {context}\\nQuestion: {question}"}])
            return reply.choices[0].message.content
    """,
}
SUITE = """
    suite: cached
    datasets:
      qa: ../data/qa.jsonl
    subjects:  # the same inputs for all but flex_chat (its run.yml maps them): YAML alias *qa
      chat_node:
        path: ../flows/chat_node
        inputs: &qa {question: "${data.q}", context: "${data.ctx}"}
      complete: {path: ../flows/complete, inputs: *qa}
      tool_conn: {path: ../flows/tool_conn, inputs: *qa}
      flex_chat: {path: ../flows/flex_chat}
      async_flex: {path: ../flows/async_flex, inputs: *qa}
      tool_retry: {path: ../flows/tool_retry, inputs: *qa}
    thresholds:
      metrics:
        cost_usd: {aggregate: sum, max: 0.01}
"""
SUBJECTS = ("async_flex", "chat_node", "complete", "flex_chat", "tool_conn", "tool_retry")


CACHED_PROJECT = {**TOOL_FLOW, **FLEX_FLOW, **OWN_CLIENTS,
                  **{k: v for k, v in COMPLETION.items() if k.startswith("flows/")},
                  "data/qa.jsonl": jsonl(QUESTIONS), "suites/cached.yaml": SUITE}


def _rows(data: dict) -> dict[str, dict[str, dict]]:
    return {item["nodeid"].split("::")[1].split("[")[0]: {r["id"]: r for r in item["rows"]}
            for item in data["items"]}


def test_flow_calls_are_cached_and_transient_errors_retried(
    pf_connected: pytest.Pytester, llm: LLMServer
) -> None:
    write(pf_connected.path, CACHED_PROJECT)
    # every kind of call meets throttling; the gate retries at once (Retry-After: 0)
    llm.configure(error_rate_429=0.4, retry_after=0, seed=3)
    first = run_gate(pf_connected, "suites")
    first.assert_outcomes(passed=len(SUBJECTS))
    rows = _rows(results(pf_connected.path))
    assert sorted(rows) == list(SUBJECTS)
    for subject, by_id in rows.items():
        answer = by_id["a"]["output"]
        answer = answer["answer"] if isinstance(answer, dict) else answer
        assert "The sky is blue." in answer, subject
        assert by_id["a"].get("error") is None and by_id["b"].get("error") is None, subject
        assert by_id["a"]["metrics"]["cost_usd"] > 0, subject
    # throttled requests happened and were retried by the gate; 10 distinct calls were answered:
    # the flex flow's own AzureOpenAI call equals the chat node's request (same deployment,
    # messages, temperature), so under the gate's key scheme it was served from the node's entry
    assert llm.statuses[429] > 0
    assert llm.statuses[200] == 10
    first.stdout.fnmatch_lines(["*call cache (rw): 2 hits, 10 misses, 10 written*"])
    assert llm.routes["azure_completions"] >= 2
    first_outputs = {s: {i: r["output"] for i, r in by_id.items()} for s, by_id in rows.items()}
    first_cost = {s: by_id["a"]["metrics"]["cost_usd"] for s, by_id in rows.items()}

    # the re-run is served from the gate's cache: not one HTTP request reaches the server
    llm.reset_counters()
    second = run_gate(pf_connected, "suites")
    second.assert_outcomes(passed=len(SUBJECTS))
    assert llm.requests == 0
    rows = _rows(results(pf_connected.path))
    assert {s: {i: r["output"] for i, r in by_id.items()} for s, by_id in rows.items()} == (
        first_outputs)
    # a cached answer keeps its cost, and counts as a cache hit of the row
    assert {s: by_id["a"]["metrics"]["cost_usd"] for s, by_id in rows.items()} == first_cost
    assert all(by_id["a"]["details"]["cache_hits"] == 1 for by_id in rows.values())
    second.stdout.fnmatch_lines(["*call cache (rw): 12 hits, 0 misses*"])

    # read-only replay of the committed cache works too
    ro = run_gate(pf_connected, "suites", "--llm-gate-cache", "ro")
    ro.assert_outcomes(passed=len(SUBJECTS))
    assert llm.requests == 0


def test_persistent_server_errors_are_error_rows_after_the_gates_retries(
    pf_connected: pytest.Pytester, llm: LLMServer
) -> None:
    write(pf_connected.path, CACHED_PROJECT)
    llm.configure(error_rate_500=1.0, retry_after=0)
    result = run_gate(pf_connected, "suites", "-k", "tool_retry or async_flex or complete")
    assert result.ret != 0
    result.assert_outcomes(failed=3)
    data = results(pf_connected.path)
    assert {i["verdict"] for i in data["items"]} == {"failed"}
    result.stdout.fnmatch_lines(["*FAIL: 2 of 2 rows errored (max_error_rate 0)*"])
    for subject, by_id in _rows(data).items():
        for row in by_id.values():
            (error,) = row["errors"]
            assert "500" in error, (subject, error)
    # each call was tried once and retried 6 times by the gate (the model default), and the
    # clients' own SDK retries (2 for tool_retry and async_flex) were off: 7 requests per call
    assert llm.requests == 3 * 2 * 7
    assert llm.statuses[500] == llm.requests


PRICED = {
    # a chat node and a flex flow's own AzureOpenAI client that name only a deployment
    **chat_node_flow("deployed_node", connection="open_ai_connection",
                     deployment="my-gpt4o-deploy",
                     prompt="user:\nContext: {{context}}\nQuestion: {{question}}\n"),
    "flows/deployed_own/flow.flex.yaml": "entry: ask:ask\n",
    "flows/deployed_own/ask.py": """
        import os

        from openai import AzureOpenAI


        def ask(question: str, context: str) -> str:
            client = AzureOpenAI(azure_endpoint=os.environ["OPEN_AI_CONNECTION_API_BASE"],
                                 api_key=os.environ["OPEN_AI_CONNECTION_API_KEY"],
                                 api_version="2024-10-21")
            reply = client.chat.completions.create(
                model="my-gpt4o-deploy", temperature=0,
                messages=[{"role": "user", "content": f"{context} {question}"}])
            return reply.choices[0].message.content
    """,
    "suites/priced.yaml": """
        suite: priced
        datasets:
          qa: ../data/qa.jsonl
        subjects:
          deployed_node:
            path: ../flows/deployed_node
            inputs: &qa {question: "${data.q}", context: "${data.ctx}"}
          deployed_own: {path: ../flows/deployed_own, inputs: *qa}
    """,
}
MAPPED = """
    version: 1
    models:
      gpt4o_deploy:
        kind: azure
        azure_endpoint: ${OPEN_AI_CONNECTION_API_BASE}
        api_key: ${OPEN_AI_CONNECTION_API_KEY}
        deployment: my-gpt4o-deploy
        model: gpt-4o
    metrics:
      cost_usd: {aggregate: sum, max: 0.01}
"""


def test_flow_deployment_names_priced_by_the_model_config(
    pf_connected: pytest.Pytester, llm: LLMServer
) -> None:
    from pytest_llmgate.config.models import PRICES

    write(pf_connected.path, {**PRICED, "data/qa.jsonl": jsonl(QUESTIONS),
                              "thresholds.yaml": MAPPED.replace("        model: gpt-4o\n", "")})
    # unmapped: the calls are made, their price is unknown, the cost rule fails closed
    unmapped = run_gate(pf_connected, "suites", "--llm-gate-cache", "off")
    unmapped.assert_outcomes(failed=2)
    unmapped.stdout.fnmatch_lines([
        "*cost_usd: no price known for model 'open_ai_connection (deployment my-gpt4o-deploy)'*",
        "*cost_usd: no price known for model 'my-gpt4o-deploy'*"])
    assert llm.routes["azure_chat"] == 4
    # mapped by the models: entry of the deployment: priced as gpt-4o, from a node and own client
    write(pf_connected.path, {"thresholds.yaml": MAPPED})
    mapped = run_gate(pf_connected, "suites", "--llm-gate-cache", "off")
    mapped.assert_outcomes(passed=2)
    price = PRICES["gpt-4o"]
    for item in results(pf_connected.path)["items"]:
        for row in item["rows"]:
            metrics = row["metrics"]
            assert metrics["cost_usd"] == pytest.approx(
                (metrics["prompt_tokens"] * price.input_per_1m
                 + metrics["completion_tokens"] * price.output_per_1m) / 1e6), item["nodeid"]
            assert "unpriced_models" not in row["details"]
