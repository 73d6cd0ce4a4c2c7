"""`judge.split_roles` is azure's role-line split (`_ROLE_SEPARATOR.split`), only faster: the
judge prompts sent (and so their cache keys) must not change by one character."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from pytest_llmgate.evaluators.judge import _ROLE_SEPARATOR, _azure_template, split_roles

# Pieces that make role lines, near misses and the whitespace the pattern spans (non-ASCII
# whitespace, the long s and the Kelvin sign that match "s"/"k" case-insensitively).
PIECES = [
    "user", "USER", "System", "assistant", "function", "\u017fystem", "as\u212a", "name", ":",
    " ", "  ", "\t", "\n", "\n\n", "\r\n", "#", "##", "x", "Question", "\u00a0", "\u2028",
    "\x0b", "content:", "userx", "![a](b)",
]


@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
@example("user:\n")
@example("\n\n# system :\n\nhi\nuser\n:\n \nyo")
@example("x:\n#\n#user:\n")
@example("\u00a0\nuser:\u00a0\n")
def test_split_roles_equals_the_regex_split(text: str) -> None:
    assert split_roles(text) == _ROLE_SEPARATOR.split(text)


def test_a_real_judge_prompt_splits_the_same() -> None:
    template = _azure_template("_groundedness/groundedness_with_query.prompty")
    text = template.render(query="How long? user:\n", context="system:\nctx", response="assistant:")
    assert split_roles(text) == _ROLE_SEPARATOR.split(text)
    assert len(split_roles(text)) > 3
