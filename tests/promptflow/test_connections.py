"""Prompt Flow assets that bring their own connections, environment and model clients, run
unchanged against the project's test server: a GenAIOps experiment.yaml whose connection reads
`${api_key}` from `<NAME>_API_KEY`, a Python tool with a connection input that calls the model
with its own client, flow `environment_variables`, a flex class flow whose `run.yml` gives
`init.model_config.connection`, `column_mapping` and environment variables, an evaluation flow
mapping `${run.inputs.x}`, and an overlay that keeps item ids. A connection that cannot be built
is an item error naming the variables to set, and no host but the test server is contacted."""

from __future__ import annotations

import pytest

from pytest_llmgate.testing import LLMServer
from tests.promptflow.conftest import (
    EGRESS_SPY,
    items_by_nodeid,
    jsonl,
    resolved_hosts,
    results,
    run_gate,
    write,
)
from tests.promptflow.flow_files import chat_node_flow

QUESTIONS = [
    {"id": "a", "q": "What color is the sky?", "ctx": "The sky is blue."},
    {"id": "b", "q": "What color is grass?", "ctx": "Grass is green."},
]

TOOL_FLOW = {
    # a Python tool with a connection *input* that builds its own OpenAI client from it, and
    # reads the flow's environment variables (one of them taken from the connection)
    "flows/tool_conn/flow.dag.yaml": """
        environment_variables:
          ANSWER_STYLE: terse
          ANSWER_KEY_SEEN: ${my_backend.api_key}
        inputs:
          question: {type: string}
          context: {type: string}
        outputs:
          answer: {type: string, reference: "${ask.output.answer}"}
          style: {type: string, reference: "${ask.output.style}"}
        nodes:
        - name: ask
          type: python
          source: {type: code, path: ask.py}
          inputs:
            connection: my_backend
            question: ${inputs.question}
            context: ${inputs.context}
    """,
    "flows/tool_conn/ask.py": """
        import os

        from openai import OpenAI
        from promptflow.connections import CustomConnection
        from promptflow.core import tool


        @tool
        def ask(connection: CustomConnection, question: str, context: str) -> dict:
            client = OpenAI(base_url=connection.configs["api_base"],
                            api_key=connection.secrets["api_key"], max_retries=0)
            reply = client.chat.completions.create(
                model="gpt-4o-mini", temperature=0,
                messages=[{"role": "system", "content": "Answer from the context only."},
                          {"role": "user", "content": f"Context: {context}\\nQuestion: {question}"}],
            )
            seen = os.environ.get("ANSWER_KEY_SEEN") == connection.secrets["api_key"]
            return {"answer": reply.choices[0].message.content,
                    "style": os.environ.get("ANSWER_STYLE", "unset") + (":key" if seen else "")}
    """,
}
FLEX_FLOW = {
    # a class entry whose init takes a model configuration naming a connection, from run.yml
    "flows/flex_chat/flow.flex.yaml": """
        entry: chat:ChatFlow
    """,
    "flows/flex_chat/run.yml": """
        flow: .
        data: data.jsonl
        init:
          model_config:
            connection: open_ai_connection
            azure_deployment: gpt-4o-mini
          prefix: "A: "
        column_mapping:
          question: ${data.q}
          context: ${data.ctx}
        environment_variables:
          CHAT_SUFFIX: "!"
    """,
    "flows/flex_chat/chat.py": """
        import os

        from openai import AzureOpenAI
        from promptflow.core import AzureOpenAIModelConfiguration


        class ChatFlow:
            def __init__(self, model_config: AzureOpenAIModelConfiguration, prefix: str = ""):
                self.client = AzureOpenAI(azure_endpoint=model_config.azure_endpoint,
                                          api_key=model_config.api_key,
                                          api_version=model_config.api_version, max_retries=0)
                self.deployment = model_config.azure_deployment
                self.prefix = prefix

            def __call__(self, question: str, context: str) -> dict:
                reply = self.client.chat.completions.create(
                    model=self.deployment, temperature=0,
                    messages=[{"role": "system", "content": "Answer from the context only."},
                              {"role": "user",
                               "content": f"Context: {context}\\nQuestion: {question}"}])
                text = reply.choices[0].message.content
                return {"answer": self.prefix + text + os.environ.get("CHAT_SUFFIX", "")}
    """,
}
EVAL_FLOW = {
    # an evaluation flow whose mapping reads the subject run's inputs, with an aggregation node
    "flows/eval_inputs/flow.dag.yaml": """
        inputs:
          question: {type: string}
          answer: {type: string}
        outputs:
          echoed: {type: double, reference: "${check.output}"}
        nodes:
        - name: check
          type: python
          source: {type: code, path: check.py}
          inputs: {question: "${inputs.question}", answer: "${inputs.answer}"}
        - name: total
          type: python
          source: {type: code, path: total.py}
          inputs: {scores: "${check.output}"}
          aggregation: true
    """,
    "flows/eval_inputs/check.py": """
        from promptflow.core import tool


        @tool
        def check(question: str, answer: str) -> float:
            return 1.0 if question.endswith("?") and answer else 0.0
    """,
    "flows/eval_inputs/total.py": """
        from promptflow.core import log_metric, tool


        @tool
        def total(scores: list) -> float:
            log_metric("echo_rate", sum(scores) / len(scores))
            return 0.0
    """,
}
SUITE = """
    suite: pfconn
    datasets:
      qa: ../data/qa.jsonl
    subjects:
      tool_conn:
        path: ../flows/tool_conn
        inputs: {question: "${data.q}", context: "${data.ctx}"}
      flex_chat:
        path: ../flows/flex_chat
    evaluators:
      - name: inputs_flow
        use: pytest_llmgate.promptflow:EvaluationFlow
        args:
          path: flows/eval_inputs
          mapping: {question: "${run.inputs.question}", answer: "${run.outputs.answer}"}
    thresholds:
      metrics:
        echoed: {min: 1}
        echo_rate: {min: 1}
        cost_usd: {aggregate: sum, max: 0.01}
"""
CONN_PROJECT = {**TOOL_FLOW, **FLEX_FLOW, **EVAL_FLOW, "conftest.py": EGRESS_SPY,
                "data/qa.jsonl": jsonl(QUESTIONS), "suites/conn.yaml": SUITE}


def test_connections_environment_run_yml_and_own_clients(
    pf_connected: pytest.Pytester, llm: LLMServer
) -> None:
    write(pf_connected.path, CONN_PROJECT)
    result = run_gate(pf_connected, "suites")
    result.assert_outcomes(passed=2)
    items = items_by_nodeid(results(pf_connected.path))
    assert sorted(items) == ["suites/conn.yaml::flex_chat[default-qa]",
                             "suites/conn.yaml::tool_conn[default-qa]"]
    tool = {r["id"]: r for r in items["suites/conn.yaml::tool_conn[default-qa]"]["rows"]}
    # the tool's own client reached the server with the connection's key and base
    assert tool["a"]["output"] == {"answer": "The sky is blue.", "style": "terse:key"}
    assert tool["b"]["output"]["answer"] == "Grass is green."
    # its call was observed: tokens and cost on the row, priced as gpt-4o-mini
    assert tool["a"]["metrics"]["prompt_tokens"] > 0
    assert tool["a"]["metrics"]["cost_usd"] > 0
    flex = {r["id"]: r for r in items["suites/conn.yaml::flex_chat[default-qa]"]["rows"]}
    # run.yml: column_mapping, init (prefix, model_config.connection), environment_variables
    assert flex["a"]["output"] == {"answer": "A: The sky is blue.!"}
    assert flex["a"]["inputs"] == {"question": "What color is the sky?",
                                   "context": "The sky is blue."}
    assert flex["b"]["metrics"]["cost_usd"] > 0
    for item in items.values():
        checks = {(c["metric"], c["aggregate"]): c["verdict"] for c in item["checks"]}
        assert checks[("echoed", "mean")] == "pass"  # ${run.inputs.question} reached the flow
        assert checks[("cost_usd", "sum")] == "pass"
        assert item["aggregates"]["echo_rate"]["value"] == 1.0
    # the azure route got the deployment from model_config, the OpenAI route the tool's model
    assert llm.routes["azure_chat"] == 2 and llm.routes["chat"] == 2
    # no telemetry, no other host: nothing but loopback was resolved
    assert resolved_hosts(pf_connected.path) == []


def test_missing_connection_is_an_item_error_naming_the_variables(
    pf_connected: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, llm: LLMServer
) -> None:
    monkeypatch.delenv("OPEN_AI_CONNECTION_API_KEY")
    monkeypatch.delenv("OPEN_AI_CONNECTION_API_BASE")
    monkeypatch.delenv("MY_BACKEND_API_KEY")
    write(pf_connected.path, CONN_PROJECT)
    result = run_gate(pf_connected, "suites")
    assert result.ret != 0
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*flex_chat[[]default-qa[]]*",
        "*connection 'open_ai_connection' is not configured: set "
        "OPEN_AI_CONNECTION_API_KEY with OPEN_AI_CONNECTION_API_BASE*",
    ])
    # a custom connection with its key missing: its secret is simply absent, so the tool fails
    items = items_by_nodeid(results(pf_connected.path))
    assert items["suites/conn.yaml::flex_chat[default-qa]"]["verdict"] == "error"
    assert llm.requests == 0
    # no telemetry, no other host: nothing but loopback was resolved
    assert resolved_hosts(pf_connected.path) == []


EXPERIMENT = {
    **chat_node_flow("support", connection="openai_conn"),
    "flows/grade/flow.dag.yaml": """
        inputs:
          groundtruth: {type: string}
          prediction: {type: string}
        outputs:
          correct: {type: double, reference: "${grade.output}"}
        nodes:
        - name: grade
          type: python
          source: {type: code, path: grade.py}
          inputs: {groundtruth: "${inputs.groundtruth}", prediction: "${inputs.prediction}"}
        - name: accuracy
          type: python
          source: {type: code, path: accuracy.py}
          inputs: {scores: "${grade.output}"}
          aggregation: true
    """,
    "flows/grade/accuracy.py": """
        from promptflow.core import log_metric, tool


        @tool
        def accuracy(scores: list) -> float:
            log_metric("mean_accuracy", sum(scores) / len(scores))
            return 0.0
    """,
    "flows/grade/grade.py": """
        from promptflow.core import tool


        @tool
        def grade(groundtruth: str, prediction: str) -> float:
            return 1.0 if groundtruth.strip() == prediction.strip() else 0.0
    """,
    "data/train.jsonl": jsonl([
        {"question": "What color is the sky?", "context": "The sky is blue.",
         "answer": "The sky is blue."},
        {"question": "What color is grass?", "context": "Grass is green.",
         "answer": "Grass is green."},
    ]),
    "data/pr.jsonl": jsonl([
        {"question": "What color is snow?", "context": "Snow is white.", "answer": "Snow is white."},
    ]),
    "experiment.yaml": """
        name: support
        flow: support
        connections:
        - name: openai_conn
          connection_type: AzureOpenAIConnection
          api_base: ${api_base}
          api_version: 2024-10-21
          api_key: ${api_key}
          api_type: azure
        datasets:
        - name: train
          source: train.jsonl
          mappings: {question: "${data.question}", context: "${data.context}"}
        evaluators:
        - name: grade
          flow: grade
          datasets:
          - name: train
            reference: train
            mappings: {groundtruth: "${data.answer}", prediction: "${run.outputs.answer}"}
    """,
    "experiment.pr.yaml": """
        name: renamed_in_pr_is_ignored
        datasets:
        - name: train
          source: pr.jsonl
          mappings: {question: "${data.question}", context: "${data.context}"}
    """,
    "thresholds.yaml": """
        version: 1
        metrics:
          correct: {min: 1}
          mean_accuracy: {min: 1}
          cost_usd: {aggregate: sum, max: 0.01}
    """,
}


def test_experiment_connection_by_template_convention_and_overlay(
    pf_connected: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, llm: LLMServer
) -> None:
    write(pf_connected.path, {**EXPERIMENT, "conftest.py": EGRESS_SPY})
    # `${api_key}` of connection openai_conn is OPENAI_CONN_API_KEY, as the template reads it
    monkeypatch.setenv("OPENAI_CONN_API_BASE", llm.azure_endpoint)
    monkeypatch.setenv("OPENAI_CONN_API_KEY", "conn-key-0003")
    llm.require_key = "conn-key-0003"
    result = run_gate(pf_connected, "experiment.yaml")
    result.assert_outcomes(passed=1)
    (item,) = results(pf_connected.path)["items"]
    assert item["nodeid"] == "experiment.yaml::support[default-train]"
    assert [r["output"] for r in item["rows"]] == [{"answer": "The sky is blue."},
                                                  {"answer": "Grass is green."}]
    assert item["aggregates"]["correct"]["mean"] == 1.0
    assert all(r["metrics"]["cost_usd"] > 0 for r in item["rows"])
    # the aggregation node's logged metric is gated, and not reported as "matched no item"
    assert item["aggregates"]["mean_accuracy"]["value"] == 1.0
    assert {c["metric"]: c["verdict"] for c in item["checks"]}["mean_accuracy"] == "pass"
    assert "matched no item" not in result.stdout.str()
    # the pr overlay replaces the datasets only: same name, same item id, one row
    pr = run_gate(pf_connected, "experiment.yaml", "--llm-gate-env", "pr")
    pr.assert_outcomes(passed=1)
    (item,) = results(pf_connected.path)["items"]
    assert item["nodeid"] == "experiment.yaml::support[default-train]"
    assert [r["output"] for r in item["rows"]] == [{"answer": "Snow is white."}]
    # without the variable, the item errors and names it (it never skips and passes)
    monkeypatch.delenv("OPENAI_CONN_API_KEY")
    failed = run_gate(pf_connected, "experiment.yaml")
    assert failed.ret != 0
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*connection 'openai_conn': api_key needs environment variable "
                                 "OPENAI_CONN_API_KEY or api_key (not set)*"])
    assert resolved_hosts(pf_connected.path) == []


COMPLETION = {
    # a prompt node (promptflow-tools) feeding an `api: completion` LLM node
    "flows/complete/flow.dag.yaml": """
        inputs:
          question: {type: string}
          context: {type: string}
        outputs:
          answer: {type: string, reference: "${complete.output}"}
        nodes:
        - name: build
          type: prompt
          source: {type: code, path: build.jinja2}
          inputs: {question: "${inputs.question}", context: "${inputs.context}"}
        - name: complete
          type: llm
          source: {type: code, path: complete.jinja2}
          inputs: {deployment_name: gpt-4o-mini, max_tokens: 40, temperature: 0,
                   text: "${build.output}"}
          connection: legacy
          api: completion
    """,
    "flows/complete/build.jinja2": "Context: {{context}}\nQuestion: {{question}}\n",
    "flows/complete/complete.jinja2": "{{text}}",
    "suites/complete.yaml": """
        suite: complete
        datasets:
          qa: ../data/qa.jsonl
        subjects:
          complete:
            path: ../flows/complete
            inputs: {question: "${data.q}", context: "${data.ctx}"}
        evaluators:
          - {use: contains, args: {value: "is"}, inputs: {response: "${output.answer}"}}
        thresholds:
          metrics:
            contains: {min: 1}
            cost_usd: {aggregate: sum, max: 0.01}
    """,
}


def test_completion_node_through_the_connection(
    pf_connected: pytest.Pytester, llm: LLMServer
) -> None:
    write(pf_connected.path, {**COMPLETION, "conftest.py": EGRESS_SPY,
                              "data/qa.jsonl": jsonl(QUESTIONS)})
    result = run_gate(pf_connected, "suites")
    result.assert_outcomes(passed=1)
    (item,) = results(pf_connected.path)["items"]
    assert item["nodeid"] == "suites/complete.yaml::complete[default-qa]"
    rows = {r["id"]: r for r in item["rows"]}
    assert rows["a"]["output"] == {"answer": "The sky is blue."}
    assert rows["b"]["output"] == {"answer": "Grass is green."}
    assert rows["a"]["metrics"]["completion_tokens"] > 0
    assert rows["a"]["metrics"]["cost_usd"] > 0
    assert {(c["metric"], c["verdict"]) for c in item["checks"]} >= {
        ("contains", "pass"), ("cost_usd", "pass")}
    assert llm.routes["azure_completions"] == 2
    assert resolved_hosts(pf_connected.path) == []
