"""Where executions are kept: a small async protocol, and the ``memory`` implementation.

The protocol is shaped for a SQL implementation (SQLAlchemy): one row per execution
(:meth:`Execution.fixed` written once, :meth:`Execution.progress` at each checkpoint) and one per step (:meth:`StepRecord.to_dict`, keyed by position),
with an optimistic check on ``revision``: a save succeeds only when the stored revision is the
one the engine read, and then bumps it, so two processes never overwrite each other's progress.
``checkpoint`` writes the execution row and one step row in one transaction.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from loader.errors import LoaderError
from loader.runtime.workflows.execution import Execution, StepRecord, now
from loader.runtime.workflows.states import ExecutionState

__all__ = ["WorkflowStorage", "MemoryWorkflowStorage", "ExecutionExistsError", "ConcurrentUpdateError"]


class ExecutionExistsError(LoaderError):
    """``create`` of a (workflow, transaction id) that is already stored."""


class ConcurrentUpdateError(LoaderError):
    """A save lost the race: the stored revision moved since the engine read the execution."""


@runtime_checkable
class WorkflowStorage(Protocol):
    """What a ``workflow_engine`` provider implements (``memory`` here; ``sql`` in ``providers/sql``)."""

    async def create(self, execution: Execution) -> None:
        """Insert a new execution and its steps. Raises ExecutionExistsError."""

    async def load(self, workflow: str, transaction_id: str) -> Execution | None:
        """A fresh copy of the stored execution (changing it changes nothing stored), or None."""

    async def save(self, execution: Execution) -> None:
        """Write the execution row and every step row; bumps ``execution.revision``. Raises ConcurrentUpdateError."""

    async def checkpoint(self, execution: Execution, step: StepRecord | None = None) -> None:
        """Write the execution row's progress columns (state, result, errors, cancelled) and, if
        given, one step row; bumps ``execution.revision``. Raises ConcurrentUpdateError."""

    async def list(self, workflow: str | None = None, state: ExecutionState | None = None) -> list[Execution]:
        """Stored executions, oldest first, filtered by workflow name and state."""

    async def delete(self, workflow: str, transaction_id: str) -> bool:
        """Remove an execution and its steps; False when there was none."""


class _Row:
    """One stored execution: its fixed columns, its progress columns, its revision, its step rows."""

    __slots__ = ("fixed", "progress", "revision", "steps")

    def __init__(self, execution: Execution) -> None:
        self.fixed = json.dumps(execution.fixed())
        self.progress = json.dumps(execution.progress())
        self.revision = execution.revision
        self.steps = {s.position: json.dumps(s.to_dict()) for s in execution.steps}


class MemoryWorkflowStorage:
    """Executions in this process only, kept as JSON text like a database would keep rows.

    Keeping text (not the objects) makes every ``load`` a fresh copy and every write a proof
    that the record serialises, so ``memory`` behaves as ``sql`` will. A checkpoint writes the
    progress columns and one step row, never the input again.
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], _Row] = {}

    async def create(self, execution: Execution) -> None:
        key = (execution.workflow, execution.transaction_id)
        if key in self._rows:
            raise ExecutionExistsError(f"workflow {execution.workflow!r} already has an execution {execution.transaction_id!r}")
        execution.revision = 1
        self._rows[key] = _Row(execution)

    async def load(self, workflow: str, transaction_id: str) -> Execution | None:
        row = self._rows.get((workflow, transaction_id))
        if row is None:
            return None
        data: dict[str, Any] = {**json.loads(row.fixed), **json.loads(row.progress), "revision": row.revision}
        data["steps"] = [json.loads(s) for s in row.steps.values()]
        return Execution.from_dict(data)

    def _write_progress(self, execution: Execution) -> _Row:
        row = self._rows.get((execution.workflow, execution.transaction_id))
        if row is None:
            raise ConcurrentUpdateError(f"execution {execution.transaction_id!r} of workflow {execution.workflow!r} was deleted meanwhile")
        if row.revision != execution.revision:
            raise ConcurrentUpdateError(
                f"execution {execution.transaction_id!r} of workflow {execution.workflow!r}: stored revision {row.revision}, this copy read {execution.revision}"
            )
        execution.revision += 1
        execution.updated_at = now()
        row.revision = execution.revision
        row.progress = json.dumps(execution.progress())
        return row

    async def save(self, execution: Execution) -> None:
        row = self._write_progress(execution)
        row.steps = {s.position: json.dumps(s.to_dict()) for s in execution.steps}

    async def checkpoint(self, execution: Execution, step: StepRecord | None = None) -> None:
        row = self._write_progress(execution)
        if step is not None:
            row.steps[step.position] = json.dumps(step.to_dict())

    async def list(self, workflow: str | None = None, state: ExecutionState | None = None) -> list[Execution]:
        found = []
        for wf, tx in list(self._rows):
            if workflow is not None and wf != workflow:
                continue
            execution = await self.load(wf, tx)
            if execution is not None and (state is None or execution.state is ExecutionState(state)):
                found.append(execution)
        return sorted(found, key=lambda e: e.created_at)

    async def delete(self, workflow: str, transaction_id: str) -> bool:
        return self._rows.pop((workflow, transaction_id), None) is not None

    def __repr__(self) -> str:
        return f"<MemoryWorkflowStorage {len(self._rows)} executions>"
