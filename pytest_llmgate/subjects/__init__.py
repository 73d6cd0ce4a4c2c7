"""Subjects: what produces the answer for a row (Python callables, recorded answers, prompts,
prompty files, Prompt Flow flows). Each adapter turns (row, variant) into an output."""

from __future__ import annotations

from pytest_llmgate.subjects.base import Subject, SubjectSpec
from pytest_llmgate.subjects.factory import build_subject

__all__ = ["Subject", "SubjectSpec", "build_subject"]
