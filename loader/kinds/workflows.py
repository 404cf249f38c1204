"""Workflows: plain async Python that awaits steps, collected from ``workflows/``.

Example (``sample_project/src/workflows/publish_post.py``)::

    save_post = create_step("save-post", save, compensate=delete)

    @create_workflow("publish-post")
    async def publish_post(input, ctx):
        saved = await save_post(input)
        await notify(saved)
        return saved

Each step's ``invoke`` returns ``StepResponse(output, compensate_input)``; on failure the
completed steps are compensated in reverse order. The step config speaks the vocabulary of
Medusa's workflow engine. Running is the ``workflow_engine`` module's job
(:mod:`loader.runtime.workflows.engine`); ``workflow.run()`` is a shortcut to it.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loader.errors import LoaderError, ResourceValidationError
from loader.kinds.base import BaseBinding, BaseKind, KindChange, Runtime, defined_in
from loader.runtime.workflow_context import StepResponse, WorkflowResult
from loader.runtime.workflows.children import child_step
from loader.runtime.workflows.runner import run_nested, run_step
from loader.types import Resource, SourceFile, caller_location

__all__ = ["StepResponse", "StepConfig", "Step", "Workflow", "create_step", "create_workflow", "WorkflowKind"]



class StepConfig(BaseModel):
    """Per-step options (names follow Medusa's workflow engine)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_retries: int = Field(0, ge=0)
    retry_interval: float = Field(0, ge=0)
    # Exponential backoff with jitter (tenacity's policy) from retry_interval up to retry_max_interval.
    retry_backoff: bool = False
    retry_max_interval: float = Field(60, gt=0)
    auto_retry: bool = True
    # A waiting async step is invoked again every retry_interval_awaiting seconds, at most
    # max_awaiting_retries times (None: no bound); then it fails permanently.
    retry_interval_awaiting: float | None = Field(None, gt=0, allow_inf_nan=False)
    max_awaiting_retries: int | None = Field(None, ge=0)
    async_: bool = False
    skip_on_permanent_failure: bool | Annotated[str, Field(min_length=1)] = False
    continue_on_permanent_failure: bool = False
    timeout: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _awaiting_options_need_an_async_step(self) -> StepConfig:
        # An option that could never act is a mistake to report, not to ignore.
        if self.max_awaiting_retries is not None and self.retry_interval_awaiting is None:
            raise ValueError("max_awaiting_retries needs retry_interval_awaiting (the interval of the re-invocations it bounds)")
        if self.retry_interval_awaiting is not None and not self.async_:
            raise ValueError("retry_interval_awaiting applies to a step that waits for an answer: add async_=True")
        return self


_CHILD_CONFIG = StepConfig.model_validate({"async_": True})


class Step:
    """An awaitable unit of a workflow, made by :func:`create_step`."""

    def __init__(
        self,
        name: str,
        invoke: Callable[..., Awaitable[StepResponse[Any]] | StepResponse[Any]],
        compensate: Callable[..., Any] | None,
        config: StepConfig,
        defined_in: str | None,
        line: int | None,
    ) -> None:
        self.name, self.invoke, self.compensate, self.config = name, invoke, compensate, config
        self.defined_in, self.line = defined_in, line
        # The workflow this step runs as a child execution (``<name>-as-step``), or None.
        self.child: Workflow | None = None

    async def __call__(self, input: Any = None) -> Any:

        return await run_step(self, input)

    def __repr__(self) -> str:
        comp = ", compensate" if self.compensate else ""
        return f"Step({self.name!r}{comp})"


class Workflow:
    """An async function ``(input, ctx)`` that awaits steps, made by :func:`create_workflow`."""

    def __init__(
        self, name: str, fn: Callable[..., Awaitable[Any]], defined_in: str | None, line: int | None, *,
        idempotent: bool = False, timeout: float | None = None, retention: float | None = None,
    ) -> None:
        self.name, self.fn, self.defined_in, self.line, self.idempotent = name, fn, defined_in, line, idempotent
        # Seconds an execution may take from its start, waits included; seconds a finished one is kept.
        self.timeout, self.retention = timeout, retention
        self.__doc__ = fn.__doc__
        # The definition's version, recorded with each execution (a reload changes it).
        code = getattr(fn, "__code__", None)
        self.version = hashlib.blake2b(marshal.dumps(code) if code else repr(fn).encode(), digest_size=6).hexdigest()
        # The container of the application that bound this workflow: run() uses its engine.
        self.container: Any = None
        # Awaited inside another workflow, it is this step of it (its own execution).
        invoke, compensate = child_step(self)
        self.as_step = Step(f"{name}-as-step", invoke, compensate, _CHILD_CONFIG, defined_in, line)
        self.as_step.child = self

    async def __call__(self, input: Any = None) -> Any:
        """Awaited inside another workflow, it runs as a step of it."""

        return await run_nested(self, input)

    async def run(
        self, input: Any = None, *, container: Any = None, transaction_id: str | None = None, throw_on_error: bool = False,
    ) -> WorkflowResult:
        """Shortcut to ``container.resolve("workflow_engine").run(self, input, ...)``.

        The container is the one given, else the application's that bound this workflow; with
        neither, a process-wide ``memory`` engine runs it.
        """
        from loader.runtime.workflows.engine import engine_for

        engine = engine_for(container if container is not None else self.container)
        return await engine.run(self, input, transaction_id=transaction_id, throw_on_error=throw_on_error)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r})"


def create_step(
    name: str,
    invoke: Callable[..., Any],
    compensate: Callable[..., Any] | None = None,
    **config: Any,
) -> Step:
    """Make a step. ``invoke(input, ctx)`` returns ``StepResponse``; ``compensate(compensate_input, ctx)`` undoes it.

    Raises:
        ResourceValidationError: an unknown or invalid config key, at the calling line.
    """
    path, line, module = caller_location()
    try:
        parsed = StepConfig(**config)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors())
        raise ResourceValidationError(
            f"create_step({name!r}): {problems}; expected keys {', '.join(StepConfig.model_fields)}", path=path, line=line
        ) from None
    if not callable(invoke) or (compensate is not None and not callable(compensate)):
        raise ResourceValidationError(f"create_step({name!r}): invoke and compensate must be callables", path=path, line=line)
    return Step(name, invoke, compensate, parsed, module, line)


def _seconds(value: Any, option: str, name: str, *, zero: bool, path: str | None, line: int | None) -> float | None:
    """``value`` as seconds (None stays None); a clear error at the ``create_workflow`` line otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        expected = "a number of seconds >= 0" if zero else "a number of seconds > 0"
        raise ResourceValidationError(f"create_workflow({name!r}): {option} must be {expected}, got {value!r}", path=path, line=line)
    return float(value)


def create_workflow(
    name: str, *, idempotent: bool = False, timeout: float | None = None, retention: float | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], Workflow]:
    """Mark ``async def fn(input, ctx)`` as the workflow ``name``.

    Args:
        name: The workflow's name (what the engine and ``workflows`` know it by).
        idempotent: Running it again with the transaction id of a finished execution returns
            that execution's stored result instead of running again.
        timeout: Seconds an execution may take from its start, waits included; past them what
            runs or waits is marked ``timeout`` and the completed steps are compensated.
        retention: Seconds a finished execution is kept; then the engine deletes it.

    Raises:
        ResourceValidationError: a timeout or retention that is not a number of seconds.
    """
    path, line, module = caller_location()
    seconds = _seconds(timeout, "timeout", name, zero=False, path=path, line=line)
    kept = _seconds(retention, "retention", name, zero=True, path=path, line=line)

    def mark(fn: Callable[..., Awaitable[Any]]) -> Workflow:
        return Workflow(name, fn, module, line, idempotent=bool(idempotent), timeout=seconds, retention=kept)

    return mark


class WorkflowBinding(BaseBinding):
    """Workflows → the container's ``workflows`` mapping (name → workflow), replaced whole."""

    kinds = frozenset({"workflow"})

    def commit(self, runtime: Runtime, change: KindChange) -> None:
        workflows = {r.id: r.obj for r in change.snapshot.of("workflow")}
        for workflow in workflows.values():
            workflow.container = runtime.container
        runtime.container.register("workflows", workflows, source="loader", replace=True)


class WorkflowKind(BaseKind):
    name = "workflow"
    folder = "workflows"
    binding = WorkflowBinding()

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        resources = []
        for export, wf in defined_in(module, lambda o: isinstance(o, Workflow)):
            if not isinstance(wf.name, str) or not wf.name:
                raise self.invalid(source, wf.line, f"workflow {export} needs a name: @create_workflow(\"publish-post\")")
            if not inspect.iscoroutinefunction(wf.fn):
                raise self.invalid(source, wf.line, f"workflow {wf.name!r} must be an async function (async def {wf.fn.__name__}(input, ctx))")
            resources.append(self.resource(source, wf.name, wf, export, wf.line))
        return resources
