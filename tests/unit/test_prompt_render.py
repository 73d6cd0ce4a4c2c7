"""Prompt subjects without a model: templates, prompty files, variants, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_llmgate.config.prompts import PromptTemplateError, load_prompty, parse_chat
from pytest_llmgate.subjects.base import SubjectSpec
from pytest_llmgate.subjects.factory import build_subject
from pytest_llmgate.subjects.prompt import PromptSubject

ROW = {"id": "1", "question": "How much is Plus?", "context": "Plus costs $12.", "query": "q"}
PROMPTY = """\
---
name: answer
model:
  api: chat
  configuration: {type: azure_openai, azure_deployment: gpt-4o-mini}
  parameters: {temperature: 0, max_tokens: 100}
inputs:
  question: {type: string}
  context: {type: string}
  tone: {type: string, default: concise}
sample: {question: q, context: c}
---
system:
Be {{ tone }}.
{% if context %}
Use the context.
{% endif %}

user:
Context: {{ context }}
Question: {{ question }}
"""


def spec(tmp_path: Path, type_: str = "prompt", variants: dict[str, Any] | None = None,
         **raw: Any) -> SubjectSpec:
    return SubjectSpec(
        name="s", type=type_, raw={"type": type_, **raw}, variants=variants or {"default": {}},
        datasets=None, evaluators=None, suite_dir=tmp_path, rootdir=tmp_path,
    )


def test_messages_render_with_the_row(tmp_path: Path) -> None:
    subject = build_subject(spec(tmp_path, messages=[
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "{{ context }}\nQ: {{ question }}"},
    ]))
    assert isinstance(subject, PromptSubject) and subject.needs_model
    inputs, messages = subject.render(ROW, "default")
    assert messages == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "Plus costs $12.\nQ: How much is Plus?"},
    ]
    assert inputs == ROW
    assert subject.input_columns() == {"context", "question"}


def test_inputs_mapping(tmp_path: Path) -> None:
    subject = build_subject(spec(
        tmp_path, messages=[{"role": "user", "content": "{{ q }}"}],
        inputs={"q": "${data.question}"},
    ))
    inputs, messages = subject.render(ROW, "default")
    assert inputs == {"q": "How much is Plus?"}
    assert messages[0]["content"] == "How much is Plus?"
    assert subject.input_columns() == {"question"}


def test_missing_variable_names_template_and_variable(tmp_path: Path) -> None:
    (tmp_path / "t.jinja2").write_text("user:\nHi {{ customer }}, {{ question }}\n")
    subject = build_subject(spec(tmp_path, template="t.jinja2"))
    with pytest.raises(PromptTemplateError, match=r"t\.jinja2: 'customer' is undefined"):
        subject.render(ROW, "default")


def test_template_role_sections_and_syntax_errors(tmp_path: Path) -> None:
    assert parse_chat("system:\nA\n# user:\nB\nassistant:\nC\n", "x") == [
        {"role": "system", "content": "A"},
        {"role": "user", "content": "B"},
        {"role": "assistant", "content": "C"},
    ]
    with pytest.raises(PromptTemplateError, match="before the first role"):
        parse_chat("hello\nuser:\nB\n", "x")
    (tmp_path / "bad.jinja2").write_text("user:\n{{ question \n")
    with pytest.raises(PromptTemplateError, match=r"bad\.jinja2: template syntax error line"):
        build_subject(spec(tmp_path, template="bad.jinja2"))


def test_sandbox_blocks_attribute_escapes(tmp_path: Path) -> None:
    subject = build_subject(spec(tmp_path, messages=[
        {"role": "user", "content": "{{ question.__class__.__mro__[1].__subclasses__() }}"}]))
    with pytest.raises(PromptTemplateError):
        subject.render(ROW, "default")


def test_prompty_file_defaults_params_and_variants(tmp_path: Path) -> None:
    (tmp_path / "answer.prompty").write_text(PROMPTY)
    (tmp_path / "chatty.jinja2").write_text("system:\nBe chatty.\nuser:\n{{ question }}\n")
    subject = build_subject(spec(
        tmp_path, "prompty", path="answer.prompty", parameters={"max_tokens": 50},
        variants={"strict": {}, "chatty": {"template": "chatty.jinja2", "temperature": 0.9},
                  "mini": {"model": "small", "parameters": {"seed": 1}}},
    ))
    _, messages = subject.render(ROW, "strict")
    assert messages == [
        {"role": "system", "content": "Be concise.\nUse the context."},
        {"role": "user", "content": "Context: Plus costs $12.\nQuestion: How much is Plus?"},
    ]
    strict, chatty, mini = (subject.describe(v) for v in ("strict", "chatty", "mini"))
    assert strict["params"] == {"temperature": 0, "max_tokens": 50}
    assert chatty["params"] == {"max_tokens": 50, "temperature": 0.9}
    assert mini["params"] == {"temperature": 0, "max_tokens": 50, "seed": 1}
    assert (strict["model"], mini["model"]) == ("(default)", "small")
    assert strict["template"] == "answer.prompty" and chatty["template"] == "chatty.jinja2"
    assert subject.render(ROW, "chatty")[1][0] == {"role": "system", "content": "Be chatty."}
    assert subject.input_columns() is None  # prompty inputs take aliases and defaults


def test_prompty_inputs_aliases_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a.prompty").write_text(PROMPTY.replace("question:", "query:", 1)
                                        .replace("{{ question }}", "{{ query }}"))
    subject = build_subject(spec(tmp_path, "prompty", path="a.prompty"))
    inputs, _ = subject.render({"question": "Q?", "context": "C."}, "default")
    assert inputs == {"query": "Q?", "context": "C.", "tone": "concise"}
    with pytest.raises(LookupError, match="no value for input 'context'"):
        subject.render({"question": "Q?"}, "default")


def test_prompty_parse_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.prompty"
    path.write_text("system:\nno front matter\n")
    with pytest.raises(PromptTemplateError, match="front matter"):
        load_prompty(path)
    with pytest.raises(PromptTemplateError, match="cannot read"):
        load_prompty(tmp_path / "missing.prompty")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages\\[0\\]"),
        ({"messages": "hello"}, "must be a list"),
        ({"messages": [{"role": "user", "content": "x"}], "parameters": {"model": "m"}},
         "parameter 'model'"),
        ({"messages": [{"role": "user", "content": "x"}], "output": "xml"}, "text or json"),
        ({}, "needs messages: or template:"),
    ],
)
def test_bad_specs(tmp_path: Path, raw: dict[str, Any], message: str) -> None:
    with pytest.raises(PromptTemplateError, match=message):
        build_subject(spec(tmp_path, **raw))


def test_describe_has_no_secrets_and_a_stable_hash(tmp_path: Path) -> None:
    make = lambda text: build_subject(spec(  # noqa: E731
        tmp_path, messages=[{"role": "user", "content": text}]))
    a, b, c = make("{{ question }}"), make("{{ question }}"), make("{{ question }}!")
    assert a.describe("default")["template_sha256"] == b.describe("default")["template_sha256"]
    assert a.describe("default")["template_sha256"] != c.describe("default")["template_sha256"]
    assert set(a.describe("default")) == {"type", "model", "params", "template",
                                         "template_sha256", "output"}


def test_json_output_and_model_call(tmp_path: Path, llm: Any, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    from types import SimpleNamespace

    from pytest_llmgate.engine import runtime
    from pytest_llmgate.engine.loop import run_sync

    monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "gpt-4o-mini")
    runtime.reset()
    runtime.prepare(SimpleNamespace(rootdir=tmp_path, thresholds_path=None, concurrency=4,
                                        cache_mode="off", cache_dir=None))
    try:
        subject = build_subject(spec(
            tmp_path, messages=[{"role": "user", "content": textwrap.dedent("""\
                Context: {{ context }}
                Question: {{ question }}""")}],
            parameters={"response_format": {"type": "json_object"}}, output="json",
        ))
        _, output = run_sync(subject.run(ROW, "default"))
        assert output == {"answer": "Plus costs $12."}
        llm.scripted = {"Question:": "not json"}
        with pytest.raises(ValueError, match="not JSON"):
            run_sync(subject.run(ROW, "default"))
    finally:
        runtime.finish()
