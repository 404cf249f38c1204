"""Running one execution: each step call is replayed from the record or invoked and checkpointed.

A step awaited inside a workflow asks the :class:`ExecutionRun` of the context: the call's
position (``"0"``, ``"1"``…; ``"2.1.0"`` inside the second branch of a ``parallel`` at 2) is
looked up in the record. A step already done there returns its recorded output without being
invoked (replay); a record with another step name there means the workflow code is not
deterministic, and the execution fails naming both. Otherwise the step is invoked with its
options (retries with a tenacity wait policy, timeout, async, skip/continue on permanent
failure) and its outcome is checkpointed before the workflow goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loader.core.awaitables import resolve
from loader.runtime.workflow_context import PermanentStepFailure, StepResponse, WorkflowContext, current_context
from loader.runtime.workflows.errors import WorkflowDeterminismError, WorkflowError
from loader.runtime.workflows.execution import Execution, NonSerializableCheckpointError, StepRecord, checkpoint_value, now
from loader.runtime.workflows.states import ExecutionState, StepState, StepStatus

if TYPE_CHECKING:
    from loader.kinds.workflows import Step, StepConfig, Workflow
    from loader.runtime.workflows.engine import WorkflowEngine

__all__ = [
    "ExecutionRun", "StepFailure", "Suspended", "Cancelled", "TimedOut",
    "run_step", "run_nested", "parallel", "retry_delay", "error_text", "Finished",
]

_S, _T = StepState, StepStatus


class StepFailure(Exception):
    """A step's recorded permanent failure, raised again when the workflow is replayed."""


class Suspended(BaseException):
    """The execution waits (an async step, or a failure with ``auto_retry=False``).

    A BaseException, so that workflow code's ``except Exception`` does not swallow it.
    """


class Cancelled(BaseException):
    """The execution was cancelled: stop before the next step and compensate."""


class TimedOut(BaseException):
    """The workflow's ``timeout`` passed while the execution waited: stop and compensate."""


@dataclass(frozen=True, slots=True)
class Finished(StepResponse[Any]):
    """A child workflow's answer when it finished at once: its step is done, not waiting."""


def error_text(exc: BaseException) -> str:
    """``Type: message``; a replayed failure keeps the text it was recorded with."""
    return str(exc) if isinstance(exc, StepFailure) else f"{type(exc).__name__}: {exc}"


def retry_delay(config: StepConfig, attempt: int) -> float:
    """Seconds before retry number ``attempt`` (1-based): tenacity's fixed or exponential-with-jitter wait."""
    if config.retry_interval <= 0:
        return 0.0
    from tenacity import RetryCallState, Retrying, wait_exponential_jitter, wait_fixed  # only on failures

    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt
    if config.retry_backoff:
        policy = wait_exponential_jitter(multiplier=config.retry_interval, max=config.retry_max_interval, jitter=config.retry_interval)
        return float(policy(state))
    return float(wait_fixed(config.retry_interval)(state))


@dataclass(slots=True)
class _Scope:
    """Positions of step calls in one sequence (the workflow, or one ``parallel`` branch)."""

    prefix: str
    counter: int = 0

    def next(self) -> str:
        position = f"{self.prefix}{self.counter}"
        self.counter += 1
        return position


_scope: ContextVar[_Scope] = ContextVar("loader_workflow_scope")


class ExecutionRun:
    """One pass of a workflow function over its execution record (a first run or a replay)."""

    def __init__(self, engine: WorkflowEngine, workflow: Workflow, execution: Execution, ctx: WorkflowContext, *, retry_waiting: bool) -> None:
        self.engine, self.workflow, self.execution, self.ctx = engine, workflow, execution, ctx
        self.storage = engine.storage
        self.tx = execution.transaction_id
        # Steps reached in this pass, in completion order: what compensation walks back.
        self.completed: list[tuple[Step, StepRecord]] = []
        self.skipping: bool | str = False
        # run(transaction_id=...) retries a step left temporarily failed (auto_retry=False).
        self.retry_waiting = retry_waiting
        # (position, bounded): re-invoke the waiting step there once (retry_step, or an
        # awaiting timer: bounded by max_awaiting_retries).
        self.reinvoke: tuple[str, bool] | None = None
        # The workflow's timeout: passed before this pass began, or the running deadline.
        self.timed_out = False
        self.deadline: asyncio.Timeout | None = None
        self.timed_out_records: list[StepRecord] = []

    def enter(self) -> tuple[Any, Any]:
        return current_context.set(self.ctx), _scope.set(_Scope(""))

    @staticmethod
    def leave(tokens: tuple[Any, Any]) -> None:
        current_context.reset(tokens[0])
        _scope.reset(tokens[1])

    async def step(self, step: Step, input: Any) -> Any:
        position = _scope.get().next()
        ex = self.execution
        record = ex.step_at(position)
        if record is not None and record.name != step.name:
            raise WorkflowDeterminismError(
                f"workflow {ex.workflow!r}, execution {self.tx}: the code calls step {step.name!r} at position {position} "
                f"where the record has step {record.name!r} (recorded on version {ex.version}, running {self.workflow.version}); "
                "workflow code between steps must be deterministic"
            )
        if self.skipping:
            if self.skipping is True or self.skipping != step.name:
                if record is None:
                    record = self._new(step, position)
                    record.move(_S.SKIPPED_FAILURE, tx=self.tx)
                    await self.storage.checkpoint(ex, record)
                    await self.engine.emit(ex, "step_skipped", step.name)
                return None
            self.skipping = False  # the step named by skip_on_permanent_failure runs: the flow goes on
        try:
            if record is None:
                if ex.cancelled:
                    raise Cancelled
                if self.timed_out:
                    raise TimedOut
                record = self._new(step, position)
                return await self._invoke(step, record, input)
            return await self._replay(step, record, input)
        except asyncio.CancelledError:  # free when nothing is raised (3.11 zero-cost try)
            if self.deadline is not None and self.deadline.expired() and record is not None:
                self._time_out_with_workflow(step, record)
            raise

    def _new(self, step: Step, position: str) -> StepRecord:
        record = StepRecord(step.name, position)
        self.execution.steps.append(record)
        return record

    async def _replay(self, step: Step, record: StepRecord, input: Any) -> Any:
        state, status = record.state, record.status
        if state is _S.DONE:
            self.completed.append((step, record))
            return record.output
        if state in (_S.SKIPPED, _S.SKIPPED_FAILURE):
            return None
        if state in (_S.FAILED, _S.TIMEOUT):
            if state is _S.TIMEOUT:
                self.completed.append((step, record))
            return self._after_permanent_failure(step, StepFailure(record.error or f"step {step.name!r} failed"))
        if step.child is not None and state is _S.INVOKING:
            self._keep_child(step, record)  # a waiting child is cancelled if this execution is compensated
        if self.execution.cancelled:
            raise Cancelled
        if self.timed_out and state in (_S.INVOKING, _S.NOT_STARTED):
            self._time_out_with_workflow(step, record)
            raise TimedOut
        if state is _S.INVOKING:
            if status is _T.PERMANENT_FAILURE:  # set_step_failure(..., force_permanent_failure=True)
                return await self._fail(step, record, StepFailure(record.error or "failed"), status_set=True)
            if status is _T.TEMPORARY_FAILURE:
                if record.attempts > step.config.max_retries:
                    return await self._fail(step, record, StepFailure(record.error or "failed"))
                if not (step.config.auto_retry or self.retry_waiting):
                    raise Suspended
                record.move(status=_T.IDLE, tx=self.tx)
            elif status is _T.WAITING and step.config.async_:
                if self.reinvoke is None or self.reinvoke[0] != record.position:
                    raise Suspended  # still waiting for set_step_success / set_step_failure
                bounded, self.reinvoke = self.reinvoke[1], None
                limit = step.config.max_awaiting_retries
                if bounded and limit is not None and record.awaiting_retries >= limit:
                    record.move(status=_T.PERMANENT_FAILURE, tx=self.tx)
                    failure = StepFailure(f"step {step.name!r} got no answer after {record.awaiting_retries} awaiting retries (max_awaiting_retries={limit})")
                    return await self._fail(step, record, failure, status_set=True)
                record.awaiting_retries += 1
        return await self._invoke(step, record, input)

    async def _invoke(self, step: Step, record: StepRecord, input: Any) -> Any:
        config = step.config
        if record.state is _S.NOT_STARTED:
            record.move(_S.INVOKING, tx=self.tx)
            record.started_at = now()
        while True:
            record.move(status=_T.WAITING, tx=self.tx)
            record.attempts += 1
            try:
                if config.timeout is None:
                    response = await resolve(step.invoke(input, self.ctx))
                else:
                    async with asyncio.timeout(config.timeout) as deadline:
                        response = await resolve(step.invoke(input, self.ctx))
                break
            except PermanentStepFailure as exc:
                return await self._fail(step, record, exc)
            except TimeoutError as exc:
                if config.timeout is not None and deadline.expired():
                    return await self._time_out(step, record, exc)
                failure: Exception = exc
            except Exception as exc:
                failure = exc
            if record.attempts - record.awaiting_retries > config.max_retries:  # awaiting re-invocations are not failures
                return await self._fail(step, record, failure)
            record.move(status=_T.TEMPORARY_FAILURE, tx=self.tx)
            record.error = error_text(failure)
            if not config.auto_retry:
                await self.storage.checkpoint(self.execution, record)
                await self.engine.emit(self.execution, "step_failure", step.name)
                raise Suspended
            await asyncio.sleep(retry_delay(config, record.attempts))
            if self.execution.cancelled:
                raise Cancelled
            record.move(status=_T.IDLE, tx=self.tx)
        if not isinstance(response, StepResponse):
            response = StepResponse(response)
        if config.async_ and type(response) is not Finished:  # invoke started the work; the answer comes through set_step_success
            if step.child is not None:
                self.completed.append((step, record))  # a waiting child is cancelled if this execution is compensated
            try:
                record.compensate_input = self._copy(step, record, response.compensate_input, "compensate_input")
            finally:
                await self.storage.checkpoint(self.execution, record)
            if config.retry_interval_awaiting is not None:
                self.engine.schedule_awaiting_retry(self.execution, record, config.retry_interval_awaiting)
            await self.engine.emit(self.execution, "step_awaiting", step.name)
            raise Suspended
        await self.succeed(step.name, record, response)
        self.completed.append((step, record))
        if self.execution.cancelled:
            raise Cancelled  # cancelled while this step ran: it is done, and compensated with the rest
        return response.output

    def _copy(self, step: Step | str, record: StepRecord, value: Any, what: str) -> Any:
        name = step if isinstance(step, str) else step.name
        try:
            return checkpoint_value(value, what=f"{what} of step {name!r} (workflow {self.execution.workflow!r})")
        except NonSerializableCheckpointError as exc:
            record.move(_S.FAILED, _T.PERMANENT_FAILURE, tx=self.tx)
            record.error = error_text(exc)
            raise

    async def succeed(self, name: str, record: StepRecord, response: StepResponse[Any]) -> None:
        """Record a step's output (a JSON copy) and mark it done: after its invoke, or set_step_success."""
        try:
            output = self._copy(name, record, response.output, "output")
            compensate_input = self._copy(name, record, response.compensate_input, "compensate_input")
        except NonSerializableCheckpointError:
            await self.storage.checkpoint(self.execution, record)
            raise
        record.output, record.compensate_input, record.error = output, compensate_input, None
        record.move(_S.DONE, _T.OK, tx=self.tx)
        record.finished_at = now()
        await self.storage.checkpoint(self.execution, record)
        await self.engine.emit(self.execution, "step_success", name)

    async def _fail(self, step: Step, record: StepRecord, exc: Exception, *, status_set: bool = False) -> Any:
        record.move(_S.FAILED, None if status_set else _T.PERMANENT_FAILURE, tx=self.tx)
        record.error = error_text(exc)
        record.finished_at = now()
        await self.storage.checkpoint(self.execution, record)
        await self.engine.emit(self.execution, "step_failure", step.name)
        return self._after_permanent_failure(step, exc)

    async def _time_out(self, step: Step, record: StepRecord, exc: TimeoutError) -> Any:
        record.move(_S.TIMEOUT, _T.PERMANENT_FAILURE, tx=self.tx)
        record.error = f"TimeoutError: step {step.name!r} took longer than its timeout of {step.config.timeout}s"
        record.finished_at = now()
        self.completed.append((step, record))  # it may have done part of its work: compensate it too
        await self.storage.checkpoint(self.execution, record)
        await self.engine.emit(self.execution, "step_failure", step.name)
        return self._after_permanent_failure(step, StepFailure(record.error))

    def _time_out_with_workflow(self, step: Step, record: StepRecord) -> None:
        """The workflow's timeout passed while this step ran or waited: mark it ``timeout``, to be
        compensated with the completed steps (skip/continue do not apply to a workflow timeout)."""
        if record.state is _S.INVOKING:
            if record.status is _T.IDLE:
                record.move(status=_T.WAITING, tx=self.tx)
            record.move(_S.TIMEOUT, None if record.status is _T.PERMANENT_FAILURE else _T.PERMANENT_FAILURE, tx=self.tx)
            record.error = f"TimeoutError: workflow {self.execution.workflow!r} timed out while step {step.name!r} ran or waited"
            record.finished_at = now()
            self.timed_out_records.append(record)
            if step.child is not None:  # cut short while the child ran: compensating cancels it
                self._keep_child(step, record)
                return
        elif record.state is _S.NOT_STARTED:
            record.move(_S.SKIPPED_FAILURE, tx=self.tx)
            self.timed_out_records.append(record)
            return
        elif record.state is not _S.DONE:
            return
        if not any(r is record for _, r in self.completed):
            self.completed.append((step, record))

    def _keep_child(self, step: Step, record: StepRecord) -> None:
        """A child's step to compensate (by cancelling the child) even if its invoke never returned."""
        if record.compensate_input is None and step.child is not None:
            record.compensate_input = {"workflow": step.child.name, "transaction_id": f"{self.tx}/{record.position}"}
        self.completed.append((step, record))

    async def workflow_timed_out(self, timeout: float) -> list[str]:
        """Checkpoint the steps the workflow's timeout cut short; the errors to compensate with."""
        ex = self.execution
        for record in self.timed_out_records:
            await self.storage.checkpoint(ex, record)
            await self.engine.emit(ex, "step_failure", record.name)
        await self.engine.emit(ex, "timeout")
        return [f"TimeoutError: workflow {ex.workflow!r} took longer than its timeout of {timeout}s"]

    def _after_permanent_failure(self, step: Step, exc: Exception) -> Any:
        config = step.config
        if config.continue_on_permanent_failure:
            return None
        if config.skip_on_permanent_failure:
            self.skipping = config.skip_on_permanent_failure
            return None
        raise exc

    async def compensate(self, errors: list[str]) -> None:
        """Undo the completed steps in reverse order; the execution ends reverted, or failed if one undo failed."""
        ex = self.execution
        ex.move(ExecutionState.WAITING_TO_COMPENSATE)
        await self.engine.emit(ex, "compensate_begin")
        ex.move(ExecutionState.COMPENSATING)
        failed = False
        for step, record in reversed(self.completed):
            if step.compensate is None or record.compensate_state is not _S.DORMANT:
                continue
            record.move_compensation(_S.NOT_STARTED, tx=self.tx)
            record.move_compensation(_S.COMPENSATING, _T.WAITING, tx=self.tx)
            try:
                await resolve(step.compensate(record.compensate_input, self.ctx))
            except Exception as exc:  # keep compensating the rest; report every failure
                failed = True
                record.compensate_error = error_text(exc)
                record.move_compensation(_S.FAILED, _T.PERMANENT_FAILURE, tx=self.tx)
                errors.append(f"compensation of {step.name!r} failed: {record.compensate_error}")
                event = "compensate_step_failure"
            else:
                record.move_compensation(_S.REVERTED, _T.OK, tx=self.tx)
                event = "compensate_step_success"
            await self.storage.checkpoint(ex, record)
            await self.engine.emit(ex, event, step.name)
        ex.errors = errors
        ex.move(ExecutionState.FAILED if failed else ExecutionState.REVERTED)


def _run_of(ctx: WorkflowContext | None) -> ExecutionRun | None:
    return ctx.runner if ctx is not None else None


async def run_step(step: Step, input: Any) -> Any:
    """A step awaited: recorded in the running execution; outside any workflow, invoked once."""
    run = _run_of(current_context.get())
    if run is None:
        response = await resolve(step.invoke(input, None))
        return response.output if isinstance(response, StepResponse) else response
    return await run.step(step, input)


async def run_nested(workflow: Workflow, input: Any) -> Any:
    """A workflow awaited inside another runs as one step of it (``<name>-as-step``), with an execution of its own."""
    ctx = current_context.get()
    if ctx is None or ctx.runner is None:
        result = await workflow.run(input, throw_on_error=True)
        if result.waiting:
            raise WorkflowError(
                f"workflow {workflow.name!r} waits (execution {result.transaction_id}); awaited outside a workflow it cannot: "
                "run it with engine.run(...) and continue it by its transaction id"
            )
        return result.result
    scope = _scope.get()
    position = f"{scope.prefix}{scope.counter}"  # the position run.step gives the child's step
    call = {"input": input, "transaction_id": f"{ctx.transaction_id}/{position}", "position": position}
    return await ctx.runner.step(workflow.as_step, call)


async def parallel(*awaitables: Awaitable[Any]) -> list[Any]:
    """Run steps (or nested workflows) concurrently; each is recorded; returns their outputs in order.

    Every branch runs to its end before a failure is raised, so compensation never races a
    running step. Example: ``post, user = await parallel(save_post(data), load_user(uid))``.
    """
    if _run_of(current_context.get()) is None:
        return list(await asyncio.gather(*awaitables))
    base = _scope.get().next()

    async def branch(index: int, awaitable: Awaitable[Any]) -> tuple[bool, Any]:
        _scope.set(_Scope(f"{base}.{index}."))  # this task's own context: positions stable whatever finishes first
        try:
            return True, await awaitable
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # Suspended / Cancelled too: decided once every branch ended
            return False, exc

    outcomes = await asyncio.gather(*(branch(i, a) for i, a in enumerate(awaitables)))
    failures = [value for ok, value in outcomes if not ok]
    for kind in (TimedOut, Exception, Cancelled, Suspended):
        for failure in failures:
            if isinstance(failure, kind):
                raise failure
    for failure in failures:
        raise failure
    return [value for _, value in outcomes]

