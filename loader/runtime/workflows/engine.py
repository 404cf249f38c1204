"""The ``workflow_engine`` service: run, continue, cancel and inspect executions over a storage provider.

Resolved from the container (``container.resolve("workflow_engine")``); its provider is the
storage: ``memory`` (the default for now) keeps executions in this process; ``sql``
keeps them in the project's database. An execution runs the workflow function; each step call
is replayed from the record or invoked and checkpointed (:mod:`loader.runtime.workflows.runner`).
An execution that waits (an async step, a failure with ``auto_retry=False``) is continued by
``set_step_success`` / ``set_step_failure`` / ``run(transaction_id=...)``, which run the function
again from the start, returning the recorded outputs of the steps already done.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loader.core.awaitables import resolve
from loader.runtime.workflow_context import StepResponse, WorkflowContext, WorkflowResult
from loader.runtime.workflows.errors import WorkflowError, WorkflowExecutionError
from loader.runtime.workflows.execution import Execution, StepRecord, checkpoint_value, now
from loader.runtime.workflows.runner import Cancelled, ExecutionRun, Suspended, TimedOut, error_text
from loader.runtime.workflows.scheduled import fire, sweep
from loader.runtime.workflows.states import FINISHED, ExecutionState, StepState, StepStatus
from loader.runtime.workflows.storage import ExecutionExistsError, MemoryWorkflowStorage, WorkflowStorage
from loader.runtime.workflows.timers import Timer, Timers

if TYPE_CHECKING:
    from loader.kinds.workflows import Workflow

__all__ = ["WorkflowEngine", "WorkflowEvent", "engine_for"]

log = logging.getLogger("loader.workflows")

_E = ExecutionState
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class WorkflowEvent:
    """A lifecycle event: ``begin``, ``resume``, ``step_success``, ``step_failure``, ``step_awaiting``,
    ``step_skipped``, ``timeout``, ``compensate_begin``, ``compensate_step_success``, ``compensate_step_failure``, ``finish``."""

    type: str
    workflow: str
    transaction_id: str
    state: ExecutionState
    step: str | None = None
    errors: tuple[str, ...] = ()


Handler = Callable[[WorkflowEvent], Any]


class WorkflowEngine:
    """The workflow engine (the ``workflow_engine`` module's service).

    Args:
        provider: The storage (a :class:`WorkflowStorage`); ``memory`` when none is configured.
        container: Resolves workflows by name (``container.resolve("workflows")``) and is
            ``ctx.container`` in workflow code.
    """

    def __init__(self, provider: WorkflowStorage | None = None, container: Any = None) -> None:
        self.storage: WorkflowStorage = provider if provider is not None else MemoryWorkflowStorage()
        self.container = container
        self._running: dict[Key, tuple[Execution | None, asyncio.Future[WorkflowResult | None]]] = {}
        self._handlers: dict[tuple[str, str | None], builtins.list[Handler]] = {}
        # Every delayed action (awaiting retries, workflow timeouts, retention) goes through here.
        self.timers = Timers(lambda timer: fire(self, timer))
        # A child execution that waits -> its parent's (workflow, transaction id, step position).
        self._parents: dict[Key, tuple[str, str, str]] = {}

    async def on_start(self) -> None:
        """The application starts: delete the finished executions past their workflow's ``retention``."""
        await self.sweep()

    async def on_shutdown(self) -> None:
        """The application stops: pending timers are dropped (in-process timers die with the process)."""
        await self.timers.close()

    # -- resolving ---------------------------------------------------------------------------
    def workflow(self, workflow: str | Workflow) -> Workflow:
        """The workflow object, by name (from the container's ``workflows``) or as given."""
        if not isinstance(workflow, str):
            # Duck-typed: loader.kinds.workflows imports the engine (workflow.run), not the other way.
            if isinstance(getattr(workflow, "name", None), str) and callable(getattr(workflow, "fn", None)):
                return workflow
            raise WorkflowError(f"expected a workflow or its name, got {type(workflow).__name__} {workflow!r}")
        known: dict[str, Workflow] = {}
        if self.container is not None and "workflows" in self.container:
            known = self.container.resolve("workflows")
        if workflow not in known:
            raise WorkflowError(f"no workflow named {workflow!r} (known: {', '.join(sorted(known)) or 'none'})")
        return known[workflow]

    @staticmethod
    def _name(workflow: str | Workflow) -> str:
        return workflow if isinstance(workflow, str) else workflow.name

    def _claim(self, key: Key) -> asyncio.Future[WorkflowResult | None]:
        if key in self._running:
            raise WorkflowError(f"workflow {key[0]!r}: execution {key[1]!r} is already running; wait for it or use another transaction id")
        future: asyncio.Future[WorkflowResult | None] = asyncio.get_running_loop().create_future()
        self._running[key] = (None, future)
        return future

    async def _wait_idle(self, key: Key) -> None:
        while key in self._running:
            await asyncio.shield(self._running[key][1])

    async def _load(self, key: Key) -> Execution:
        execution = await self.storage.load(*key)
        if execution is None:
            raise WorkflowError(f"workflow {key[0]!r} has no execution {key[1]!r}")
        return execution

    # -- running -----------------------------------------------------------------------------
    async def run(
        self, workflow: str | Workflow, input: Any = None, *, transaction_id: str | None = None, throw_on_error: bool = False,
    ) -> WorkflowResult:
        """Start an execution, or continue the one with ``transaction_id`` (retrying a step left
        temporarily failed by ``auto_retry=False``). Returns when it finishes or waits.

        Raises:
            WorkflowError: the workflow is unknown, or that execution is running now.
            NonSerializableCheckpointError: ``input`` is not JSON.
            WorkflowExecutionError: ``throw_on_error`` and the execution ended reverted or failed.
        """
        wf = self.workflow(workflow)
        if transaction_id is not None and (not isinstance(transaction_id, str) or not transaction_id):
            raise WorkflowError(f"workflow {wf.name!r}: transaction_id must be a non-empty string, got {transaction_id!r}")
        tx = transaction_id or f"auto-{uuid.uuid4().hex}"
        key = (wf.name, tx)
        future = self._claim(key)
        try:
            execution = await self.storage.load(*key) if transaction_id else None
            retry = execution is not None
            if execution is not None and execution.state in FINISHED:
                if wf.idempotent:
                    result = self._result(execution)
                    self._release(key, future, result)
                    return self._raise_if(throw_on_error, result, None)
                await self.storage.delete(*key)  # a finished execution's id may be used again
                execution, retry = None, False
            if execution is not None and execution.state in (_E.WAITING_TO_COMPENSATE, _E.COMPENSATING):
                raise WorkflowError(f"workflow {wf.name!r}: execution {tx!r} is compensating; it cannot be run")
            if execution is None:
                execution = Execution(wf.name, tx, wf.version, input=checkpoint_value(input, what=f"input of workflow {wf.name!r}"))
                try:
                    await self.storage.create(execution)
                except ExecutionExistsError:
                    raise WorkflowError(f"workflow {wf.name!r}: execution {tx!r} is already running elsewhere") from None
            else:
                input = execution.input
        except BaseException:
            self._release(key, future, None)
            raise
        result, error = await self._drive(wf, execution, input, future, retry_waiting=retry)
        return self._raise_if(throw_on_error, result, error)

    @staticmethod
    def _raise_if(throw: bool, result: WorkflowResult, error: BaseException | None) -> WorkflowResult:
        if throw and result.state in (_E.REVERTED, _E.FAILED):
            raise WorkflowExecutionError(
                f"workflow {result.workflow!r}, execution {result.transaction_id}: {result.state.value}: {'; '.join(result.errors)}", result,
            ) from error
        return result

    def _release(self, key: Key, future: asyncio.Future[WorkflowResult | None], result: WorkflowResult | None) -> None:
        """The execution stops running here; those waiting for it get its result (None: it was interrupted)."""
        self._running.pop(key, None)
        if not future.done():
            future.set_result(result)

    async def _drive(
        self, wf: Workflow, execution: Execution, input: Any, future: asyncio.Future[WorkflowResult | None], *,
        retry_waiting: bool, reinvoke: tuple[str, bool] | None = None,
    ) -> tuple[WorkflowResult, BaseException | None]:
        key = (wf.name, execution.transaction_id)
        self._running[key] = (execution, future)
        ctx = WorkflowContext(execution.transaction_id, wf.name, self.container, self, execution)
        run = ctx.runner = ExecutionRun(self, wf, execution, ctx, retry_waiting=retry_waiting)
        run.reinvoke = reinvoke
        remaining = None if wf.timeout is None else execution.created_at + wf.timeout - now()
        if remaining is not None and remaining <= 0:
            run.timed_out = True  # it waited past the deadline: what waits is timed out, nothing new runs
        value: Any = None
        error: BaseException | None = None
        result: WorkflowResult | None = None
        cancelled = f"cancelled: execution {execution.transaction_id} of workflow {wf.name!r}"
        tokens = run.enter()
        try:
            if execution.state is _E.NOT_STARTED:
                execution.move(_E.INVOKING)
                await self.emit(execution, "begin")
            else:
                await self.emit(execution, "resume")
            try:
                if remaining is None or run.timed_out:
                    value = await wf.fn(input, ctx)
                else:
                    async with asyncio.timeout(remaining) as run.deadline:
                        value = await wf.fn(input, ctx)
                    if run.deadline.expired():  # the code swallowed the cancellation: still timed out
                        raise TimedOut
                if execution.cancelled:
                    raise Cancelled
                execution.result = checkpoint_value(value, what=f"result of workflow {wf.name!r}")
            except Suspended:
                if execution.cancelled:  # cancelled while the step that now waits was being invoked
                    await run.compensate([cancelled])
                elif wf.timeout is not None:
                    self.timers.schedule(Timer(execution.created_at + wf.timeout, "workflow_timeout", wf.name, execution.transaction_id))
            except Cancelled:
                await run.compensate([cancelled])
            except TimedOut:
                await run.compensate(await run.workflow_timed_out(wf.timeout or 0))
            except TimeoutError as exc:
                if run.deadline is not None and run.deadline.expired():
                    await run.compensate(await run.workflow_timed_out(wf.timeout or 0))
                else:
                    error = exc
                    await run.compensate([error_text(exc)])
            except Exception as exc:
                error = exc
                await run.compensate([error_text(exc)])
            else:
                if execution.state is _E.INVOKING:
                    execution.move(_E.DONE)
            await self.storage.checkpoint(execution)  # every step row was checkpointed as it changed
            result = self._result(execution, value)
            if execution.state in FINISHED:
                if self.timers:  # what was scheduled for it while it ran or waited is moot now
                    self.timers.cancel(wf.name, execution.transaction_id)
                await self.emit(execution, "finish")
                if self._parents and key in self._parents:
                    parent = self._parents.pop(key)
                    self.timers.schedule(Timer(now(), "child_finished", *parent))
                if wf.retention is not None:
                    self.timers.schedule(Timer(now() + wf.retention, "retention", wf.name, execution.transaction_id, guard=execution.revision))
            return result, error
        finally:
            run.leave(tokens)
            self._release(key, future, result)

    @staticmethod
    def _result(execution: Execution, value: Any = None) -> WorkflowResult:
        done = execution.state is _E.DONE
        return WorkflowResult(
            execution.transaction_id, (value if value is not None else execution.result) if done else None,
            list(execution.errors), list(execution.steps), execution.workflow, execution.state,
        )

    # -- waiting executions ----------------------------------------------------------------
    async def _waiting_step(
        self, workflow: str | Workflow, transaction_id: str, step: str, statuses: tuple[StepStatus, ...] = (StepStatus.WAITING,),
        position: str | None = None,
    ) -> tuple[Workflow, Execution, StepRecord, asyncio.Future[WorkflowResult | None]]:
        wf = self.workflow(workflow)
        key = (wf.name, transaction_id)
        await self._wait_idle(key)
        future = self._claim(key)
        try:
            execution = await self._load(key)
            for record in execution.steps:
                if record.name == step and record.state is StepState.INVOKING and record.status in statuses and position in (None, record.position):
                    if execution.state is not _E.INVOKING:
                        break
                    return wf, execution, record, future
            states = [f"{r.state.value}/{r.status.value}" for r in execution.steps if r.name == step and position in (None, r.position)]
            at = "" if position is None else f" at position {position}"
            raise WorkflowError(
                f"workflow {wf.name!r}, execution {transaction_id}: step {step!r}{at} is not waiting for a response "
                f"(execution {execution.state.value}; step {', '.join(states) or 'never called'})"
            )
        except BaseException:
            self._release(key, future, None)
            raise

    async def set_step_success(
        self, workflow: str | Workflow, transaction_id: str, step: str, output: Any = None, *, position: str | None = None,
    ) -> WorkflowResult:
        """Complete a waiting async step with ``output`` (or a ``StepResponse``) and continue the execution.

        ``position`` picks one call of a step called more than once (``StepRecord.position``);
        by default the first that waits.
        """
        wf, execution, record, future = await self._waiting_step(workflow, transaction_id, step, position=position)
        response = output if isinstance(output, StepResponse) else StepResponse(output, record.compensate_input)
        ctx = WorkflowContext(transaction_id, wf.name, self.container, self, execution)
        try:
            # The caller's mistake (an output JSON cannot carry) leaves the step waiting for a good answer.
            for value, what in ((response.output, "output"), (response.compensate_input, "compensate_input")):
                checkpoint_value(value, what=f"{what} of step {step!r} (workflow {wf.name!r})")
            await ExecutionRun(self, wf, execution, ctx, retry_waiting=False).succeed(step, record, response)
        except BaseException:
            self._release((wf.name, transaction_id), future, None)
            raise
        return (await self._drive(wf, execution, execution.input, future, retry_waiting=False))[0]

    async def set_step_failure(
        self, workflow: str | Workflow, transaction_id: str, step: str, error: Any, *, force_permanent_failure: bool = False,
        position: str | None = None,
    ) -> WorkflowResult:
        """Fail a waiting async step and continue: it is retried within ``max_retries`` unless the failure is forced permanent."""
        wf, execution, record, future = await self._waiting_step(workflow, transaction_id, step, position=position)
        record.error = error_text(error) if isinstance(error, BaseException) else str(error)
        record.move(status=StepStatus.PERMANENT_FAILURE if force_permanent_failure else StepStatus.TEMPORARY_FAILURE, tx=transaction_id)
        await self.storage.checkpoint(execution, record)
        await self.emit(execution, "step_failure", step)
        return (await self._drive(wf, execution, execution.input, future, retry_waiting=False))[0]

    async def retry_step(self, workflow: str | Workflow, transaction_id: str, step: str, *, position: str | None = None) -> WorkflowResult:
        """Invoke a waiting step again now, and go on from there.

        The step waits for an answer (an async step; or one a crash interrupted) or was left
        temporarily failed by ``auto_retry=False``. A waiting async step's re-invocation counts
        in its ``awaiting_retries`` (not against ``max_retries``), and is not refused by
        ``max_awaiting_retries``: that bound is for the timer. Returns when the execution
        finishes or waits again.

        Raises:
            WorkflowError: unknown workflow or execution, or the step does not wait.
        """
        wf, execution, record, future = await self._waiting_step(
            workflow, transaction_id, step, (StepStatus.WAITING, StepStatus.TEMPORARY_FAILURE), position,
        )
        return (await self._drive(wf, execution, execution.input, future, retry_waiting=True, reinvoke=(record.position, False)))[0]

    async def cancel(self, workflow: str | Workflow, transaction_id: str) -> WorkflowResult:
        """Cancel an execution: its completed steps are compensated in reverse order.

        A running execution is marked and compensated once the step that runs finishes (that
        step included). Raises WorkflowError when it is unknown, failed, reverted or compensating.
        """
        wf = self.workflow(workflow)
        key = (wf.name, transaction_id)
        running = self._running.get(key)
        if running is not None and running[0] is not None:
            self._check_cancellable(running[0])
            running[0].cancelled = True
            result = await asyncio.shield(running[1])
            if result is not None:
                return result
        await self._wait_idle(key)
        future = self._claim(key)
        try:
            execution = await self._load(key)
            self._check_cancellable(execution)
            execution.cancelled = True
            await self.storage.save(execution)
        except BaseException:
            self._release(key, future, None)
            raise
        # Replaying gives the compensations of the steps already done; nothing new is invoked.
        return (await self._drive(wf, execution, execution.input, future, retry_waiting=False))[0]

    @staticmethod
    def _check_cancellable(execution: Execution) -> None:
        what = f"workflow {execution.workflow!r}, execution {execution.transaction_id}"
        if execution.cancelled or execution.state in (_E.WAITING_TO_COMPENSATE, _E.COMPENSATING):
            raise WorkflowError(f"{what} is already being compensated; it cannot be cancelled")
        if execution.state in (_E.FAILED, _E.REVERTED):
            raise WorkflowError(f"{what} already ended {execution.state.value}; it cannot be cancelled")

    # -- timers ------------------------------------------------------------------------
    def schedule_awaiting_retry(self, execution: Execution, record: StepRecord, interval: float) -> None:
        """Re-invoke ``record``'s step in ``interval`` seconds if it still waits for that attempt's answer."""
        self.timers.schedule(Timer(now() + interval, "awaiting_retry", execution.workflow, execution.transaction_id, record.position, record.attempts))

    def link_child(self, child: Key, parent: tuple[str, str, str]) -> None:
        """``child`` waits: when it finishes, mark the parent's step (workflow, tx, position) through the engine."""
        self._parents[child] = parent

    def unlink_child(self, child: Key) -> None:
        self._parents.pop(child, None)

    def known(self) -> dict[str, Workflow]:
        """The application's workflows by name (none without a container)."""
        if self.container is not None and "workflows" in self.container:
            known: dict[str, Workflow] = self.container.resolve("workflows")
            return known
        return {}

    async def sweep(self) -> int:
        """Delete the finished executions older than their workflow's ``retention``; how many were deleted.

        Runs when the application starts; while this process runs, a timer deletes each
        finished execution once its retention passed.
        """
        return await sweep(self)

    # -- inspecting ----------------------------------------------------------------------
    async def get(self, workflow: str | Workflow, transaction_id: str) -> Execution:
        """The execution as last checkpointed (a copy). Raises WorkflowError when there is none."""
        return await self._load((self._name(workflow), transaction_id))

    # -- events --------------------------------------------------------------------------
    def subscribe(self, workflow: str | Workflow, handler: Handler, *, transaction_id: str | None = None) -> Callable[[], None]:
        """Call ``handler(event)`` (sync or async) on the workflow's lifecycle events; returns an unsubscribe function.

        ``finish`` is delivered for every ending, ``reverted`` and ``failed`` included, after compensation.
        """
        if not callable(handler):
            raise WorkflowError(f"subscribe({self._name(workflow)!r}, ...): the handler must be callable, got {handler!r}")
        handlers = self._handlers.setdefault((self._name(workflow), transaction_id), [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    async def emit(self, execution: Execution, type: str, step: str | None = None) -> None:
        if not self._handlers:  # the common case: no subscriber, no cost
            return
        handlers = [*self._handlers.get((execution.workflow, None), ()), *self._handlers.get((execution.workflow, execution.transaction_id), ())]
        if not handlers:
            return
        event = WorkflowEvent(type, execution.workflow, execution.transaction_id, execution.state, step, tuple(execution.errors))
        for handler in handlers:
            try:
                await resolve(handler(event))
            except Exception:  # a subscriber's bug never changes the execution
                log.exception("workflow %r: a subscriber to %s failed", execution.workflow, type)

    async def list(self, workflow: str | Workflow | None = None, state: ExecutionState | str | None = None) -> builtins.list[Execution]:
        """Stored executions, oldest first, by workflow and state."""
        name = None if workflow is None else self._name(workflow)
        try:
            wanted = None if state is None else ExecutionState(state)
        except ValueError:
            raise WorkflowError(f"unknown execution state {state!r}; expected one of {', '.join(s.value for s in ExecutionState)}") from None
        return await self.storage.list(name, wanted)

    def __repr__(self) -> str:
        return f"<WorkflowEngine storage={self.storage!r}>"


_default: WorkflowEngine | None = None
_by_container: weakref.WeakKeyDictionary[Any, WorkflowEngine] = weakref.WeakKeyDictionary()


def engine_for(container: Any = None) -> WorkflowEngine:
    """The engine ``workflow.run()`` uses: the container's ``workflow_engine``; for a container
    without one, a ``memory`` engine of its own; with no container, a process-wide one."""
    global _default
    if container is None:
        if _default is None:
            _default = WorkflowEngine()
        return _default
    if "workflow_engine" in container:
        engine: WorkflowEngine = container.resolve("workflow_engine")
        return engine
    if container not in _by_container:
        _by_container[container] = WorkflowEngine(container=container)
    return _by_container[container]
