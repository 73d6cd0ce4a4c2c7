"""The `llm_gate` fixture: the Python API bound to the current test, its result recorded in the
gate session's artifacts like a suite item."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_llmgate.api import Evaluation, evaluate
from pytest_llmgate.plugin.keys import SESSION_KEY

__all__ = ["GateFixture"]


class GateFixture:
    """The `llm_gate` fixture: `evaluate` bound to the current test, recorded in the run."""

    def __init__(self, request: Any) -> None:
        self._request = request
        self._count = 0

    def evaluate(
        self,
        subject: Callable[..., Any] | str,
        data: str | Path | Sequence[Mapping[str, Any]],
        **kwargs: Any,
    ) -> Evaluation:
        node = self._request.node
        self._count += 1
        name = kwargs.pop("name", None)
        nodeid = (
            node.nodeid
            if self._count == 1 and name is None
            else f"{node.nodeid}::{name or self._count}"
        )
        kwargs.setdefault("base_dir", str(node.config.rootpath))
        evaluation = evaluate(subject, data, name=nodeid, **kwargs)
        result = replace(
            evaluation.result, nodeid=nodeid, suite=node.path.name, subject=name or node.name
        )
        session = node.config.stash.get(SESSION_KEY, None)
        if session is not None:
            session.record(result)
        return Evaluation(result)
