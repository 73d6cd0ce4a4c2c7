# mypy: disable-error-code="misc,no-any-return"
# (promptflow is untyped: ConnectionProvider is an untyped base class)
"""The connection provider Prompt Flow asks while the gate runs a flow (imports promptflow).

Prompt Flow looks connections up in three places: the provider handed to the executor (LLM
nodes, node inputs of connection type, flex `init` arguments typed as connections), the
process-wide `ConnectionProvider.get_instance()` (a flex `init` `model_config.connection`), and
`PFClient().connections` (a prompty's `configuration.connection`, also inside flex-flow code). The
last two would read `~/.promptflow` (and, on failure, reach for telemetry); here all three answer
from the gate's `ConnectionSource`s: the flow being run first, else the most recently built one.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from promptflow.connections import ConnectionProvider
from promptflow.contracts.tool import ConnectionType
from promptflow.core._connection_provider._dict_connection_provider import DictConnectionProvider

from pytest_llmgate.promptflow.connections import ConnectionError_, ConnectionSource

__all__ = ["GateConnectionProvider", "activate", "install"]

_current: contextvars.ContextVar[GateConnectionProvider | None] = contextvars.ContextVar(
    "llmgate_pf_connections", default=None
)
_latest: list[GateConnectionProvider] = []
_lock = threading.Lock()
_installed = False


class GateConnectionProvider(ConnectionProvider):
    """Connections of one flow, built by name on first use."""

    def __init__(self, source: ConnectionSource) -> None:
        self.source = source
        self._objects: dict[str, Any] = {}
        self._lock = threading.Lock()
        with _lock:
            _latest.append(self)
            del _latest[:-1]

    def get(self, name: str) -> Any:
        if ConnectionType.is_connection_value(name):
            return name
        if not isinstance(name, str) or not name:
            raise ConnectionError_(f"connection name expected, got {name!r}")
        with self._lock:
            found = self._objects.get(name)
            if found is None:
                entry = self.source.entry(name)
                DictConnectionProvider.import_requisites({name: entry})
                found = self._objects[name] = DictConnectionProvider._build_connection(entry)
        return found

    def list(self, **_: Any) -> list[Any]:
        return list(self._objects.values())

    def value(self, name: str) -> tuple[dict[str, Any], str]:
        """(the connection's fields, its promptflow TYPE) as the prompty loader wants them."""
        connection = self.get(name)
        entry = self.source.entry(name)
        value = dict(entry["value"])
        if entry["type"] == "AzureOpenAIConnection":
            value.setdefault("api_type", "azure")
        return value, str(getattr(type(connection), "TYPE", entry["type"]))


def _active() -> GateConnectionProvider:
    found = _current.get()
    if found is None:
        with _lock:
            found = _latest[-1] if _latest else None
    if found is None:
        raise ConnectionError_("no flow is running under the gate: connections are unavailable")
    return found


class _Dispatch(ConnectionProvider):
    """`ConnectionProvider.get_instance()` while the gate runs flows."""

    def get(self, name: str) -> Any:
        return _active().get(name)

    def list(self, **_: Any) -> list[Any]:
        return _active().list()


def activate(provider: GateConnectionProvider) -> contextvars.Token[GateConnectionProvider | None]:
    return _current.set(provider)


def install() -> None:
    """Answer promptflow's process-wide connection lookups from the gate (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        import promptflow.core._prompty_utils as prompty_utils

        ConnectionProvider._instance = _Dispatch()
        prompty_utils.get_connection_by_name = lambda name: _active().value(name)
        _installed = True
