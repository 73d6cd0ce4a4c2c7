"""LLM-judge evaluators: azure-ai-evaluation's judges driven through the gate's own engine.

The seven built-ins (`groundedness`, `relevance`, `coherence`, `fluency`, `similarity`,
`retrieval`, `response_completeness`) load azure-ai-evaluation's own `.prompty` files from the
installed package (found with `importlib.util.find_spec`, which does not import the package: the
import costs seconds), render them as azure's prompty loader does, send them with azure's request
parameters through `llm.chat` (pooled client, retries, limits, cache, per-row usage ledger) and
parse the reply as azure 1.18.10 does (`PromptyEvaluationStrategy.parse`, or the dict-only parse of
Relevance and ResponseCompleteness). They return azure's dict for result key K: `K, K_score,
K_passed, K_result, K_reason, K_status, K_threshold, K_properties` (azure has no `gpt_K` keys any
more). `K_properties` carries what the judge answered (retrieval's `thought_chain`), not azure's
token metadata: the gate records judge usage itself (`judge_prompt_tokens`, `judge_cost_usd`).

Fail closed: an answer that is not a JSON object with a score, a score that is NaN or off the 1-5
scale, a refusal (`content_filter`), a skipped status, or a call failing after its retries raise,
so the row is an error, never a 0 and never a pass. Azure itself returns NaN (or the skipped dict)
in some of these cases; the gate turns them into errors.

Also here: `prompty_judge_factory(path)` for custom judge `.prompty` files (reply
`{"score": N, "reason": ...}`, metric named after the file stem; the file's own
`model.configuration` answers, as in Prompt Flow, unless the suite names a `model:`), and
`AzureClassEvaluator`, an adapter that runs any azure-ai-evaluation evaluator class named by
import path with the session's judge model (`args: {model_config: ${judge}}` or
`${model:NAME}`) on azure's own client.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import json
import math
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pytest_llmgate.errors import EvaluationError

__all__ = [
    "AZURE_JUDGES",
    "AzureClassEvaluator",
    "AzureJudge",
    "Coherence",
    "Fluency",
    "Groundedness",
    "JudgeAnswerError",
    "PromptyJudge",
    "Relevance",
    "ResponseCompleteness",
    "Retrieval",
    "Similarity",
    "adapt_model_evaluator",
    "azure_prompty",
    "parse_answer",
    "prompty_judge_factory",
    "render_azure_prompty",
]

JUDGE_VERSION = "1"
# azure.ai.evaluation._common.constants.PROMPT_BASED_REASON_EVALUATORS (1.18.10)
_REASON_EVALUATORS = frozenset(
    {
        "coherence",
        "relevance",
        "retrieval",
        "groundedness",
        "fluency",
        "intent_resolution",
        "tool_call_accurate",
        "response_completeness",
        "task_adherence",
        "tool_selection",
        "tool_output_utilization",
        "task_completion",
    }
)
# azure.ai.evaluation._legacy.prompty._utils (1.18.10)
_VALID_ROLES = ("system", "user", "assistant", "function")
_ROLE_SEPARATOR = re.compile(r"(?i)^\s*#?\s*(" + "|".join(_VALID_ROLES) + r")\s*:\s*\n", re.M)
_MARKDOWN_IMAGE = re.compile(r"(?P<match>!\[[^\]]*\]\(.*?(?=\"|\))\))", re.M)
_NAME_AND_CONTENT = re.compile(
    r"\n*#{0,2}\s*name\s*:\s*\n+\s*(\S+)\s*\n*#{0,2}\s*content\s*:\s*\n?(.*)", re.S
)
# The name/content pattern backtracks on every whitespace run (0.2 ms on a judge prompt); it can
# only match where "name" is followed by a colon, which this linear search rules out first.
_NAME_COLON = re.compile(r"name\s*:")
_REASONING_MAX_COMPLETION_TOKENS = 60000


class JudgeAnswerError(EvaluationError):
    """The judge's answer cannot be turned into a score."""


# --- azure's prompty files ------------------------------------------------------------------------


@functools.cache
def _azure_root() -> Path | None:
    try:
        spec = importlib.util.find_spec("azure.ai.evaluation")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def azure_prompty(relative: str) -> tuple[dict[str, Any], str]:
    """(front matter, template body) of one of azure-ai-evaluation's `.prompty` files."""
    import yaml

    root = _azure_root()
    if root is None:
        raise EvaluationError(
            "LLM judges need azure-ai-evaluation's prompts: pip install 'pytest-llmgate[azure]'"
        )
    path = root / "_evaluators" / relative
    text = path.read_text(encoding="utf-8")
    # the same split as azure's AsyncPrompty._parse_prompty
    match = re.search(r"-{3,}\n(.*)-{3,}\n(.*)", text, re.DOTALL)
    if not match:
        raise EvaluationError(f"{path}: not a prompty file")
    return yaml.safe_load(match.group(1)) or {}, match.group(2)


@functools.cache
def _azure_template(relative: str) -> Any:
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(trim_blocks=True, keep_trailing_newline=True)
    return env.from_string(azure_prompty(relative)[1])


# Every role line has a colon followed by blanks up to a newline: a search for that (a literal
# first character) finds the few places where `_ROLE_SEPARATOR` can match.
_COLON_EOL = re.compile(r":[^\S\n]*\n")


def split_roles(chat: str) -> list[str]:
    """`_ROLE_SEPARATOR.split(chat)`, about 5x faster on a judge prompt.

    The pattern has no literal prefix, so `re` tries it at every character of a prompt of several
    KB. Here it is tried only at the line starts before a role-like word ending at a colon that
    ends its line: every match has one, matches are ordered by their colon, and the first line
    start that matches is the one `re.split` would find.
    """
    out: list[str] = []
    last = 0
    for colon in _COLON_EOL.finditer(chat):
        k = colon.start()
        if k < last:
            continue
        while k > last and chat[k - 1].isspace():  # `\s*` before the colon
            k -= 1
        word_end = k
        while k > last and not chat[k - 1].isspace():  # the role word, maybe with its `#`
            k -= 1
        if not 0 < word_end - k <= len("#assistant"):
            continue
        while k > last and (chat[k - 1].isspace() or chat[k - 1] == "#"):  # `^\s*#?\s*`
            k -= 1
        for start in range(k, word_end):
            if start == 0 or chat[start - 1] == "\n":
                match = _ROLE_SEPARATOR.match(chat, start)
                if match is not None:
                    out += (chat[last:start], match.group(1))
                    last = match.end()
                    break
    out.append(chat[last:])
    return out


def _parse_chat(chat: str) -> list[dict[str, Any]]:
    """azure's `_parse_chat`: role lines split the rendered text into messages."""
    chunks = split_roles(chat)
    messages: list[dict[str, Any]] = []
    for chunk in chunks:
        last = messages[-1] if messages else None
        if last is not None and "content" not in last:
            named = _NAME_AND_CONTENT.search(chunk) if _NAME_COLON.search(chunk) else None
            if named is not None:
                last["name"], chunk = named.group(1), named.group(2)
            parts = [c for c in (p.strip() for p in _MARKDOWN_IMAGE.split(chunk)) if c] if (
                "![" in chunk) else []
            if len(parts) > 1:
                raise EvaluationError(
                    "markdown images in judge inputs are not supported by the built-in judges "
                    "(use the azure.ai.evaluation class by import path)"
                )
            last["content"] = chunk.strip()
        elif chunk.strip():
            role = chunk.strip().lower()
            if role not in _VALID_ROLES:
                raise EvaluationError(f"judge prompt has an invalid role {role!r}")
            messages.append({"role": role})
    return messages


def render_azure_prompty(
    relative: str, values: Mapping[str, Any], *, reasoning: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(messages, request parameters) exactly as azure's prompty runner builds them."""
    front, _ = azure_prompty(relative)
    inputs: dict[str, Any] = {}
    for name, spec in (front.get("inputs") or {}).items():
        if name not in values and "default" not in (spec or {}):
            raise EvaluationError(f"judge prompt {relative}: missing input {name!r}")
        inputs[name] = values.get(name, (spec or {}).get("default"))
    messages = _parse_chat(_azure_template(relative).render(**inputs))
    params = json.loads(json.dumps((front.get("model") or {}).get("parameters") or {}))
    if reasoning:
        if "max_tokens" in params:
            params.pop("max_tokens")
            params["max_completion_tokens"] = _REASONING_MAX_COMPLETION_TOKENS
        for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
            params.pop(key, None)
    return messages, params


# --- azure's answer parsing -------------------------------------------------------------------


def _reason_score(text: str) -> tuple[float, str]:
    """azure's `parse_quality_evaluator_reason_score` (the `<S1>`/`<S2>` tag format)."""
    score, reason = math.nan, ""
    if text:
        scores = re.findall(r"<S2>\D*?([1-5]).*?</S2>", text, re.DOTALL)
        reasons = re.findall(r"<S1>(.*?)</S1>", text, re.DOTALL)
        if scores:
            score = float(scores[0].strip())
        if reasons:
            reason = reasons[0].strip()
    return score, reason


def _result(
    key: str,
    score: float | None,
    verdict: str,
    reason: str,
    status: str,
    properties: Any,
    threshold: float,
) -> dict[str, Any]:
    return {
        key: score,
        f"{key}_score": score,
        f"{key}_passed": verdict == "pass" if verdict in ("pass", "fail", "unknown") else None,
        f"{key}_result": verdict,
        f"{key}_reason": reason,
        f"{key}_status": status,
        f"{key}_threshold": threshold,
        f"{key}_properties": properties,
    }


def _verdict(score: float, threshold: float) -> str:
    if math.isnan(score):
        return "unknown"
    return "pass" if score >= threshold else "fail"


def _to_float(value: Any, text: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise JudgeAnswerError(f"judge score {value!r} is not a number: {text[:200]!r}") from None


def parse_answer(
    key: str, text: str, *, threshold: float = 3, dict_only: bool = False
) -> dict[str, Any]:
    """azure 1.18.10's result dict for a judge reply `text` (NaN where azure gives NaN).

    `dict_only` is the parse of RelevanceEvaluator / ResponseCompletenessEvaluator; otherwise
    `PromptyEvaluationStrategy(strict=False, missing_score=nan).parse`. Raises where azure raises.
    """
    try:
        answer: Any = json.loads(text)  # azure's format_llm_response in json_object mode
    except (TypeError, ValueError):
        raise JudgeAnswerError(f"judge answer is not JSON: {text[:200]!r}") from None
    if dict_only:
        if not isinstance(answer, dict):
            raise JudgeAnswerError(f"judge answer is not a JSON object: {text[:200]!r}")
        if answer.get("status", "completed") == "skipped":
            return _result(
                key,
                None,
                "not_applicable",
                f"Not applicable: {answer.get('reason', '')}",
                "skipped",
                None,
                threshold,
            )
        score = _to_float(answer.get("score", math.nan), text)
        found = answer.get("properties", {}) or {}
        return _result(
            key,
            score,
            _verdict(score, threshold),
            answer.get("reason", ""),
            "completed",
            found,
            threshold,
        )
    if isinstance(answer, str):
        try:
            parsed = json.loads(answer)
        except (TypeError, ValueError):
            parsed = None
        if isinstance(parsed, dict) and parsed:
            answer = parsed
    reason: Any = ""
    properties: Any = {}
    value: Any = math.nan
    if isinstance(answer, dict) and answer:
        if answer.get("status", "completed") == "skipped":
            return _result(
                key,
                None,
                "not_applicable",
                f"Not applicable: {answer.get('reason', '')}",
                "skipped",
                answer.get("properties", {}) or {},
                threshold,
            )
        value = answer.get("score", math.nan)
        reason = answer.get("reason", "")
        properties = answer.get("properties", {}) or {}
    elif isinstance(answer, str):
        if key in _REASON_EVALUATORS:
            value, reason = _reason_score(answer)
        else:
            digit = re.search(r"\d", answer)
            if digit:
                value = float(digit.group())
    score = _to_float(value, text) if value is not None else math.nan
    return _result(
        key, score, _verdict(score, threshold), reason, "completed", properties, threshold
    )


# --- the built-in judges ----------------------------------------------------------------------


async def _judge_call(
    model_name: str | None, messages: list[dict[str, Any]], params: dict[str, Any], evaluator: str
) -> tuple[str, str | None]:
    from pytest_llmgate.engine.llm import chat
    from pytest_llmgate.engine.runtime import model_for

    model = model_for(model_name, "judge")
    result = await chat(
        model,
        messages,
        params=params,
        role="judge",
        cache_extra={"evaluator": evaluator, "version": JUDGE_VERSION},
    )
    return result.text, result.finish_reason


def _check_answer(
    key: str, out: Mapping[str, Any], text: str, finish: str | None, low: float = 1, high: float = 5
) -> None:
    if finish == "content_filter":
        raise JudgeAnswerError(f"the judge refused ({key}): content filter")
    if out.get(f"{key}_status") == "skipped":
        raise JudgeAnswerError(f"the judge skipped {key}: {out.get(f'{key}_reason')}")
    score = out.get(key)
    if not isinstance(score, float) or math.isnan(score):
        raise JudgeAnswerError(f"the judge gave no {key} score: {text[:200]!r}")
    if not low <= score <= high:
        raise JudgeAnswerError(f"the judge's {key} score {score:g} is outside {low:g}-{high:g}")


class AzureJudge:
    """Base of the built-in judges (one azure prompty, one result key)."""

    key: ClassVar[str]
    prompty: ClassVar[str]
    dict_only: ClassVar[bool] = False
    needs_model = True
    version = JUDGE_VERSION

    def __init__(
        self, *, model: str | None = None, threshold: float = 3, is_reasoning_model: bool = False
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.reasoning = is_reasoning_model
        self.outputs = (self.key,)

    def _prompty_for(self, values: Mapping[str, Any]) -> str:
        return self.prompty

    async def evaluate(self, values: dict[str, Any]) -> dict[str, Any]:
        for name, value in values.items():
            if value is None:
                raise EvaluationError(f"{self.key}: input {name!r} is None")
        relative = self._prompty_for(values)
        messages, params = render_azure_prompty(relative, values, reasoning=self.reasoning)
        text, finish = await _judge_call(self.model, messages, params, self.key)
        out = parse_answer(self.key, text, threshold=self.threshold, dict_only=self.dict_only)
        _check_answer(self.key, out, text, finish)
        return out


class Groundedness(AzureJudge):
    key = "groundedness"
    prompty = "_groundedness/groundedness_without_query.prompty"

    def _prompty_for(self, values: Mapping[str, Any]) -> str:
        return (
            "_groundedness/groundedness_with_query.prompty"
            if values.get("query")
            else (self.prompty)
        )

    async def __call__(
        self, *, response: str, context: str, query: str | None = None
    ) -> dict[str, Any]:
        values = {"response": response, "context": context}
        if query:
            values["query"] = query
        return await self.evaluate(values)


class Relevance(AzureJudge):
    key = "relevance"
    prompty = "_relevance/relevance.prompty"
    dict_only = True

    async def __call__(self, *, query: str, response: str) -> dict[str, Any]:
        if not isinstance(query, str) or not isinstance(response, str):
            raise EvaluationError(
                "relevance: query and response must be text (for message lists "
                "use azure.ai.evaluation:RelevanceEvaluator)"
            )
        return await self.evaluate({"query": query, "response": response})


class Coherence(AzureJudge):
    key = "coherence"
    prompty = "_coherence/coherence.prompty"

    async def __call__(self, *, query: str, response: str) -> dict[str, Any]:
        return await self.evaluate({"query": query, "response": response})


class Fluency(AzureJudge):
    key = "fluency"
    prompty = "_fluency/fluency.prompty"

    async def __call__(self, *, response: str) -> dict[str, Any]:
        return await self.evaluate({"response": response})


class Similarity(AzureJudge):
    key = "similarity"
    prompty = "_similarity/similarity.prompty"

    async def __call__(self, *, query: str, response: str, ground_truth: str) -> dict[str, Any]:
        return await self.evaluate(
            {"query": query, "response": response, "ground_truth": ground_truth}
        )


class Retrieval(AzureJudge):
    key = "retrieval"
    prompty = "_retrieval/retrieval.prompty"

    async def __call__(self, *, query: str, context: str) -> dict[str, Any]:
        return await self.evaluate({"query": query, "context": context})


class ResponseCompleteness(AzureJudge):
    key = "response_completeness"
    prompty = "_response_completeness/response_completeness.prompty"
    dict_only = True

    async def __call__(self, *, response: str, ground_truth: str) -> dict[str, Any]:
        return await self.evaluate({"response": response, "ground_truth": ground_truth})


AZURE_JUDGES: dict[str, tuple[type[AzureJudge], str]] = {
    "groundedness": (Groundedness, "GroundednessEvaluator"),
    "relevance": (Relevance, "RelevanceEvaluator"),
    "coherence": (Coherence, "CoherenceEvaluator"),
    "fluency": (Fluency, "FluencyEvaluator"),
    "similarity": (Similarity, "SimilarityEvaluator"),
    "retrieval": (Retrieval, "RetrievalEvaluator"),
    "response_completeness": (ResponseCompleteness, "ResponseCompletenessEvaluator"),
}


# --- custom judge .prompty files -------------------------------------------------------------


class PromptyJudge:
    """A user's judge prompt; the reply must be a JSON object with a numeric `score`.

    The judge is the prompty's own `model.configuration` when it names an endpoint (directly,
    by `${env:X}`, by `connection:`, or by Prompt Flow's AZURE_OPENAI_* defaults), as Prompt Flow
    runs it; a `model:` argument in the suite overrides it; with neither, the gate's judge.
    A connection that cannot be built errors every row and names the variables to set."""

    needs_model = True
    path: ClassVar[Path]
    metric: ClassVar[str]

    def __init__(
        self, *, model: str | None = None, min: float | None = None, max: float | None = None
    ) -> None:
        from pytest_llmgate.config.prompts import load_prompty

        self.model = model
        self.low, self.high = min, max
        self.template = load_prompty(self.path)
        self.params = dict(self.template.parameters or {})
        self.params.setdefault("response_format", {"type": "json_object"})
        self.outputs = (self.metric,)
        self.version = hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]
        self.own_model: Any = None
        self._own_error: str | None = None
        if model is None and self.template.configuration:
            self._own_model()
        # a judge answered by its own endpoint does not need the gate's judge model
        self.needs_model = self.own_model is None and self._own_error is None

    def _own_model(self) -> None:
        from pytest_llmgate.engine.runtime import rootdir
        from pytest_llmgate.promptflow.connections import ConnectionError_
        from pytest_llmgate.promptflow.prompty import prompty_model

        try:
            self.own_model = prompty_model(
                self.template.configuration or {}, rootdir() or Path.cwd(), self.template.where
            )
        except ConnectionError_ as exc:
            self._own_error = f"{self.template.where}: {exc}"

    async def evaluate(self, values: dict[str, Any]) -> dict[str, Any]:
        from pytest_llmgate.engine.llm import chat
        from pytest_llmgate.engine.runtime import model_for

        values = {k: v for k, v in values.items() if v is not None}
        for name, default in (self.template.defaults or {}).items():
            values.setdefault(name, default)
        messages = self.template.render(values)
        if self._own_error is not None:
            raise EvaluationError(self._own_error)
        result = await chat(
            self.own_model or model_for(self.model, "judge"),
            messages,
            params=self.params,
            role="judge",
            cache_extra={"evaluator": str(self.metric), "version": self.version},
        )
        if result.finish_reason == "content_filter":
            raise JudgeAnswerError(f"the judge refused ({self.metric}): content filter")
        try:
            answer = json.loads(result.text)
        except ValueError:
            raise JudgeAnswerError(f"judge answer is not JSON: {result.text[:200]!r}") from None
        score = answer.get("score") if isinstance(answer, dict) else None
        if (
            isinstance(score, bool)
            or not isinstance(score, (int, float))
            or not math.isfinite(score)
        ):
            raise JudgeAnswerError(f"judge answer has no numeric score: {result.text[:200]!r}")
        if (self.low is not None and score < self.low) or (
            self.high is not None and score > self.high
        ):
            raise JudgeAnswerError(f"judge score {score:g} is outside {self.low}-{self.high}")
        return {self.metric: float(score), f"{self.metric}_reason": str(answer.get("reason", ""))}


_prompty_classes: dict[Path, type[PromptyJudge]] = {}


def prompty_judge_factory(path: Path | str) -> type[PromptyJudge]:
    """A judge class for a `.prompty` file; its keyword inputs are the file's `inputs:`."""
    from pytest_llmgate.config.prompts import load_prompty

    path = Path(path).resolve()
    cls = _prompty_classes.get(path)
    if cls is not None:
        return cls
    if not path.is_file():
        raise ValueError(f"judge prompt not found: {path}")
    template = load_prompty(path)
    names = list(template.declared or sorted(template.variables()))
    defaults = template.defaults or {}
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(
            n,
            inspect.Parameter.KEYWORD_ONLY,
            default=defaults.get(n, None) if n in defaults else inspect.Parameter.empty,
        )
        for n in names
    ]

    async def __call__(self: PromptyJudge, **kwargs: Any) -> dict[str, Any]:
        return await self.evaluate(kwargs)

    __call__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    metric = re.sub(r"\W", "_", path.stem)
    cls = type(
        f"PromptyJudge_{metric}",
        (PromptyJudge,),
        {"__call__": __call__, "path": path, "metric": metric},
    )
    _prompty_classes[path] = cls
    return cls


# --- any azure-ai-evaluation class by import path --------------------------------------------

_PLACEHOLDER = re.compile(r"^\$\{(judge|model:([A-Za-z0-9_.-]+))\}$")


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_PLACEHOLDER.match(value.strip()))
    if isinstance(value, Mapping):
        return any(_has_placeholder(v) for v in value.values())
    return False


def _resolve_placeholders(value: Any) -> Any:
    from pytest_llmgate.config.models import azure_model_config
    from pytest_llmgate.engine.runtime import model_for

    if isinstance(value, str):
        match = _PLACEHOLDER.match(value.strip())
        if match:
            return dict(azure_model_config(model_for(match.group(2), "judge")))
        return value
    if isinstance(value, Mapping):
        return {k: _resolve_placeholders(v) for k, v in value.items()}
    return value


_TOKEN_METADATA = ("prompt_tokens", "completion_tokens", "total_tokens")


class AzureClassEvaluator:
    """Runs an azure-ai-evaluation evaluator class built lazily with the session's judge.

    `args` values `${judge}` / `${model:NAME}` become `AzureOpenAIModelConfiguration` /
    `OpenAIModelConfiguration` dicts at the first call (after the session has loaded the models),
    so the key never reaches the suite spec or the results. The class runs on azure's own client
    in a worker thread; its token metadata is dropped from `K_properties` (numbers there would be
    read as metrics and clash with the subject's `prompt_tokens`).
    """

    target: ClassVar[Any]
    needs_model = True

    def __init__(self, **args: Any) -> None:
        self.args = args
        self._instance: Any = None
        self._lock = threading.Lock()

    def _evaluator(self) -> Any:
        with self._lock:
            if self._instance is None:
                self._instance = self.target(**_resolve_placeholders(self.args))
            return self._instance

    def _call(self, **kwargs: Any) -> Any:
        try:
            result = self._evaluator()(**kwargs)
        except Exception as exc:
            from pytest_llmgate.config.models import redact

            raise EvaluationError(redact(f"{type(exc).__name__}: {exc}")) from None
        if isinstance(result, dict):
            result = dict(result)
            for key, value in list(result.items()):
                if key.endswith("_properties") and isinstance(value, dict):
                    result[key] = {k: v for k, v in value.items() if k not in _TOKEN_METADATA}
        return result


def _overload_names(target: Any) -> list[str]:
    """Input names of an evaluator class (azure declares them in @overload signatures)."""
    from pytest_llmgate.evaluators.base import signature_of

    return list(signature_of(target.__call__).params)


def adapt_model_evaluator(obj: Any, args: Mapping[str, Any]) -> tuple[Any, bool]:
    """Registry hook: wrap a class whose args name a model placeholder, or any
    azure-ai-evaluation class, so it is built lazily with the session's models. Returns
    (object to instantiate with args, needs_model)."""
    is_azure = inspect.isclass(obj) and obj.__module__.startswith("azure.ai.evaluation")
    if not inspect.isclass(obj) or not (is_azure or _has_placeholder(args)):
        return obj, False
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None)
        for n in _overload_names(obj)
    ]

    def __call__(self: AzureClassEvaluator, **kwargs: Any) -> Any:
        return self._call(**{k: v for k, v in kwargs.items() if v is not None})

    __call__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    adapted = type(
        f"{obj.__name__}Adapter", (AzureClassEvaluator,), {"__call__": __call__, "target": obj}
    )
    return adapted, True
