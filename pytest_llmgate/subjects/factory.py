"""Build the subject adapter a suite names by `type:`.

Its own module (not `subjects.base`) so the adapters can import the base without a cycle; each
adapter family is imported only when a suite uses it (Prompt Flow, azure are slow to import).
"""

from __future__ import annotations

from pytest_llmgate.subjects.base import Subject, SubjectSpec

__all__ = ["build_subject"]


def build_subject(spec: SubjectSpec) -> Subject:
    """Pick and build the adapter for `spec.type` (imports optional families lazily)."""
    if spec.type == "python":
        from pytest_llmgate.subjects.python import PythonSubject

        return PythonSubject(spec)
    if spec.type == "recorded":
        from pytest_llmgate.subjects.python import RecordedSubject

        return RecordedSubject(spec)
    if spec.type in ("prompt", "prompty"):
        from pytest_llmgate.subjects.prompt import build_prompt_subject

        return build_prompt_subject(spec)
    if spec.type == "conversation":
        from pytest_llmgate.subjects.conversation import ConversationSubject

        return ConversationSubject(spec)
    if spec.type == "flow":
        from pytest_llmgate.subjects.flow import build_flow_subject

        return build_flow_subject(spec)
    raise ValueError(f"unknown subject type {spec.type!r}")
