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

from pytest_llmgate.errors import SpecError
from pytest_llmgate.evaluators.base import BoundEvaluator, signature_of
from pytest_llmgate.evaluators.promptflow_evals import is_promptflow_evals
from pytest_llmgate.util.importing import ImportTargetError, import_target

__all__ = [
    "BUILTINS",
    "EvaluatorSpecError",
    "builtin_names",
    "declared_outputs",
    "resolve_evaluator",
]

ENTRY_POINT_GROUP = "pytest_llmgate.evaluators"


class EvaluatorSpecError(SpecError):
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
_AGENT = "pytest_llmgate.evaluators.agent"
_AGENT_TURNS = "pytest_llmgate.evaluators.turns"
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
    "tool_call_match": Builtin(f"{_AGENT}:ToolCallMatch", inline=True),
    "trajectory": Builtin(f"{_AGENT}:Trajectory", inline=True),
    "turn_count": Builtin(f"{_AGENT}:TurnCount", inline=True),
    "conversation_contains": Builtin(f"{_AGENT_TURNS}:ConversationContains", inline=True),
    "conversation_regex": Builtin(f"{_AGENT_TURNS}:ConversationRegex", inline=True),
    "conversation_json_schema": Builtin(
        f"{_AGENT_TURNS}:ConversationJsonSchema", inline=True, base_dir_arg=True
    ),
    # inline: a final-state hook inspects recorded calls (cheap); it runs on the event loop
    "final_state": Builtin(f"{_AGENT_TURNS}:FinalState", inline=True, base_dir_arg=True),
    **{
        name: Builtin(f"{_AGENT}_judges:{cls}", needs_model=True)
        for name, cls in (
            ("intent_resolution", "IntentResolution"),
            ("task_adherence", "TaskAdherence"),
            ("tool_call_accuracy", "ToolCallAccuracy"),
            ("conversation_groundedness", "ConversationGroundedness"),
            ("conversation_relevance", "ConversationRelevance"),
            ("conversation_coherence", "ConversationCoherence"),
            ("conversation_fluency", "ConversationFluency"),
        )
    },
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


# numbers an evaluator returns bare become one metric named after the evaluator
_NUMBER_ANNOTATIONS = frozenset({float, int, bool, "float", "int", "bool"})
# azure classes whose results are several metrics named after other evaluators: not declarable
_AZURE_COMPOSITES = frozenset(
    {"QAEvaluator", "ContentSafetyEvaluator", "DocumentRetrievalEvaluator"}
)

# azure classes whose result keys are not their id: `rouge_score` returns rouge_precision, ...
_AZURE_NAMES = {
    "RougeScoreEvaluator": ("rouge_precision", "rouge_recall", "rouge_f1_score"),
}


def declared_outputs(instance: Any, name: str) -> tuple[str, ...] | None:
    """The metric names (fnmatch globs allowed) an evaluator can produce, before any row runs.

    From, in order: an `outputs` attribute (built-ins, custom classes); an azure-ai-evaluation
    class named by import path (azure names every result `K`, `K_*`, K its result key); a
    return annotation of a number (the metric is the evaluator's name). None when the names
    cannot be known without running it (a callable returning an unannotated dict): the
    load-time check then skips the rules that could come from it, and says so.
    """
    declared = getattr(instance, "outputs", None)
    if isinstance(declared, (tuple, list)) and declared and all(
        isinstance(o, str) and o for o in declared
    ):
        return tuple(declared)
    target = getattr(type(instance), "target", None)
    if target is not None and getattr(target, "__module__", "").startswith("azure.ai.evaluation"):
        if target.__name__ in _AZURE_COMPOSITES:
            return None
        key = getattr(target, "_RESULT_KEY", None) or str(getattr(target, "id", "")).rsplit(
            "/", 1
        )[-1]
        if not key:
            return None
        return _AZURE_NAMES.get(target.__name__, (key, f"{key}_*"))
    if target is not None:
        inner = getattr(target, "outputs", None)
        if isinstance(inner, (tuple, list)) and inner and all(isinstance(o, str) for o in inner):
            return tuple(inner)
    fn = instance.func if isinstance(instance, functools.partial) else instance
    try:
        returns = inspect.signature(fn).return_annotation  # a callable instance: its __call__
    except (TypeError, ValueError):
        return None
    if isinstance(returns, (str, type)) and returns in _NUMBER_ANNOTATIONS:
        return (name,)
    return _returned_names(fn, name)


_NUMBER_CALLS = frozenset({"float", "int", "round", "len", "sum", "min", "max", "bool", "abs"})


def _returned_names(fn: Any, name: str) -> tuple[str, ...] | None:
    """Metric names read from the source's `return` statements, when every one of them is a
    number (`return a / b` -> the evaluator's name) or a dict literal with constant string keys;
    None as soon as one return is anything else (a variable, a call): then nobody can tell."""
    import ast
    import textwrap

    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn).__call__
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    func = tree.body[0] if tree.body else None
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    found: dict[str, None] = {}

    def names_of(node: ast.expr | None) -> bool:
        if isinstance(node, ast.IfExp):
            return names_of(node.body) and names_of(node.orelse)
        if isinstance(node, ast.Dict):
            keys = [
                k.value
                for k in node.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            ]
            if len(keys) != len(node.keys):
                return False
            found.update(dict.fromkeys(keys))
            return True
        numeric = (
            isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare))
            or (isinstance(node, ast.Constant) and isinstance(node.value, (int, float)))
            or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in _NUMBER_CALLS
            )
        )
        if numeric:
            found[name] = None
        return numeric

    pending: list[ast.AST] = list(func.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # their returns are not this evaluator's
        if isinstance(node, ast.Return) and not names_of(node.value):
            return None
        pending.extend(ast.iter_child_nodes(node))
    return tuple(found) or None


def _promptflow_evals(use: str) -> str:
    """`module:attr` of a promptflow-evals evaluator, its import made to work offline."""
    import importlib.metadata

    from pytest_llmgate.evaluators.promptflow_evals import prepare, spec_of

    try:
        importlib.metadata.version("promptflow-evals")
    except importlib.metadata.PackageNotFoundError:
        raise EvaluatorSpecError(
            f"{use}: promptflow-evals is not installed (pip install promptflow-evals; or use "
            f"azure-ai-evaluation's class or the gate's built-in of the same metric)"
        ) from None
    prepare()
    return spec_of(use)


def resolve_evaluator(
    *,
    name: str,
    use: str,
    args: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    prefix: str = "",
    search_paths: Iterable[Path] = (),
    base_dir: Path | None = None,
    outputs: Iterable[str] | None = None,
) -> BoundEvaluator:
    """Resolve one evaluator spec; raise `EvaluatorSpecError` with a one-line reason.

    `outputs` (a suite's `outputs:` on the evaluator) declares its metric names where the
    evaluator itself cannot.
    """
    suite_outputs = tuple(outputs) if outputs else None
    from pytest_llmgate.promptflow.environment import prepare_environment

    # before azure-ai-evaluation / promptflow may be imported: no telemetry host, and their
    # devkit's files (`~/.promptflow/pf.yaml`) kept out of the user's home
    prepare_environment()
    args = dict(args or {})
    if is_promptflow_evals(use):
        use = _promptflow_evals(use)
    key = ALIASES.get(use, use)
    builtin = BUILTINS.get(key)
    inline = False
    needs_model = False
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
        # the instance says (`needs_model`): a prompty with its own endpoint needs no gate judge
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
        outputs=suite_outputs or declared_outputs(instance, name),
        inline=inline,
        needs_model=needs_model,
        version=str(getattr(instance, "version", "1")),
    )
