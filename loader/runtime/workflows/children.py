"""Workflows as steps: a workflow awaited inside another is one step of it with an execution of its own.

The parent records ``<child>-as-step`` at the call's position; the child runs under the
transaction id ``<parent tx>/<position>``. A child that waits makes that step wait; when the
child finishes later, a ``child_finished`` timer marks the parent's step through the engine
(``set_step_success`` / ``set_step_failure``), which continues the parent. Compensating the
parent's step cancels the child, after unlinking it so that it does not call back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from loader.runtime.workflow_context import PermanentStepFailure, StepResponse, WorkflowContext
from loader.runtime.workflows.runner import Finished
from loader.runtime.workflows.states import FINISHED, ExecutionState, StepState, StepStatus
from loader.runtime.workflows.timers import Timer

if TYPE_CHECKING:
    from loader.kinds.workflows import Workflow
    from loader.runtime.workflows.engine import WorkflowEngine

__all__ = ["child_step", "child_finished"]

_E = ExecutionState


def child_step(workflow: Workflow) -> tuple[Callable[..., Awaitable[StepResponse[Any]]], Callable[..., Awaitable[None]]]:
    """The invoke and compensate of ``<workflow>-as-step``: the step a parent records for a child workflow.

    The child runs as an execution of its own (transaction id ``<parent tx>/<position>``). When
    it finishes at once, the step is done with its result; when it waits, the step waits too and
    the engine marks it when the child finishes; when it fails, the step fails permanently.
    Compensating the step cancels the child (which no longer reports to the parent).
    """

    async def invoke(call: dict[str, str], ctx: WorkflowContext) -> StepResponse[Any]:
        engine = ctx.engine
        assert engine is not None
        tx = call["transaction_id"]
        result = await engine.run(workflow, call["input"], transaction_id=tx)
        handle = {"workflow": workflow.name, "transaction_id": tx}
        if result.state is ExecutionState.DONE:
            return Finished(result.result, handle)
        if result.waiting:
            engine.link_child((workflow.name, tx), (ctx.workflow, ctx.transaction_id, call["position"]))
            return StepResponse(None, handle)
        raise PermanentStepFailure("; ".join(result.errors) or f"workflow {workflow.name!r} ended {result.state.value}")

    async def compensate(handle: dict[str, str] | None, ctx: WorkflowContext) -> None:
        engine = ctx.engine
        if not handle or engine is None:
            return
        key = (handle["workflow"], handle["transaction_id"])
        engine.unlink_child(key)  # the child, cancelled by its parent, does not call back
        child = await engine.storage.load(*key)
        if child is not None and not child.cancelled and child.state not in (ExecutionState.REVERTED, ExecutionState.FAILED):
            await engine.cancel(workflow, handle["transaction_id"])

    return invoke, compensate


async def child_finished(engine: WorkflowEngine, timer: Timer) -> None:
    """The child of a waiting parent step finished: mark that step through the engine, which continues the parent."""
    parent = await engine.storage.load(timer.workflow, timer.transaction_id)
    record = parent.step_at(timer.position or "") if parent is not None else None
    if parent is None or parent.state is not _E.INVOKING or record is None or record.state is not StepState.INVOKING or record.status is not StepStatus.WAITING:
        return
    handle = record.compensate_input or {}
    child = await engine.storage.load(handle.get("workflow", ""), handle.get("transaction_id", ""))
    if child is None or child.state not in FINISHED:
        return
    if child.state is _E.DONE:
        await engine.set_step_success(timer.workflow, timer.transaction_id, record.name, child.result, position=record.position)
    else:
        error = "; ".join(child.errors) or f"workflow {child.workflow!r} ended {child.state.value}"
        await engine.set_step_failure(timer.workflow, timer.transaction_id, record.name, error, force_permanent_failure=True, position=record.position)
