"""Evaluator registry: built-in names, `module:attr` specs and the `pytest_llmgate.evaluators`
entry-point group, all resolved to a `BoundEvaluator`.

Built-ins are named by string and imported only when a suite uses them, so the plugin stays cheap.
A broken third-party entry point produces a warning, never a crash of the run.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmgate.evaluators.base import BoundEvaluator, signature_of
from pytest_llmgate.importing import ImportTargetError, import_target

__all__ = ["BUILTINS", "EvaluatorSpecError", "builtin_names", "resolve_evaluator"]

ENTRY_POINT_GROUP = "pytest_llmgate.evaluators"


class EvaluatorSpecError(ValueError):
    """An evaluator spec cannot be resolved (unknown name, import failure, bad args)."""


@dataclass(frozen=True)
class Builtin:
    target: str
    inline: bool = False
    needs_model: bool = False
    base_dir_arg: bool = False


_LEX = "pytest_llmgate.evaluators.lexical"
_FMT = "pytest_llmgate.evaluators.format"
_JUDGE = "pytest_llmgate.evaluators.judge"
_SAFE = "pytest_llmgate.evaluators.safety"
BUILTINS: dict[str, Builtin] = {
    "exact_match": Builtin(f"{_LEX}:ExactMatch", inline=True),
    "f1_score": Builtin(f"{_LEX}:F1Score", inline=True),
    "bleu": Builtin(f"{_LEX}:Bleu", inline=True),
    "gleu": Builtin(f"{_LEX}:Gleu", inline=True),
    "rouge": Builtin(f"{_LEX}:Rouge", inline=True),
    "meteor": Builtin(f"{_LEX}:Meteor", inline=True),
    "contains": Builtin(f"{_FMT}:Contains", inline=True),
    "regex": Builtin(f"{_FMT}:Regex", inline=True),
    "json_valid": Builtin(f"{_FMT}:JsonValid", inline=True),
    "json_schema": Builtin(f"{_FMT}:JsonSchema", inline=True, base_dir_arg=True),
    "length": Builtin(f"{_FMT}:Length", inline=True),
    "latency": Builtin(f"{_FMT}:Latency", inline=True),
    "promptflow_flow": Builtin("pytest_llmgate.promptflow:EvaluationFlow", base_dir_arg=True),
    "groundedness": Builtin(f"{_JUDGE}:Groundedness", needs_model=True),
    "relevance": Builtin(f"{_JUDGE}:Relevance", needs_model=True),
    "coherence": Builtin(f"{_JUDGE}:Coherence", needs_model=True),
    "fluency": Builtin(f"{_JUDGE}:Fluency", needs_model=True),
    "similarity": Builtin(f"{_JUDGE}:Similarity", needs_model=True),
    "retrieval": Builtin(f"{_JUDGE}:Retrieval", needs_model=True),
    "response_completeness": Builtin(f"{_JUDGE}:ResponseCompleteness", needs_model=True),
    "pii": Builtin(f"{_SAFE}.pii:Pii", inline=True),
    "toxicity": Builtin(f"{_SAFE}.toxicity:Toxicity"),
    "prompt_injection": Builtin(f"{_SAFE}.injection:PromptInjection", inline=True),
    "refusal": Builtin(f"{_SAFE}.refusal:Refusal", inline=True),
    "safety_judge": Builtin(f"{_SAFE}.rubric:SafetyJudge", needs_model=True),
    # needs_model means "needs the judge" (skip without one, judge repeats, dry-run chat costs);
    # this one needs the embeddings model and fails its rows, naming it, when that is missing
    "semantic_similarity": Builtin("pytest_llmgate.evaluators.embedding:SemanticSimilarity"),
    **{
        name: Builtin(f"{_SAFE}.azure:{cls}")
        for name, cls in (
            ("violence", "Violence"),
            ("sexual", "Sexual"),
            ("self_harm", "SelfHarm"),
            ("hate_unfairness", "HateUnfairness"),
            ("content_safety", "ContentSafety"),
            ("protected_material", "ProtectedMaterial"),
            ("indirect_attack", "IndirectAttack"),
            ("code_vulnerability", "CodeVulnerability"),
            ("ungrounded_attributes", "UngroundedAttributes"),
        )
    },
}
ALIASES = {
    "bleu_score": "bleu",
    "gleu_score": "gleu",
    "rouge_score": "rouge",
    "meteor_score": "meteor",
    "f1": "f1_score",
}


def builtin_names() -> list[str]:
    return sorted(BUILTINS)


@functools.cache
def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep
    return found


def _load_entry_point(name: str) -> Any | None:
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        return ep.load()
    except Exception as exc:
        warnings.warn(
            f"pytest-llmgate: evaluator entry point {name!r} ({ep.value}) failed to load: "
            f"{type(exc).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def _instantiate(obj: Any, args: dict[str, Any], use: str) -> Any:
    if inspect.isclass(obj):
        try:
            return obj(**args)
        except (TypeError, ValueError) as exc:
            raise EvaluatorSpecError(f"{use}: bad args: {exc}") from None
    if args:
        if not callable(obj):
            raise EvaluatorSpecError(f"{use} is not callable")
        sig = signature_of(obj)
        unknown = sorted(set(args) - set(sig.params)) if not sig.var_kwargs else []
        if unknown:
            raise EvaluatorSpecError(f"{use}: unknown args {', '.join(unknown)}")
        return functools.partial(obj, **args)
    return obj


def resolve_evaluator(
    *,
    name: str,
    use: str,
    args: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    prefix: str = "",
    search_paths: Iterable[Path] = (),
    base_dir: Path | None = None,
) -> BoundEvaluator:
    """Resolve one evaluator spec; raise `EvaluatorSpecError` with a one-line reason."""
    args = dict(args or {})
    key = ALIASES.get(use, use)
    builtin = BUILTINS.get(key)
    inline = False
    needs_model = False
    outputs: tuple[str, ...] | None = None
    if builtin is not None:
        if builtin.base_dir_arg and base_dir is not None:
            args.setdefault("base_dir", str(base_dir))
        try:
            obj = import_target(builtin.target)
        except ImportTargetError as exc:
            raise EvaluatorSpecError(f"built-in evaluator {use!r} is unavailable: {exc}") from None
        inline, needs_model = builtin.inline, builtin.needs_model
    elif ":" in use:
        try:
            obj = import_target(use, search_paths, base_dir)
        except ImportTargetError as exc:
            raise EvaluatorSpecError(str(exc)) from None
        from pytest_llmgate.evaluators.judge import adapt_model_evaluator  # ${judge} in args

        obj, needs_model = adapt_model_evaluator(obj, args)
    elif use.endswith(".prompty"):
        from pytest_llmgate.evaluators.judge import prompty_judge_factory

        obj = prompty_judge_factory(base_dir / use if base_dir else Path(use))
        needs_model = True
    else:
        obj = _load_entry_point(use)
        if obj is None:
            known = ", ".join(builtin_names())
            raise EvaluatorSpecError(
                f"unknown evaluator {use!r} (built-ins: {known}; or use 'module:attr')"
            )
    instance = _instantiate(obj, args, use)
    if not callable(instance):
        raise EvaluatorSpecError(f"{use} is not callable")
    declared = getattr(instance, "outputs", None)
    if isinstance(declared, (tuple, list)) and all(isinstance(o, str) for o in declared):
        outputs = tuple(declared)
    needs_model = needs_model or bool(getattr(instance, "needs_model", False))
    shown_args = {k: v for k, v in args.items() if k != "base_dir"}
    return BoundEvaluator(
        name=name,
        use=use,
        args=shown_args,
        fn=instance,
        signature=signature_of(instance),
        # an evaluator may say how it is usually fed (e.g. an evaluation flow takes the row and
        # the run outputs); the suite's own `inputs:` win
        inputs={**dict(getattr(instance, "default_inputs", None) or {}), **dict(inputs or {})},
        prefix=prefix,
        outputs=outputs,
        inline=inline,
        needs_model=needs_model,
        version=str(getattr(instance, "version", "1")),
    )
