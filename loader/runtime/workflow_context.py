"""The in-process workflow engine: run steps in order, retry, compensate in reverse on failure.

A running workflow keeps its transaction in a context variable, so a step awaited anywhere in
the workflow's code (or in a nested workflow) is recorded under the same transaction id.
"""

from __future__ import annotations

import asyncio
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from loader.core.awaitables import resolve

if TYPE_CHECKING:
    from loader.kinds.workflows import Step, Workflow

__all__ = ["WorkflowContext", "WorkflowResult", "StepRecord", "run_workflow", "run_step", "run_nested"]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StepResponse(Generic[T]):
    """What a step returns: its output, and what its compensation will receive."""

    output: T
    compensate_input: Any = None


@dataclass
class StepRecord:
    """One step's outcome within a transaction."""

    step: str
    output: Any = None
    compensate_input: Any = None
    error: str | None = None
    attempts: int = 0
    compensated: bool = False


@dataclass
class WorkflowContext:
    """What workflow code and steps receive as ``ctx``."""

    transaction_id: str
    workflow: str
    container: Any = None
    steps: list[tuple[Step, StepRecord]] = field(default_factory=list)


@dataclass
class WorkflowResult:
    """The outcome of ``workflow.run(...)``: the result, or the errors after compensation.

    ``errors`` holds ``"<ExceptionType>: <text>"`` of the failure, then of each compensation
    that failed: the exceptions' own text, which for a database error includes the SQL and its
    bound parameters. Log it; never send it to a client (return the ``transaction_id`` instead).
    """

    transaction_id: str
    result: Any = None
    errors: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


_current: ContextVar[WorkflowContext | None] = ContextVar("loader_workflow", default=None)


async def _call(fn: Any, *args: Any) -> Any:
    return await resolve(fn(*args))


async def run_step(step: Step, input: Any) -> Any:
    """Run one step with its retries; inside a workflow, record it for compensation."""
    ctx = _current.get()
    record = StepRecord(step.name)
    while True:
        record.attempts += 1
        try:
            response = await asyncio.wait_for(_call(step.invoke, input, ctx), step.config.timeout)
            break
        except Exception as exc:
            if record.attempts > step.config.max_retries:
                record.error = f"{type(exc).__name__}: {exc}"
                if ctx is not None:
                    ctx.steps.append((step, record))
                raise
            await asyncio.sleep(step.config.retry_interval)
    if not isinstance(response, StepResponse):
        response = StepResponse(response)
    record.output, record.compensate_input = response.output, response.compensate_input
    if ctx is not None:
        ctx.steps.append((step, record))
    return response.output


async def run_nested(workflow: Workflow, input: Any) -> Any:
    """A workflow awaited inside another runs in the caller's transaction, as a step of it."""
    ctx = _current.get()
    if ctx is None:
        result = await run_workflow(workflow, input)
        if not result.ok:
            raise RuntimeError(f"workflow {workflow.name!r} failed: {'; '.join(result.errors)}")
        return result.result
    return await workflow.fn(input, ctx)


async def run_workflow(workflow: Workflow, input: Any = None, *, container: Any = None) -> WorkflowResult:
    """Run ``workflow`` to the end; on failure compensate completed steps in reverse order."""
    ctx = WorkflowContext(uuid.uuid4().hex, workflow.name, container)
    token = _current.set(ctx)
    try:
        result = await workflow.fn(input, ctx)
        return WorkflowResult(ctx.transaction_id, result, [], [r for _, r in ctx.steps])
    except Exception as exc:
        errors = [f"{type(exc).__name__}: {exc}"]
        for step, record in reversed(ctx.steps):
            if record.error is not None or step.compensate is None:
                continue
            try:
                await _call(step.compensate, record.compensate_input, ctx)
                record.compensated = True
            except Exception as comp_exc:  # keep compensating the rest; report every failure
                errors.append(f"compensation of {step.name!r} failed: {type(comp_exc).__name__}: {comp_exc}")
        return WorkflowResult(ctx.transaction_id, None, errors, [r for _, r in ctx.steps])
    finally:
        _current.reset(token)
