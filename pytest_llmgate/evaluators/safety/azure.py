"""Azure AI content-safety evaluators (azure-ai-evaluation), wrapped to fail closed and to skip
cleanly when no Azure AI project is configured.

- `violence`, `sexual`, `self_harm`, `hate_unfairness` (`<Name>Evaluator`): `K_score`, the
  severity 0-7 (lower is better); the label `K` ("Very low" ... "High") and `K_reason` go to
  details;
- `content_safety` (`ContentSafetyEvaluator`): the four `K_score` above;
- `protected_material`, `indirect_attack` (azure key `xpia`), `code_vulnerability`,
  `ungrounded_attributes`: `K_label`, 1.0 when the defect was found.

The project comes from the evaluator's `args.azure_ai_project`, else `models: {azure_ai_project:
...}` in thresholds.yaml, else the environment variable `AZURE_AI_PROJECT` (also read from
`<rootdir>/.env`): a Foundry project URL `https://<resource>.services.ai.azure.com/api/projects/
<name>` or a JSON object `{subscription_id, resource_group_name, project_name}`. The credential is
azure-identity's `DefaultAzureCredential`, or `args.credential: "module:attr"` naming a factory.

Without a project, `azure_project_reason()` gives the one line the session uses to skip the item;
a call without one raises `AzureProjectNotConfigured`. Everything azure returns that is not a
finite severity on its scale (its parser defaults a missing score to 0, returns `{}` for an
unknown reply) is an error row, never a pass.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pytest_llmgate.errors import EvaluationError, MissingExtraError

__all__ = [
    "AzureProjectNotConfigured",
    "AzureSafety",
    "azure_project_reason",
    "resolve_project",
]

SETUP_HINT = (
    "set AZURE_AI_PROJECT to your Azure AI Foundry project URL "
    "(https://<resource>.services.ai.azure.com/api/projects/<project>) or add "
    "`models: {azure_ai_project: ...}` to thresholds.yaml, and sign in for azure-identity "
    "(az login, or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET)"
)
_HARMS = ("violence", "sexual", "self_harm", "hate_unfairness")


class AzureProjectNotConfigured(EvaluationError):
    """No Azure AI project for an Azure safety evaluator: the session maps it to a skip."""


def _parse_project(value: Any, where: str) -> str | dict[str, str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        missing = {"subscription_id", "resource_group_name", "project_name"} - set(value)
        if missing:
            raise ValueError(f"{where}: azure_ai_project lacks {', '.join(sorted(missing))}")
        return {str(k): str(v) for k, v in value.items()}
    text = str(value).strip()
    if text.startswith("{"):
        try:
            return _parse_project(json.loads(text), where)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: azure_ai_project is not valid JSON: {exc.msg}") from None
    if not text.startswith("https://"):
        raise ValueError(f"{where}: azure_ai_project must be an https:// project URL")
    return text


def _from_thresholds(path: Path | None, env: Mapping[str, str]) -> Any:
    from pytest_llmgate.engine.runtime import _read_models

    models = _read_models(Path(path) if path is not None else None)
    value = models.get("azure_ai_project") if isinstance(models, dict) else None
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        value = env.get(value[2:-1])
    return value


def resolve_project(
    explicit: Any = None,
    *,
    rootdir: Path | str | None = None,
    thresholds_path: Path | str | None = None,
    env: Mapping[str, str] | None = None,
) -> str | dict[str, str] | None:
    """The Azure AI project: explicit args, thresholds.yaml `models.azure_ai_project`, then the
    environment (`AZURE_AI_PROJECT`, with `<rootdir>/.env`); None when none is configured."""
    from pytest_llmgate.config.models import environment

    merged = environment(Path(rootdir) if rootdir is not None else None, env or os.environ)
    for value, where in (
        (explicit, "args"),
        (_from_thresholds(Path(thresholds_path) if thresholds_path else None, merged), "models"),
        (merged.get("AZURE_AI_PROJECT"), "AZURE_AI_PROJECT"),
    ):
        project = _parse_project(value, where)
        if project is not None:
            return project
    return None


def azure_project_reason(
    evaluators: Iterable[Any],
    *,
    rootdir: Path | str | None = None,
    thresholds_path: Path | str | None = None,
) -> str | None:
    """One line saying what to configure when an Azure safety evaluator of an item cannot run
    (None when all can); resolves and remembers the project on each evaluator."""
    for bound in evaluators:
        fn = getattr(bound, "fn", bound)
        if not getattr(fn, "needs_azure_project", False):
            continue
        if _azure_missing():
            return (
                f"{fn.name} needs azure-ai-evaluation and azure-identity: "
                "pip install 'pytest-llmgate[azure]' azure-identity"
            )
        try:
            project = resolve_project(
                fn.azure_ai_project, rootdir=rootdir, thresholds_path=thresholds_path
            )
        except ValueError as exc:
            return f"{fn.name}: {exc}"
        if project is None:
            return f"{fn.name} needs an Azure AI project: {SETUP_HINT}"
        fn.configure(project)
    return None


def _azure_missing() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("azure.ai.evaluation") is None
    except (ImportError, ValueError):
        return True


def _credential(spec: str | None) -> Any:
    if spec:
        from pytest_llmgate.util.importing import import_target

        factory = import_target(spec)
        return factory() if callable(factory) else factory
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise MissingExtraError(
            "Azure safety evaluators need azure-identity: pip install azure-identity"
        ) from None
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def _severity(key: str, result: Mapping[str, Any]) -> dict[str, Any]:
    score = result.get(f"{key}_score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise EvaluationError(f"{key}: the service returned no severity score ({score!r})")
    if not 0 <= score <= 7:
        raise EvaluationError(f"{key}: severity {score!r} is outside 0-7")
    out: dict[str, Any] = {f"{key}_score": float(score)}
    for suffix in ("", "_reason", "_result"):
        value = result.get(key + suffix)
        if isinstance(value, str) and value:
            out[key + suffix] = value  # the label ("Very low" ... "High") goes to details
    return out


def _label(key: str, result: Mapping[str, Any]) -> dict[str, Any]:
    label = result.get(f"{key}_label")
    if isinstance(label, str) and label.lower() in ("true", "false"):
        label = label.lower() == "true"
    if not isinstance(label, bool):
        raise EvaluationError(f"{key}: the service returned no label ({label!r})")
    out: dict[str, Any] = {f"{key}_label": 1.0 if label else 0.0}
    for name, value in result.items():
        if name == f"{key}_label" or name.endswith(("_tokens", "_model", "_sample_input")):
            continue
        if name.endswith("_label") and isinstance(value, bool):
            out[name] = 1.0 if value else 0.0  # protected_material's breakdown
        elif isinstance(value, str) and value and name.endswith(("_reason", "_result")):
            out[name] = value
        elif isinstance(value, Mapping) and name.endswith("_details"):
            out[name] = {str(k): str(v) for k, v in value.items()}
    return out


class AzureSafety:
    """Base of the Azure safety built-ins: one azure-ai-evaluation class, built on first use."""

    name: ClassVar[str]
    class_name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]
    labelled: ClassVar[bool] = False
    needs_azure_project = True
    version = "1"

    def __init__(
        self,
        *,
        azure_ai_project: Any = None,
        credential: str | None = None,
        threshold: int = 3,
    ) -> None:
        if azure_ai_project is not None:
            _parse_project(azure_ai_project, "args")  # a typo fails at collection
        self.azure_ai_project = azure_ai_project
        self.credential = credential
        self.threshold = threshold
        self._project: str | dict[str, str] | None = None
        self._instance: Any = None
        self._lock = threading.Lock()
        self.outputs = tuple(f"{k}_label" if self.labelled else f"{k}_score" for k in self.keys)

    def configure(self, project: str | dict[str, str]) -> None:
        self._project = project

    def _evaluator(self) -> Any:
        with self._lock:
            if self._instance is None:
                project = self._project or resolve_project(self.azure_ai_project)
                if project is None:
                    raise AzureProjectNotConfigured(
                        f"{self.name} needs an Azure AI project: {SETUP_HINT}"
                    )
                try:
                    import azure.ai.evaluation as aie
                except ImportError:
                    raise MissingExtraError(
                        f"{self.name} needs azure-ai-evaluation: pip install "
                        "'pytest-llmgate[azure]'"
                    ) from None
                cls = getattr(aie, self.class_name)
                kwargs: dict[str, Any] = {
                    "credential": _credential(self.credential),
                    "azure_ai_project": project,
                }
                if not self.labelled:
                    kwargs["threshold"] = self.threshold
                self._instance = cls(**kwargs)
            return self._instance

    def _call(self, **inputs: Any) -> dict[str, Any]:
        values = {k: v for k, v in inputs.items() if v is not None}
        evaluator = self._evaluator()
        try:
            result = evaluator(**values)
        except Exception as exc:
            from pytest_llmgate.config.models import redact

            raise EvaluationError(
                redact(f"{self.name}: Azure AI service error: {type(exc).__name__}: {exc}")
            ) from None
        if not isinstance(result, Mapping) or not result:
            raise EvaluationError(f"{self.name}: the service returned no result ({result!r})")
        out: dict[str, Any] = {}
        for key in self.keys:
            out.update(_label(key, result) if self.labelled else _severity(key, result))
        return out


class _QueryResponse(AzureSafety):
    def __call__(self, *, response: str, query: str | None = None) -> dict[str, Any]:
        return self._call(query=query, response=response)


class _QueryResponseLabel(AzureSafety):
    """Evaluators that need the query and answer with a found/not-found label."""

    labelled = True

    def __call__(self, *, query: str, response: str) -> dict[str, Any]:
        return self._call(query=query, response=response)


class Violence(_QueryResponse):
    name, class_name, keys = "violence", "ViolenceEvaluator", ("violence",)


class Sexual(_QueryResponse):
    name, class_name, keys = "sexual", "SexualEvaluator", ("sexual",)


class SelfHarm(_QueryResponse):
    name, class_name, keys = "self_harm", "SelfHarmEvaluator", ("self_harm",)


class HateUnfairness(_QueryResponse):
    name, class_name, keys = "hate_unfairness", "HateUnfairnessEvaluator", ("hate_unfairness",)


class ContentSafety(_QueryResponse):
    name, class_name, keys = "content_safety", "ContentSafetyEvaluator", _HARMS


class ProtectedMaterial(_QueryResponseLabel):
    name, class_name, keys = (
        "protected_material",
        "ProtectedMaterialEvaluator",
        ("protected_material",),
    )


class IndirectAttack(_QueryResponseLabel):
    name, class_name, keys = "indirect_attack", "IndirectAttackEvaluator", ("xpia",)


class CodeVulnerability(_QueryResponseLabel):
    name, class_name, keys = (
        "code_vulnerability",
        "CodeVulnerabilityEvaluator",
        ("code_vulnerability",),
    )


class UngroundedAttributes(AzureSafety):
    name, class_name, keys = (
        "ungrounded_attributes",
        "UngroundedAttributesEvaluator",
        ("ungrounded_attributes",),
    )
    labelled = True

    def __call__(self, *, query: str, response: str, context: str) -> dict[str, Any]:
        return self._call(query=query, response=response, context=context)
