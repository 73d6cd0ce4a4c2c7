"""azure-ai-evaluation's agent judges and its conversation mode, run through the gate's engine.

`intent_resolution`, `task_adherence`, `tool_call_accuracy` (azure's agent evaluators) and
`conversation_groundedness` / `_relevance` / `_coherence` / `_fluency` (azure's `conversation=`
mode, one judgement per turn, averaged, with `evaluation_per_turn`) use azure's own classes for
everything but the transport: input checks, message preprocessing, the prompty rendering and
request parameters (`build_messages`, `prepare_open_ai_request_params`), the reply parsing
(`format_llm_response`) and the result dict are azure's code. Only the HTTP call is replaced by
the gate's pooled client (`llm.chat`: cache, retries honouring Retry-After, rate limits, the
row's judge usage and cost), so the request and the score equal azure's own class.

Inputs come from a conversation subject's transcript (`messages`, converted to azure's agent
message format) and the row's stubbed tools (as azure `tool_definitions`). Per-turn judge scores
are recorded for `per: turn` thresholds.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pytest_llmgate.errors import EvaluationError

__all__ = [
    "AzureEngineJudge",
    "ConversationCoherence",
    "ConversationFluency",
    "ConversationGroundedness",
    "ConversationRelevance",
    "IntentResolution",
    "TaskAdherence",
    "ToolCallAccuracy",
    "engine_evaluator",
]

VERSION = "1"
_TOKEN_METADATA = frozenset(
    {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "finish_reason",
        "model",
        "sample_input",
        "sample_output",
    }
)
# the model configuration azure's classes are built with: never called (the transport is the
# gate's), so no endpoint or key is needed or recorded
_UNUSED_CONFIG = {
    "type": "openai",
    "base_url": "http://127.0.0.1:9/v1",
    "api_key": "unused",
    "model": "judge",
}


class _EngineFlow:
    """Stands in for an azure evaluator's `_flow` (its AsyncPrompty): azure renders and parses,
    the gate's engine sends."""

    def __init__(self, flow: Any, model: str | None, key: str) -> None:
        self.flow = flow
        self.model = model
        self.key = key

    async def __call__(self, *, timeout: float | None = None, **kwargs: Any) -> dict[str, Any]:
        from azure.ai.evaluation._legacy.prompty._utils import (
            build_messages,
            format_llm_response,
            prepare_open_ai_request_params,
        )
        from openai.types.chat import ChatCompletion

        from pytest_llmgate.engine.llm import chat
        from pytest_llmgate.engine.runtime import model_for

        flow = self.flow
        inputs = flow._resolve_inputs(kwargs)
        messages = build_messages(prompt=flow._template, working_dir=flow.path.parent, **inputs)
        params = dict(prepare_open_ai_request_params(flow._model, messages))
        params.pop("model", None)
        params.pop("messages", None)
        result = await chat(
            model_for(self.model, "judge"),
            messages,
            params=params,
            role="judge",
            cache_extra={"evaluator": self.key, "version": VERSION},
        )
        if result.finish_reason == "content_filter":
            raise EvaluationError(f"the judge refused ({self.key}): content filter")
        response = ChatCompletion.model_validate(
            {
                "id": "llmgate",
                "object": "chat.completion",
                "created": 0,
                "model": result.model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": result.finish_reason or "stop",
                        "message": {"role": "assistant", "content": result.text},
                    }
                ],
                "usage": {
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "total_tokens": result.prompt_tokens + result.completion_tokens,
                },
            }
        )
        is_first = flow._data.get("model", {}).get("response", "first").lower() == "first"
        formatted: dict[str, Any] = await format_llm_response(
            response=response,
            is_first_choice=is_first,
            response_format=params.get("response_format", {}),
            outputs=flow._outputs,
            inputs=inputs,
        )
        return formatted


def engine_evaluator(class_name: str, model: str | None = None, **kwargs: Any) -> Any:
    """An azure evaluator instance whose model calls go through the gate's engine."""
    import azure.ai.evaluation as evaluation

    instance = getattr(evaluation, class_name)(dict(_UNUSED_CONFIG), **kwargs)
    _rewire(instance, model)
    return instance


def _rewire(instance: Any, model: str | None) -> None:
    # composite evaluators keep sub-evaluators; each prompty-based one owns a `_flow`
    if hasattr(instance, "_flow"):
        key = str(getattr(instance, "_result_key", type(instance).__name__))
        instance._flow = _EngineFlow(instance._flow, model, key)
    for sub in getattr(instance, "_evaluators", None) or []:
        _rewire(sub, model)


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else str(content)


class AzureEngineJudge:
    """Base: one azure evaluator class, built once, called on the gate's event loop."""

    azure_class: ClassVar[str]
    key: ClassVar[str]
    needs_model = True
    version = VERSION

    def __init__(self, *, model: str | None = None, threshold: float = 3) -> None:
        self.model = model
        self.threshold = threshold
        self.outputs = (self.key,)
        self._instance: Any = None
        self._lock = threading.Lock()

    def evaluator(self) -> Any:
        with self._lock:
            if self._instance is None:
                self._instance = engine_evaluator(
                    self.azure_class, self.model, threshold=self.threshold
                )
            return self._instance

    async def run(self, **kwargs: Any) -> dict[str, Any]:
        """azure's own `_real_call` (input checks, conversation split, per-turn aggregation)."""
        try:
            result = await self.evaluator()._real_call(**kwargs)
        except EvaluationError:
            raise
        except Exception as exc:
            from pytest_llmgate.config.models import redact

            raise EvaluationError(redact(f"{type(exc).__name__}: {exc}")) from None
        out = dict(result)
        for name, value in list(out.items()):
            if name.endswith("_properties") and isinstance(value, Mapping):
                # the row's ledger records usage; the sample prompt would bloat every artifact
                out[name] = {k: v for k, v in value.items() if k not in _TOKEN_METADATA}
        status = out.get(f"{self.key}_status")
        if status not in (None, "completed"):
            raise EvaluationError(f"{self.key}: {status}: {out.get(f'{self.key}_reason', '')}")
        per_turn = out.pop("evaluation_per_turn", None)
        if isinstance(per_turn, Mapping) and isinstance(per_turn.get(self.key), list):
            values = [float(v) for v in per_turn[self.key]]
            out[f"{self.key}_turns"] = {"values": values, "turns": list(range(1, len(values) + 1))}
            reasons = per_turn.get(f"{self.key}_reason")
            if isinstance(reasons, list):
                out[f"{self.key}_turn_reasons"] = {"values": [str(r) for r in reasons]}
        return out


def _split(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(query, response) in azure's agent format: up to the last user message, then the rest."""
    from pytest_llmgate.conversation.azure import to_azure_messages

    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    if last_user < 0:
        raise EvaluationError("the conversation has no user message")
    return (
        to_azure_messages(messages[: last_user + 1]),
        to_azure_messages(messages[last_user + 1 :]),
    )


def _tool_definitions(tools: Any) -> list[dict[str, Any]]:
    from pytest_llmgate.conversation import ToolStubs
    from pytest_llmgate.conversation.azure import azure_tool_definitions

    if not tools:
        return []
    return azure_tool_definitions(ToolStubs.from_row(tools, "tools").openai_tools())


class IntentResolution(AzureEngineJudge):
    azure_class = "IntentResolutionEvaluator"
    key = "intent_resolution"

    async def __call__(self, *, messages: Any, tools: Any = None) -> dict[str, Any]:
        query, response = _split(messages)
        definitions = _tool_definitions(tools)
        extra = {"tool_definitions": definitions} if definitions else {}
        return await self.run(query=query, response=response, **extra)


class TaskAdherence(AzureEngineJudge):
    azure_class = "TaskAdherenceEvaluator"
    key = "task_adherence"

    async def __call__(self, *, messages: Any, tools: Any = None) -> dict[str, Any]:
        query, response = _split(messages)
        definitions = _tool_definitions(tools)
        extra = {"tool_definitions": definitions} if definitions else {}
        return await self.run(query=query, response=response, **extra)


class ToolCallAccuracy(AzureEngineJudge):
    azure_class = "ToolCallAccuracyEvaluator"
    key = "tool_call_accuracy"

    async def __call__(self, *, messages: Any, tools: Any = None) -> dict[str, Any]:
        query, response = _split(messages)
        return await self.run(
            query=query, response=response, tool_definitions=_tool_definitions(tools)
        )


class _ConversationJudge(AzureEngineJudge):
    """azure's `conversation=` mode: user/assistant turns (tool messages left out, as azure's
    conversation schema has none), one judgement per turn, the mean as the conversation's."""

    async def __call__(self, *, messages: Any, context: Any = None) -> dict[str, Any]:
        turns: list[dict[str, Any]] = []
        for message in messages:
            role = message.get("role")
            text = _text(message)
            if not (role == "user" or (role == "assistant" and text)):
                continue
            if turns and turns[-1]["role"] == role:  # azure pairs alternating user/assistant
                turns[-1]["content"] += "\n" + text
                continue
            entry: dict[str, Any] = {"role": role, "content": text}
            if role == "assistant" and context is not None:
                entry["context"] = str(context)
            turns.append(entry)
        return await self.run(conversation={"messages": turns})


class ConversationGroundedness(_ConversationJudge):
    azure_class = "GroundednessEvaluator"
    key = "groundedness"

    # context is required here: the signature tells the runner (and collection) to supply it
    async def __call__(self, *, messages: Any, context: Any) -> dict[str, Any]:  # type: ignore[override]
        return await super().__call__(messages=messages, context=context)


class ConversationRelevance(_ConversationJudge):
    azure_class = "RelevanceEvaluator"
    key = "relevance"


class ConversationCoherence(_ConversationJudge):
    azure_class = "CoherenceEvaluator"
    key = "coherence"


class ConversationFluency(_ConversationJudge):
    azure_class = "FluencyEvaluator"
    key = "fluency"
