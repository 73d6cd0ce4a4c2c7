"""Flows as subjects: a DAG flow (two node variants, a Jinja2 LLM node, a Python tool node, an
`activate` condition), a class-based flex flow, and a standalone .prompty, each gated end to end
against the project's test server."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.testing import LLMServer
from tests.promptflow.conftest import items_by_nodeid, jsonl, results, run_gate, write
from tests.promptflow.flow_files import ANSWER_PROMPT, answer_prompty

ROWS = [
    {"id": "q1", "question": "What color is the sky?", "context": "The sky is blue. Grass is green.",
     "ground_truth": "The sky is blue.", "mode": "llm"},
    {"id": "q2", "question": "What color is grass?", "context": "The sky is blue. Grass is green.",
     "ground_truth": "Grass is green.", "mode": "llm"},
    {"id": "q3", "question": "Skip the model", "context": "Nothing here.",
     "ground_truth": "echo: Skip the model", "mode": "echo"},
]
DAG = {
    "flows/qa/flow.dag.yaml": """
        inputs:
          question: {type: string}
          context: {type: string}
          mode: {type: string}
        outputs:
          answer: {type: string, reference: "${pick.output}"}
          words: {type: int, reference: "${count.output}"}
        nodes:
        - name: answer
          use_variants: true
        - name: echo
          type: python
          source: {type: code, path: echo.py}
          inputs: {question: "${inputs.question}"}
          activate: {when: "${inputs.mode}", is: echo}
        - name: pick
          type: python
          source: {type: code, path: pick.py}
          inputs: {answer: "${answer.output}", echoed: "${echo.output}"}
        - name: count
          type: python
          source: {type: code, path: count.py}
          inputs: {text: "${pick.output}"}
        node_variants:
          answer:
            default_variant_id: concise
            variants:
              concise:
                node:
                  type: llm
                  source: {type: code, path: answer.jinja2}
                  inputs: {deployment_name: gpt-4o-mini, temperature: 0,
                           question: "${inputs.question}", context: "${inputs.context}"}
                  connection: aoai
                  api: chat
                  activate: {when: "${inputs.mode}", is: llm}
              chatty:
                node:
                  type: llm
                  source: {type: code, path: answer_chatty.jinja2}
                  inputs: {deployment_name: gpt-4o-mini, temperature: 0.7, max_tokens: 200,
                           question: "${inputs.question}", context: "${inputs.context}"}
                  connection: aoai
                  api: chat
                  activate: {when: "${inputs.mode}", is: llm}
    """,
    "flows/qa/answer.jinja2": ANSWER_PROMPT,
    "flows/qa/answer_chatty.jinja2": """
        # system:
        Be friendly.
        # user:
        {% for line in context.split('. ') %}- {{ line }}
        {% endfor %}
        Question: {{question}}
    """,
    "flows/qa/pick.py": """
        from promptflow.core import tool


        @tool
        def pick(answer: str = None, echoed: str = None) -> str:
            # a node bypassed by its activate condition hands over None
            return answer if answer is not None else echoed
    """,
    "flows/qa/echo.py": """
        from promptflow.core import tool


        @tool
        def echo(question: str) -> str:
            return f"echo: {question}"
    """,
    "flows/qa/count.py": """
        from promptflow.core import tool


        @tool
        def count(text: str) -> int:
            return len(text.split())
    """,
    "data/qa.jsonl": jsonl(ROWS),
}
DAG_SUITE = """
    suite: pf
    datasets:
      qa: ../data/qa.jsonl
    subjects:
      qa:
        path: ../flows/qa
    evaluators:
      - {name: f1, use: f1_score, inputs: {response: "${run.outputs.answer}"}}
    thresholds:
      metrics:
        f1_score: {min: 0.6}
        prompt_tokens: {aggregate: max, max: 200}
"""


def test_dag_flow_node_variants_are_items(pf_project: pytest.Pytester) -> None:
    write(pf_project.path, {**DAG, "suites/pf.yaml": DAG_SUITE, "thresholds.yaml": """
        version: 1
        metrics: {}
    """})
    result = run_gate(pf_project, "suites")
    result.assert_outcomes(passed=2)
    items = items_by_nodeid(results(pf_project.path))
    assert sorted(items) == [
        "suites/pf.yaml::qa[answer.chatty-qa]",
        "suites/pf.yaml::qa[answer.concise-qa]",
    ]
    concise = items["suites/pf.yaml::qa[answer.concise-qa]"]
    assert concise["subject_spec"]["node_variants"] == {"answer": "concise"}
    rows = {row["id"]: row for row in concise["rows"]}
    assert rows["q1"]["output"] == {"answer": "The sky is blue.", "words": 4}
    assert rows["q2"]["output"]["answer"] == "Grass is green."
    # the activate condition bypassed the LLM node: the Python node answered, no model call
    assert rows["q3"]["output"] == {"answer": "echo: Skip the model", "words": 4}
    assert "prompt_tokens" not in rows["q3"]["metrics"]
    # LLM node calls went through the gate's client: tokens and cost on the rows
    assert rows["q1"]["metrics"]["prompt_tokens"] > 0
    assert rows["q1"]["metrics"]["cost_usd"] > 0
    assert rows["q1"]["inputs"] == {
        "question": "What color is the sky?", "context": "The sky is blue. Grass is green.",
        "mode": "llm",
    }
    checks = {(c["metric"], c["aggregate"]): c for c in concise["checks"]}
    assert checks[("f1_score", "mean")]["verdict"] == "pass"
    assert checks[("prompt_tokens", "max")]["verdict"] == "pass"
    chatty = items["suites/pf.yaml::qa[answer.chatty-qa]"]
    assert chatty["subject_spec"]["node_variants"] == {"answer": "chatty"}
    # nothing was written to this run's home directory (no ~/.promptflow); other tests' homes
    # are their own business (they share the parent directory and run concurrently)
    home = Path(os.environ["HOME"])
    assert home.name.startswith("home")
    assert list(home.iterdir()) == []


def test_suite_variants_select_and_combine(pf_project: pytest.Pytester) -> None:
    suite = DAG_SUITE.replace(
        "        path: ../flows/qa\n",
        "        path: ../flows/qa\n"
        "        variants:\n"
        "          chatty_only: {variant: '${answer.chatty}'}\n"
        "          explicit: {answer: concise}\n",
    )
    write(pf_project.path, {**DAG, "suites/pf.yaml": suite})
    result = run_gate(pf_project, "suites", "--co")
    result.stdout.fnmatch_lines(["*qa[[]chatty_only-qa[]]*", "*qa[[]explicit-qa[]]*"])
    bad = DAG_SUITE.replace("        path: ../flows/qa\n",
                            "        path: ../flows/qa\n        variants: {x: {answer: nope}}\n")
    write(pf_project.path, {"suites/pf.yaml": bad})
    result = run_gate(pf_project, "suites")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*suites/pf.yaml:*no node variant answer.nope*"])


FLEX = {
    "flows/greeter/flow.flex.yaml": """
        $schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
        entry: greeter:Greeter
        init:
          greeting: {type: string}
          punctuation: {type: string, default: "."}
    """,
    "flows/greeter/greeter.py": """
        from dataclasses import dataclass


        @dataclass
        class Reply:
            response: str
            length: int


        class Greeter:
            def __init__(self, greeting: str, punctuation: str = "."):
                self.greeting = greeting
                self.punctuation = punctuation

            def __call__(self, name: str, title: str = "friend") -> Reply:
                text = f"{self.greeting}, {title} {name}{self.punctuation}"
                return Reply(response=text, length=len(text))
    """,
    "data/people.jsonl": jsonl([
        {"id": "p1", "name": "Ada", "title": "IGNORED: inputs with defaults are not filled"},
        {"id": "p2", "name": "Linus"},
    ]),
    "suites/flex.yaml": """
        suite: flex
        datasets:
          people: ../data/people.jsonl
        subjects:
          greeter:
            path: ../flows/greeter
            init: {greeting: Hello}
            variants:
              plain: {}
              excited: {punctuation: "!"}
        evaluators:
          - {use: contains, args: {value: Hello}, inputs: {response: "${output.response}"}}
          - {use: length, inputs: {response: "${output.response}"}}
        thresholds:
          metrics:
            contains: {min: 1}
            length_chars: {aggregate: max, max: 30}
    """,
}


def test_class_flex_flow_with_init_variants(pf_project: pytest.Pytester) -> None:
    write(pf_project.path, FLEX)
    result = run_gate(pf_project, "suites")
    result.assert_outcomes(passed=2)
    items = items_by_nodeid(results(pf_project.path))
    assert sorted(items) == [
        "suites/flex.yaml::greeter[excited-people]",
        "suites/flex.yaml::greeter[plain-people]",
    ]
    plain = {r["id"]: r for r in items["suites/flex.yaml::greeter[plain-people]"]["rows"]}
    excited = {r["id"]: r for r in items["suites/flex.yaml::greeter[excited-people]"]["rows"]}
    # Prompt Flow's mapping rule: `title` has a default, so the same-named column is not used
    assert plain["p1"]["output"] == {"response": "Hello, friend Ada.", "length": 18}
    assert excited["p2"]["output"]["response"] == "Hello, friend Linus!"
    assert excited["p2"]["metrics"]["length_chars"] == 20
    spec = items["suites/flex.yaml::greeter[excited-people]"]["subject_spec"]
    assert spec["kind"] == "flex"
    assert spec["init"] == {"greeting": "Hello", "punctuation": "!"}


PROMPTY_SUITE = """
    suite: prompty
    datasets:
      qa: ../data/qa.jsonl
    subjects:
      answer:
        path: ../prompts/answer.prompty
"""


def _gate_answer_prompty(pf_project: pytest.Pytester, model: str, scoring: str) -> dict[str, Any]:
    """Gates prompts/answer.prompty with this `model:` section over two rows, the suite scoring
    them by `scoring` (its `evaluators:` and `thresholds:`), and returns the one item: it must
    pass, with each row answered from its context."""
    write(pf_project.path, {
        "prompts/answer.prompty": answer_prompty(model),
        "data/qa.jsonl": jsonl(ROWS[:2]),
        "suites/prompty.yaml": textwrap.dedent(PROMPTY_SUITE) + textwrap.dedent(scoring),
    })
    result = run_gate(pf_project, "suites")
    result.assert_outcomes(passed=1)
    (item,) = results(pf_project.path)["items"]
    assert item["nodeid"] == "suites/prompty.yaml::answer[default-qa]"
    assert [r["output"] for r in item["rows"]] == ["The sky is blue.", "Grass is green."]
    return item


def test_standalone_prompty(pf_project: pytest.Pytester) -> None:
    item = _gate_answer_prompty(pf_project, model="""
        model:
          api: chat
          configuration: {type: azure_openai, azure_deployment: gpt-4o-mini}
          parameters: {temperature: 0, max_tokens: 100}
    """, scoring="""
        evaluators: [f1_score]
        thresholds:
          metrics:
            f1_score: {min: 0.9}
    """)
    assert item["aggregates"]["f1_score"]["mean"] == 1.0


def test_flow_without_connections_is_an_item_error(pf_no_gate_models: pytest.Pytester) -> None:
    """No AOAI_* variables and no gate model: the flow's connection cannot be built, so the items
    error with one line naming the connection and the variables to set (a skip would pass CI)."""
    write(pf_no_gate_models.path, {**DAG, "suites/pf.yaml": DAG_SUITE,
                                   "thresholds.yaml": "version: 1\nmetrics: {}\n"})
    result = run_gate(pf_no_gate_models, "suites")
    result.assert_outcomes(failed=2)
    assert result.ret != 0
    result.stdout.fnmatch_lines([
        "*qa[[]answer.*-qa[]]*",
        "flow.dag.yaml: connection 'aoai' is not configured: set AOAI_API_KEY with "
        "AOAI_API_BASE (Azure OpenAI) or AOAI_BASE_URL (OpenAI-compatible)*"
    ])
    verdicts = {i["nodeid"]: i["verdict"] for i in results(pf_no_gate_models.path)["items"]}
    assert set(verdicts.values()) == {"error"}


def test_prompty_own_configuration_and_lenient_judge(
    pf_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, llm: LLMServer
) -> None:
    """A prompty's `model.configuration` (`${env:X}` endpoint and key, `azure_deployment`) is used
    when the suite names no model; a prompty judge renders a variable nobody supplies as empty,
    as Prompt Flow does, instead of failing every row."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)  # the subject must not fall back to these
    monkeypatch.setenv("MY_PROMPTY_ENDPOINT", llm.azure_endpoint)
    monkeypatch.setenv("MY_PROMPTY_KEY", "prompty-key-0005")
    write(pf_project.path, {"prompts/judge.prompty": """
        ---
        name: judge
        model:
          api: chat
          parameters: {temperature: 0, response_format: {type: json_object}}
        inputs:
          answer: {type: string}
          ground_truth: {type: string}
        ---
        system:
        Rate how well the answer matches the reference from 1 to 5.
        Reply as JSON with score and reason.
        user:
        answer: {{answer}}
        reference: {{ground_truth}}
        statement: {{statement}}
    """})
    item = _gate_answer_prompty(pf_project, model="""
        model:
          api: chat
          configuration:
            type: azure_openai
            azure_deployment: own-deployment
            azure_endpoint: ${env:MY_PROMPTY_ENDPOINT}
            api_key: ${env:MY_PROMPTY_KEY}
          parameters: {temperature: 0}
    """, scoring="""
        evaluators:
          - f1_score
          - name: judge
            use: ../prompts/judge.prompty
            inputs: {answer: "${output}", ground_truth: "${data.ground_truth}"}
        thresholds:
          metrics:
            f1_score: {min: 0.9}
            judge: {min: 3}
    """)
    assert all(r.get("error") is None for r in item["rows"])
    assert all(r["metrics"]["judge"] >= 3 and r["metrics"]["prompt_tokens"] > 0
               and r["metrics"]["judge_cost_usd"] > 0 for r in item["rows"])
    # the subject went to the prompty's own deployment on the Azure route, with its own key
    paths = [e["path"] for e in llm.log if e["route"] == "azure_chat"]
    assert paths.count("/openai/deployments/own-deployment/chat/completions") == 2
    assert {(c["metric"], c["verdict"]) for c in item["checks"]} >= {
        ("f1_score", "pass"), ("judge", "pass")}
