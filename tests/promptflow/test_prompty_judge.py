"""A custom `.prompty` judge answers on its own `model.configuration`, as Prompt Flow runs it:
its endpoint and deployment (by `${env:X}`), with no gate judge model configured at all; a suite
`model:` argument overrides it; a `connection:` that cannot be built errors the rows, naming the
variables to set (never a skip, never a pass)."""

from __future__ import annotations

import pytest

from pytest_llmgate.testing import LLMServer
from tests.promptflow.conftest import jsonl, results, write

JUDGE = """
    ---
    name: {name}
    model:
      api: chat
      configuration:
{configuration}
      parameters: {{temperature: 0, response_format: {{type: json_object}}}}
    inputs:
      answer: {{type: string}}
      ground_truth: {{type: string}}
    ---
    system:
    Rate how well the answer matches the reference from 1 to 5.
    Reply as JSON with score and reason.
    user:
    answer: {{{{answer}}}}
    reference: {{{{ground_truth}}}}
"""
OWN = """\
        type: azure_openai
        azure_deployment: judge-deploy
        azure_endpoint: ${env:MY_JUDGE_ENDPOINT}
        api_key: ${env:MY_JUDGE_KEY}"""
BY_CONNECTION = """\
        connection: judge_conn
        azure_deployment: judge-deploy"""
ROWS = [
    {"id": "a", "question": "What color is the sky?", "ground_truth": "The sky is blue.",
     "answer": "The sky is blue."},
    {"id": "b", "question": "What color is grass?", "ground_truth": "Grass is green.",
     "answer": "Grass is green."},
]
SUITE = """
    suite: {suite}
    datasets:
      qa: ../data/qa.jsonl
    subjects:
      recorded: {{type: recorded, column: answer}}
    evaluators:
      - name: {metric}
        use: ../prompts/{metric}.prompty
        inputs: {{answer: "${{output}}", ground_truth: "${{data.ground_truth}}"}}
        {args}
    thresholds:
      metrics:
        {metric}: {{min: 3}}
"""


def _write(pf_project: pytest.Pytester) -> None:
    write(pf_project.path, {
        "prompts/own_judge.prompty": JUDGE.format(name="own_judge", configuration=OWN),
        "prompts/overridden.prompty": JUDGE.format(name="overridden", configuration=OWN),
        "prompts/conn_judge.prompty": JUDGE.format(name="conn_judge",
                                                   configuration=BY_CONNECTION),
        "data/qa.jsonl": jsonl(ROWS),
        "suites/own.yaml": SUITE.format(suite="own", metric="own_judge", args=""),
        "suites/overridden.yaml": SUITE.format(suite="overridden", metric="overridden",
                                               args="args: {model: openai}"),
        "suites/conn.yaml": SUITE.format(suite="conn", metric="conn_judge", args=""),
    })


def test_prompty_judge_runs_on_its_own_configuration(
    pf_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, llm: LLMServer
) -> None:
    # no gate judge at all: the prompty's own endpoint is enough for its suite to run
    for name in ("LLMGATE_JUDGE_BASE_URL", "LLMGATE_JUDGE_API_KEY", "LLMGATE_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MY_JUDGE_ENDPOINT", llm.azure_endpoint)
    monkeypatch.setenv("MY_JUDGE_KEY", "judge-key-0007")
    _write(pf_project)
    result = pf_project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "suites",
                                             "-k", "not conn")
    result.assert_outcomes(passed=2)
    items = {i["nodeid"]: i for i in results(pf_project.path)["items"]}
    own = items["suites/own.yaml::recorded[default-qa]"]
    assert all(r["metrics"]["own_judge"] >= 3 and r["metrics"]["judge_prompt_tokens"] > 0
               for r in own["rows"])
    assert {(c["metric"], c["verdict"]) for c in own["checks"]} >= {("own_judge", "pass")}
    overridden = items["suites/overridden.yaml::recorded[default-qa]"]
    assert all(r["metrics"]["overridden"] >= 3 for r in overridden["rows"])
    # own_judge went to the prompty's deployment on the Azure route; the overridden judge to the
    # suite's model `openai` (the OpenAI route), both judge prompts with their own text
    azure = [e for e in llm.log if e["route"] == "azure_chat"]
    assert [e["path"] for e in azure] == ["/openai/deployments/judge-deploy/chat/completions"] * 2
    assert all("answer: " in str(e["body"]["messages"]) for e in azure)
    openai_route = [e for e in llm.log if e["route"] == "chat"]
    assert len(openai_route) == 2
    assert {e["body"]["model"] for e in openai_route} == {"gpt-4o-mini"}


def test_prompty_judge_connection_missing_errors_the_rows(
    pf_project: pytest.Pytester, llm: LLMServer
) -> None:
    _write(pf_project)
    result = pf_project.runpytest_subprocess("--llm-gate", "-p", "no:xdist", "suites/conn.yaml")
    assert result.ret != 0
    result.assert_outcomes(failed=1)
    (item,) = results(pf_project.path)["items"]
    errors = [e for r in item["rows"] for e in r["errors"]]
    assert len(errors) == 2
    assert all("connection 'judge_conn' is not configured: set JUDGE_CONN_API_KEY" in e
               for e in errors), errors
    assert llm.requests == 0  # never fell back to the gate's judge
