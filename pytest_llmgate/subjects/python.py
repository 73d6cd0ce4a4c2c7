"""Python subjects: a `module:attr` function or class (sync or async), and recorded answers.

Variant parameters go to the callable as keyword arguments; for a class, the ones its
`__init__` accepts go to the constructor (one instance per variant), the rest to `__call__`.
Sync callables (and class constructors) run in a worker thread so blocking I/O in user code does
not serialise rows, and a call past its time limit can be abandoned (the runner's threads are
daemons: an abandoned call never keeps the process alive).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Mapping
from typing import Any

from pytest_llmgate.config.mapping import data_columns
from pytest_llmgate.evaluators.base import signature_of
from pytest_llmgate.subjects.base import SubjectBase, SubjectSpec, default_inputs, mapped_inputs
from pytest_llmgate.util.importing import import_target

__all__ = ["PythonSubject", "RecordedSubject"]


async def call_maybe_async(fn: Any, kwargs: dict[str, Any], *, in_thread: bool) -> Any:
    """Await coroutine functions; run sync ones in a thread (keeping context vars) or inline."""
    call = type(fn).__dict__.get("__call__") if not inspect.isroutine(fn) else None
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call):
        return await fn(**kwargs)
    if not in_thread:
        result = fn(**kwargs)
    else:
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, functools.partial(context.run, fn, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result


class PythonSubject(SubjectBase):
    """A `module:attr` callable."""

    needs_model = False

    def __init__(self, spec: SubjectSpec) -> None:
        self.spec = spec
        target = spec.raw.get("target")
        if not target:
            raise ValueError("a python subject needs target: 'module:attr'")
        if isinstance(target, str):
            self.target = target
            self.obj = import_target(target, spec.search_paths, spec.suite_dir)
        else:  # the Python API passes the callable itself
            self.obj = target
            module = getattr(target, "__module__", "?")
            self.target = f"{module}:{getattr(target, '__qualname__', repr(target))}"
        self.is_class = inspect.isclass(self.obj)
        self.init_args = dict(spec.raw.get("init") or {})
        self.mapping = dict(spec.raw.get("inputs") or {})
        self._instances: dict[str, Any] = {}
        self._building: dict[str, asyncio.Lock] = {}
        if self.is_class:
            self.init_sig = signature_of(self.obj.__init__)
            self.call_sig = signature_of(self.obj.__call__)
            if not any("__call__" in vars(klass) for klass in self.obj.__mro__[:-1]):
                raise ValueError(f"{self.target} is a class without __call__")
        else:
            if not callable(self.obj):
                raise ValueError(f"{self.target} is not callable")
            self.call_sig = signature_of(self.obj)
        self._check_variant_params()

    def _check_variant_params(self) -> None:
        accepted = set(self.call_sig.params)
        if self.is_class:
            accepted |= set(self.init_sig.params)
        var_kwargs = self.call_sig.var_kwargs or (self.is_class and self.init_sig.var_kwargs)
        for variant, params in self.spec.variants.items():
            unknown = sorted(set(params) - accepted)
            if unknown and not var_kwargs:
                raise ValueError(
                    f"variant {variant!r}: {self.target} takes no parameter {unknown[0]!r}"
                )

    def describe(self, variant: str) -> dict[str, Any]:
        return {
            "type": "python",
            "target": self.target,
            "params": dict(self.spec.variants[variant]),
        }

    def input_columns(self) -> set[str] | None:
        if self.mapping:
            return {column for _, column in data_columns(self.mapping)}
        return None

    async def _callable(self, variant: str) -> tuple[Any, dict[str, Any]]:
        params = dict(self.spec.variants[variant])
        if not self.is_class:
            return self.obj, params
        init_params = {k: v for k, v in params.items() if k in self.init_sig.params}
        instance = self._instances.get(variant)
        if instance is None:
            # the constructor is user code too (it may load a model for seconds, or hang): run it
            # in a worker thread, inside the row's time limit, once per variant
            lock = self._building.setdefault(variant, asyncio.Lock())
            try:
                async with lock:
                    instance = self._instances.get(variant)
                    if instance is None:
                        context = contextvars.copy_context()
                        build = functools.partial(
                            context.run, self.obj, **{**self.init_args, **init_params}
                        )
                        instance = await asyncio.get_running_loop().run_in_executor(None, build)
                        self._instances[variant] = instance
            finally:
                self._building.pop(variant, None)
        return instance, {k: v for k, v in params.items() if k not in init_params}

    async def run(self, data: Mapping[str, Any], variant: str) -> tuple[dict[str, Any], Any]:
        fn, params = await self._callable(variant)
        if self.mapping:
            inputs = mapped_inputs(self.mapping, data)
        else:
            inputs = default_inputs(
                self.call_sig.params, self.call_sig.var_kwargs, data, set(params)
            )
        missing = sorted(self.call_sig.required - set(inputs) - set(params))
        if missing:
            raise LookupError(
                f"no value for parameter {missing[0]!r} of {self.target} "
                f"(row columns: {', '.join(data)}; map it under inputs:)"
            )
        output = await call_maybe_async(fn, {**inputs, **params}, in_thread=True)
        return inputs, output


class RecordedSubject(SubjectBase):
    """Answers recorded in a dataset column (`column:`, default `response`).

    Gates outputs produced elsewhere (a nightly batch, a production sample), calling nothing.
    """

    needs_model = False
    inline = True

    def __init__(self, spec: SubjectSpec) -> None:
        self.spec = spec
        self.column = str(spec.raw.get("column", "response"))

    def describe(self, variant: str) -> dict[str, Any]:
        return {"type": "recorded", "column": self.column}

    def input_columns(self) -> set[str] | None:
        return {self.column}

    async def run(self, data: Mapping[str, Any], variant: str) -> tuple[dict[str, Any], Any]:
        return {}, data[self.column]
