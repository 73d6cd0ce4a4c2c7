"""Conversation and agent subjects: a Python callable called turn by turn with the history.

    subjects:
      agent:
        type: conversation
        target: app.support_agent:SupportAgent     # function or class, sync or async
        conversation: {column: conversation, tools: tools, max_turns: 12}
        variants: {careful: {}, hasty: {check_eligibility: false}}

The callable takes the history as `messages` (or `history` / `chat_history`) and returns the next
step: text, an assistant message (with OpenAI `tool_calls`, answered by the row's stubbed tools
before it is called again), or a list of messages. A class gets a fresh instance per
conversation, so it may keep state across turns. A `tools` parameter receives the stubs as plain
functions (for agents that run their own tool loop), `tool_specs` the OpenAI `tools` list. The row
output is the transcript: final `response`, `messages`, `turns`, `tool_calls`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Coroutine, Mapping
from typing import Any

from pytest_llmgate.config.mapping import data_columns
from pytest_llmgate.conversation import (
    Script,
    ToolStubs,
    Transcript,
    run_conversation,
    split_conversation,
)
from pytest_llmgate.conversation._messages import Message
from pytest_llmgate.evaluators.base import signature_of
from pytest_llmgate.subjects.base import SubjectBase, SubjectSpec, default_inputs, mapped_inputs
from pytest_llmgate.subjects.python import call_maybe_async
from pytest_llmgate.util.importing import import_target

__all__ = ["ConversationSubject"]


def _drive(coroutine: Coroutine[Any, Any, Transcript]) -> Transcript:
    """Run a coroutine that never suspends (every await completes at once) to its result."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: Transcript = done.value
        return result
    coroutine.close()
    raise RuntimeError("a scripted conversation with a sync subject suspended")


HISTORY_PARAMS = ("messages", "history", "chat_history", "conversation")
_OPTIONS = frozenset({"column", "tools", "max_turns", "user", "model", "system", "parameters"})
DEFAULT_MAX_TURNS = 10


class ConversationSubject(SubjectBase):
    """A `module:attr` callable run over a conversation row."""

    needs_model = False

    def __init__(self, spec: SubjectSpec) -> None:
        self.spec = spec
        options = dict(spec.raw.get("conversation") or {})
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise ValueError(
                f"conversation: unknown option {unknown[0]!r} (use {', '.join(sorted(_OPTIONS))})"
            )
        self.column = str(options.get("column", "conversation"))
        self.tools_column = str(options.get("tools", "tools"))
        max_turns = options.get("max_turns", DEFAULT_MAX_TURNS)
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(
                f"conversation.max_turns: expected a positive integer, got {max_turns!r}"
            )
        self.max_turns = max_turns
        self.user = options.get("user")
        if self.user is not None:
            from pytest_llmgate.conversation.simulate import check_user_options

            check_user_options(self.user)
            self.needs_model = True
        target = spec.raw.get("target")
        if "model" in options:
            # no target: the agent is a model called through the gate's engine at every step
            if target:
                raise ValueError(
                    "conversation: give either target: or conversation.model, not both"
                )
            target = ModelAgent(options, spec)
            self.needs_model = True
        if not target:
            raise ValueError(
                "a conversation subject needs target: 'module:attr' (or conversation.model)"
            )
        if isinstance(target, str):
            self.target = target
            self.obj = import_target(target, spec.search_paths, spec.suite_dir)
        else:
            self.obj = target
            self.target = (
                f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"
            )
        self.is_class = inspect.isclass(self.obj)
        self.init_args = dict(spec.raw.get("init") or {})
        self.mapping = dict(spec.raw.get("inputs") or {})
        if self.is_class:
            self.init_sig = signature_of(self.obj.__init__)
            self.call_sig = signature_of(self.obj.__call__)
        elif callable(self.obj):
            self.call_sig = signature_of(self.obj)
        else:
            raise ValueError(f"{self.target} is not callable")
        found = [p for p in HISTORY_PARAMS if p in self.call_sig.params]
        if not found:
            raise ValueError(
                f"{self.target} takes no history parameter "
                f"(name one of: {', '.join(HISTORY_PARAMS)})"
            )
        self.history_param = found[0]
        accepted = set(self.call_sig.params) | (
            set(self.init_sig.params) if self.is_class else set()
        )
        for variant, params in spec.variants.items():
            extra = sorted(set(params) - accepted)
            if extra and not self.call_sig.var_kwargs:
                raise ValueError(
                    f"variant {variant!r}: {self.target} takes no parameter {extra[0]!r}"
                )

    def describe(self, variant: str) -> dict[str, Any]:
        described: dict[str, Any] = {
            "type": "conversation",
            "target": self.target,
            "params": dict(self.spec.variants[variant]),
            "max_turns": self.max_turns,
        }
        if self.user is not None:
            described["user"] = {k: v for k, v in dict(self.user).items() if k != "api_key"}
        return described

    def input_columns(self) -> set[str] | None:
        columns = {column for _, column in data_columns(self.mapping)} if self.mapping else set()
        if self.user is None:
            columns.add(self.column)
        return columns

    @staticmethod
    def _is_async(fn: Any) -> bool:
        call = type(fn).__dict__.get("__call__") if not inspect.isroutine(fn) else None
        return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)

    def _fresh(self, variant: str) -> tuple[Any, dict[str, Any]]:
        params = dict(self.spec.variants[variant])
        if not self.is_class:
            return self.obj, params
        init_params = {k: v for k, v in params.items() if k in self.init_sig.params}
        instance = self.obj(**{**self.init_args, **init_params})
        return instance, {k: v for k, v in params.items() if k not in init_params}

    async def run(self, data: Mapping[str, Any], variant: str) -> tuple[dict[str, Any], Any]:
        """Run one conversation row; the output is its transcript."""
        stubs = ToolStubs.from_row(data.get(self.tools_column), self.tools_column)
        if self.user is not None:
            from pytest_llmgate.conversation.simulate import SimulatedUser

            users: Any = SimulatedUser.from_options(self.user, data, self.spec.models)
            history: list[Message] = users.history
        else:
            if self.column not in data:
                raise LookupError(f"row has no {self.column!r} column (the conversation)")
            history, pending = split_conversation(data[self.column], self.column)
            users = Script(pending)
        fn, params = self._fresh(variant)
        skip = {self.history_param, "tools", "tool_specs", *params}
        if isinstance(fn, ModelAgent):
            inputs = {}  # row columns are not request parameters
        elif self.mapping:
            inputs = mapped_inputs(self.mapping, data)
        else:
            inputs = default_inputs(self.call_sig.params, self.call_sig.var_kwargs, data, skip)
            inputs.pop(self.column, None)
            inputs.pop(self.tools_column, None)
        extra: dict[str, Any] = {}
        own_calls = "tools" in self.call_sig.params
        if own_calls:
            extra["tools"] = stubs.callables()
        if "tool_specs" in self.call_sig.params:
            extra["tool_specs"] = stubs.openai_tools()
        missing = sorted(
            self.call_sig.required - set(inputs) - set(params) - set(extra) - {self.history_param}
        )
        if missing:
            raise LookupError(
                f"no value for parameter {missing[0]!r} of {self.target} "
                f"(row columns: {', '.join(data)}; map it under inputs:)"
            )

        if self.user is None and not self._is_async(fn):
            # a sync subject with scripted turns never waits on the loop: run the whole
            # conversation in one worker thread instead of one thread hop per step
            def call(messages: list[Message]) -> Any:
                result = fn(**{**inputs, **params, **extra, self.history_param: messages})
                if inspect.isawaitable(result):
                    raise TypeError(f"{self.target} returned an awaitable from a sync call")
                return result

            async def sync_step(messages: list[Message]) -> Any:
                return call(messages)

            conversation = run_conversation(
                sync_step,
                history,
                users,
                stubs,
                max_turns=self.max_turns,
                records_own_calls=own_calls,
            )
            context = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            transcript = await loop.run_in_executor(None, context.run, _drive, conversation)
            return inputs, transcript.as_output()

        async def step(messages: list[Message]) -> Any:
            kwargs = {**inputs, **params, **extra, self.history_param: messages}
            return await call_maybe_async(fn, kwargs, in_thread=True)

        transcript = await run_conversation(
            step, history, users, stubs, max_turns=self.max_turns, records_own_calls=own_calls
        )
        return inputs, transcript.as_output()


class ModelAgent:
    """An agent that is just a model: system prompt + history + the row's tools, one chat call
    per step through the gate's engine (cache, retries, limits, cost); variant parameters go to
    the request (`temperature`, `model`: a model name from `models:`)."""

    def __init__(self, options: Mapping[str, Any], spec: SubjectSpec) -> None:
        self.model = options.get("model")
        self.system = options.get("system")
        self.parameters = dict(options.get("parameters") or {})
        self.suite_models = spec.models
        self.source = str(spec.suite_dir)
        self.__qualname__ = f"model agent ({self.model or 'default subject model'})"

    async def __call__(
        self, messages: list[Message], tool_specs: list[dict[str, Any]], **params: Any
    ) -> dict[str, Any]:
        from pytest_llmgate.engine.llm import chat
        from pytest_llmgate.engine.runtime import model_for

        name = params.pop("model", self.model)
        model = model_for(name, "subject", suite_models=self.suite_models, source=self.source)
        prompt = [{"role": "system", "content": self.system}] if self.system else []
        request = {**self.parameters, **params}
        if tool_specs:
            request["tools"] = tool_specs
        result = await chat(model, [*prompt, *messages], params=request)
        message: dict[str, Any] = {"role": "assistant", "content": result.text or None}
        if result.tool_calls:
            message["tool_calls"] = [dict(call) for call in result.tool_calls]
        return message
