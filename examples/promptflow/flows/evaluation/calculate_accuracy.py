# ruff: noqa: UP006, UP035  (Prompt Flow reads typing.List in tool signatures)
from typing import List

from promptflow.core import log_metric, tool


@tool
def calculate_accuracy(grades: List[float]) -> float:
    accuracy = round(sum(grades) / len(grades), 2)
    log_metric("accuracy", accuracy)
    return accuracy
