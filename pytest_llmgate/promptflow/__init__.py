"""Prompt Flow support: flows as subjects, evaluation flows as evaluators, experiment.yaml files.

Importing this package is cheap and never imports `promptflow` (2-4 s): collection of a plain suite
must not pay for it, and a missing optional extra must be one clear line, not a traceback. The
heavy parts live in submodules imported when a flow actually runs.
"""

from __future__ import annotations

from typing import Any

from pytest_llmgate.promptflow.environment import (
    INSTALL_HINT,
    PromptflowUnavailable,
    check_installed,
    disable_telemetry,
    egress_off_environment,
    is_experiment_file,
    prepare_environment,
    quiet_loggers,
    require_promptflow,
)

__all__ = [
    "INSTALL_HINT",
    "EvaluationFlow",
    "PromptflowUnavailable",
    "check_installed",
    "disable_telemetry",
    "egress_off_environment",
    "is_experiment_file",
    "prepare_environment",
    "quiet_loggers",
    "require_promptflow",
]


def __getattr__(name: str) -> Any:
    if name == "EvaluationFlow":
        from pytest_llmgate.promptflow.evaluation import EvaluationFlow

        return EvaluationFlow
    raise AttributeError(name)
