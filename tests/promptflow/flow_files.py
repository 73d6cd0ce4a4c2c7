"""Flow files several Prompt Flow tests write: the question-answering prompt and a DAG flow of one
chat LLM node (`write` dedents them)."""

from __future__ import annotations

import textwrap

ANSWER_PROMPT = """
    system:
    Answer from the context only.
    user:
    Context: {{context}}
    Question: {{question}}
"""

_PROMPTY_INPUTS = """
    inputs:
      question: {type: string}
      context: {type: string}
    ---
"""

_CHAT_NODE_DAG = """
    inputs:
      question: {type: string}
      context: {type: string}
    outputs:
      answer: {type: string, reference: "${answer.output}"}
    nodes:
    - name: answer
      type: llm
      source: {type: code, path: answer.jinja2}
      inputs: {deployment_name: DEPLOYMENT, temperature: 0,
               question: "${inputs.question}", context: "${inputs.context}"}
      connection: CONNECTION
      api: chat
"""


def chat_node_flow(
    name: str, *, connection: str, deployment: str = "gpt-4o-mini", prompt: str = ANSWER_PROMPT
) -> dict[str, str]:
    """Files of flow `flows/<name>`: one chat LLM node (temperature 0) on `connection`, answering
    `question` from `context` with `prompt`."""
    dag = _CHAT_NODE_DAG.replace("DEPLOYMENT", deployment).replace("CONNECTION", connection)
    return {f"flows/{name}/flow.dag.yaml": dag, f"flows/{name}/answer.jinja2": prompt}


def answer_prompty(model: str) -> str:
    """A prompty named `answer` with the `model:` section given, answering `question` from
    `context` with ANSWER_PROMPT."""
    parts = ("---\nname: answer\n", model, _PROMPTY_INPUTS, ANSWER_PROMPT)
    return "".join(textwrap.dedent(part).lstrip("\n") for part in parts)
