"""Prompt Flow's environment for the gate: whether it is installed, its home directory, telemetry
and loggers, set before promptflow is first imported (it reads them at import time)."""


from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

from pytest_llmgate.errors import SpecError

__all__ = [
    "INSTALL_HINT",
    "PromptflowUnavailable",
    "check_installed",
    "disable_telemetry",
    "egress_off_environment",
    "is_experiment_file",
    "prepare_environment",
    "quiet_loggers",
    "require_promptflow",
]


INSTALL_HINT = 'pip install "pytest-llmgate[promptflow]"'
_EXPERIMENT_NAME = re.compile(r"^experiment\.ya?ml$")
_TOP_KEY = re.compile(r"^(datasets|flow)\s*:", re.MULTILINE)
_PF_LOGGERS = ("promptflow", "execution")
_lock = threading.Lock()
_prepared = False


class PromptflowUnavailable(SpecError):
    """promptflow is not installed (ValueError: suites report it as `file:line: field: problem`)."""


def require_promptflow() -> None:
    """Raise one clear line when the optional extra is missing."""
    try:
        with warnings.catch_warnings():
            # promptflow's import-time deprecation noise (marshmallow, pkg_resources) is not the
            # user's to fix, and would fail runs under filterwarnings = error
            warnings.simplefilter("ignore")
            import promptflow.connections
            import promptflow.executor  # noqa: F401
    except ImportError as exc:
        raise PromptflowUnavailable(
            f"Prompt Flow flows need the promptflow package, which is not installed "
            f"({exc.name or 'promptflow'}): {INSTALL_HINT}"
        ) from None


def check_installed() -> None:
    """Like `require_promptflow` but without importing it (collection stays fast)."""
    import importlib.util
    import sys

    try:
        # the top-level spec only: finding a submodule would import promptflow's __init__
        spec = importlib.util.find_spec("promptflow")
        locations = list(spec.submodule_search_locations or []) if spec else []
        found = sys.modules.get("promptflow", True) is not None and any(
            (Path(p) / "executor").is_dir() for p in locations
        )
    except (ImportError, ValueError):
        found = False
    if not found:
        raise PromptflowUnavailable(
            f"Prompt Flow flows need the promptflow package, which is not installed: {INSTALL_HINT}"
        )


# Importing promptflow's devkit (also imported by azure-ai-evaluation when promptflow is
# installed) builds an Application Insights log exporter at import time, whatever the telemetry
# consent, and that exporter fetches its configuration from settings.sdk.monitor.azure.com in a
# background thread. These variables (read by azure-monitor-opentelemetry-exporter) stop it; a
# value the user set is kept.
_EGRESS_OFF = {
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "PF_DISABLE_TRACING": "true",
}


def egress_off_environment() -> None:
    """Before promptflow or azure-ai-evaluation is imported: no telemetry host is contacted."""
    for name, value in _EGRESS_OFF.items():
        os.environ.setdefault(name, value)


def prepare_environment() -> None:
    """Keep Prompt Flow out of the user's home and quiet, before it is first imported.

    promptflow's devkit creates `~/.promptflow` when imported (`PF_HOME_DIRECTORY` moves it) and
    logs every node at INFO; tracing stays off (its default in the executor), so no exporter or
    trace service is started.
    """
    global _prepared
    with _lock:
        if _prepared:
            return
        if not os.environ.get("PF_HOME_DIRECTORY"):
            home = tempfile.mkdtemp(prefix="llmgate-promptflow-")
            atexit.register(shutil.rmtree, home, True)
            os.environ["PF_HOME_DIRECTORY"] = home
        os.environ.setdefault("PF_LOGGING_LEVEL", "WARNING")
        egress_off_environment()
        _prepared = True
    quiet_loggers()


def disable_telemetry() -> None:
    """Prompt Flow's telemetry off unless the user's pf config turned it on.

    promptflow sends usage telemetry to an Application Insights host by default (it tried on a
    connection-failure path); CI is often egress-filtered and no data should leave unasked. The
    setting is made in memory: nothing is written to the user's pf config.
    """
    try:
        import pydash
        from promptflow._sdk._configuration import Configuration
    except ImportError:  # promptflow-devkit absent: no telemetry code either
        return
    config = Configuration.get_instance()
    if config.get_config(Configuration.COLLECT_TELEMETRY) is None:
        pydash.set_(config._config, Configuration.COLLECT_TELEMETRY, False)
    if config.get_config(Configuration.EXTENSION_COLLECT_TELEMETRY) is None:
        pydash.set_(config._config, Configuration.EXTENSION_COLLECT_TELEMETRY, False)


def quiet_loggers() -> None:
    """Prompt Flow's loggers at WARNING (it logs every node at INFO and sets levels itself)."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in _PF_LOGGERS]
    for name in {*names, *_PF_LOGGERS}:
        logging.getLogger(name).setLevel(logging.WARNING)


def is_experiment_file(path: Path) -> bool:
    """`experiment.yaml` (GenAIOps template) with a top-level `datasets:` or `flow:` key.

    Overlays (`experiment.pr.yaml`) are not collected on their own: `--llm-gate-env` applies them.
    """
    if not _EXPERIMENT_NAME.match(path.name):
        return False
    try:
        head = path.read_bytes()[:65536].decode("utf-8", errors="replace")
    except OSError:
        return False
    return bool(_TOP_KEY.search(head))
