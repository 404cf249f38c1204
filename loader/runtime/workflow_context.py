"""What workflow code sees: ``StepResponse``, the ``ctx`` it receives, and the ``WorkflowResult``.

A running workflow keeps its context in a context variable, so a step awaited anywhere in the
workflow's code (or in a ``parallel`` branch) is recorded under the same execution; a workflow
awaited inside it is one step of it with an execution of its own. The engine is :class:`loader.runtime.workflows.engine.WorkflowEngine`.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from loader.runtime.workflows.execution import StepRecord
from loader.runtime.workflows.states import ExecutionState, StepState

if TYPE_CHECKING:
    from loader.runtime.workflows.engine import WorkflowEngine
    from loader.runtime.workflows.execution import Execution
    from loader.runtime.workflows.runner import ExecutionRun

__all__ = ["StepResponse", "StepRecord", "WorkflowContext", "WorkflowResult", "PermanentStepFailure"]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StepResponse(Generic[T]):
    """What a step returns: its output, and what its compensation will receive."""

    output: T
    compensate_input: Any = None


class PermanentStepFailure(Exception):
    """Raise it from a step to fail it at once: no retry, whatever ``max_retries`` says."""


@dataclass
class WorkflowContext:
    """What workflow code and steps receive as ``ctx``."""

    transaction_id: str
    workflow: str
    container: Any = None
    engine: WorkflowEngine | None = None
    execution: Execution | None = None
    runner: ExecutionRun | None = field(default=None, repr=False)


@dataclass
class WorkflowResult:
    """The outcome of ``engine.run(...)`` / ``workflow.run(...)``.

    ``state`` says whether the execution finished (``done``; ``reverted`` or ``failed`` after
    compensation) or waits (``invoking``: an async step, or a failure with ``auto_retry=False``).

    ``errors`` holds ``"<ExceptionType>: <text>"`` of the failure, then of each compensation
    that failed: the exceptions' own text, which for a database error includes the SQL and its
    bound parameters. Log it; never send it to a client (return the ``transaction_id`` instead).
    """

    transaction_id: str
    result: Any = None
    errors: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    workflow: str = ""
    state: ExecutionState = ExecutionState.DONE

    @property
    def ok(self) -> bool:
        """True when the execution finished ``done`` (steps failed with ``continue_on_permanent_failure`` allowed)."""
        return self.state is ExecutionState.DONE and not self.errors

    @property
    def waiting(self) -> bool:
        """True when the execution waits for ``set_step_success`` / ``set_step_failure`` or ``run(transaction_id=...)``."""
        return self.state is ExecutionState.INVOKING

    @property
    def failed_steps(self) -> list[StepRecord]:
        return [s for s in self.steps if s.state in (StepState.FAILED, StepState.TIMEOUT)]


current_context: ContextVar[WorkflowContext | None] = ContextVar("loader_workflow", default=None)
