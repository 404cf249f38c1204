"""What the engine does when a timer comes due (:mod:`loader.runtime.workflows.timers`), and the retention sweep.

Each action re-reads the stored execution and acts only if it is still as the timer left it:
an ``awaiting_retry`` re-invokes a step that still waits for the same attempt's answer; a
``workflow_timeout`` continues an execution that still waits, whose pass then finds its
deadline passed; ``retention`` deletes an execution unchanged since it finished;
``child_finished`` reports a child's end to its parent (:mod:`loader.runtime.workflows.children`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loader.runtime.workflows.children import child_finished
from loader.runtime.workflows.execution import now
from loader.runtime.workflows.states import FINISHED, ExecutionState, StepState, StepStatus
from loader.runtime.workflows.timers import Timer

if TYPE_CHECKING:
    from loader.runtime.workflows.engine import WorkflowEngine

__all__ = ["fire", "sweep"]

_E = ExecutionState


class _Stale(Exception):
    """A timer came for an execution that moved on: nothing to do."""


async def fire(engine: WorkflowEngine, timer: Timer) -> None:
    """A timer is due: act if the stored execution is still as the timer left it."""
    key = (timer.workflow, timer.transaction_id)
    if timer.action == "child_finished":
        await child_finished(engine, timer)
        return
    if timer.action == "retention":
        execution = await engine.storage.load(*key)
        # Unchanged since it finished (a cancel of a done one finishes it again, with a timer of its own).
        if execution is not None and execution.state in FINISHED and execution.revision == timer.guard and key not in engine._running:
            await engine.storage.delete(*key)
        return
    wf = engine.workflow(timer.workflow)
    await engine._wait_idle(key)
    future = engine._claim(key)
    reinvoke = None
    try:
        execution = await engine.storage.load(*key)
        if execution is None or execution.state is not _E.INVOKING:
            raise _Stale
        if timer.action == "awaiting_retry":
            record = execution.step_at(timer.position or "")
            if record is None or record.state is not StepState.INVOKING or record.status is not StepStatus.WAITING or record.attempts != timer.guard:
                raise _Stale
            reinvoke = (record.position, True)
    except _Stale:
        engine._release(key, future, None)
        return
    except BaseException:
        engine._release(key, future, None)
        raise
    # workflow_timeout: the pass sees its deadline passed and times out what waits.
    await engine._drive(wf, execution, execution.input, future, retry_waiting=False, reinvoke=reinvoke)


async def sweep(engine: WorkflowEngine) -> int:
    """Delete the finished executions older than their workflow's ``retention``; how many were deleted.

    Runs when the application starts; a finished execution is also deleted by a timer once
    its retention passed, while this process runs.
    """
    deleted = 0
    for wf in engine.known().values():
        if wf.retention is None:
            continue
        for execution in await engine.storage.list(wf.name):
            if execution.state in FINISHED and execution.updated_at + wf.retention <= now() and (wf.name, execution.transaction_id) not in engine._running:
                deleted += await engine.storage.delete(wf.name, execution.transaction_id)
    return deleted
