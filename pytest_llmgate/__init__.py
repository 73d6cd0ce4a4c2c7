"""pytest-llmgate: a pytest plugin that gates LLM applications on quality, safety and cost.

The public API is small on purpose: `evaluate` (the Python API), the result types, and
`load_results` for tooling. Everything else is internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Check",
    "Evaluation",
    "ItemResult",
    "RowResult",
    "RunResult",
    "__version__",
    "evaluate",
    "load_results",
    "results_frame",
]

if TYPE_CHECKING:
    from pytest_llmgate.api import Evaluation, evaluate
    from pytest_llmgate.reporting.frame import results_frame
    from pytest_llmgate.results.io import load_results
    from pytest_llmgate.results.model import Check, ItemResult, RowResult, RunResult

_LAZY = {
    "evaluate": "pytest_llmgate.api",
    "Evaluation": "pytest_llmgate.api",
    "Check": "pytest_llmgate.results.model",
    "ItemResult": "pytest_llmgate.results.model",
    "RowResult": "pytest_llmgate.results.model",
    "RunResult": "pytest_llmgate.results.model",
    "load_results": "pytest_llmgate.results.io",
    "results_frame": "pytest_llmgate.reporting.frame",
}


def __getattr__(name: str) -> Any:
    # lazy so that importing the plugin (every pytest run) stays cheap
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_llmgate' has no attribute {name!r}")
