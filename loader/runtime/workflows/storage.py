"""Where executions are kept: a small async protocol, and the ``memory`` implementation.

The protocol is shaped for a SQL implementation (SQLAlchemy): one row per execution
(:meth:`Execution.header`) and one per step (:meth:`StepRecord.to_dict`, keyed by position),
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
    """What a ``workflow_engine`` provider implements (``memory`` here; ``sql`` later)."""

    async def create(self, execution: Execution) -> None:
        """Insert a new execution and its steps. Raises ExecutionExistsError."""

    async def load(self, workflow: str, transaction_id: str) -> Execution | None:
        """A fresh copy of the stored execution (changing it changes nothing stored), or None."""

    async def save(self, execution: Execution) -> None:
        """Write the execution row and every step row; bumps ``execution.revision``. Raises ConcurrentUpdateError."""

    async def checkpoint(self, execution: Execution, step: StepRecord) -> None:
        """Write the execution row and one step row; bumps ``execution.revision``. Raises ConcurrentUpdateError."""

    async def list(self, workflow: str | None = None, state: ExecutionState | None = None) -> list[Execution]:
        """Stored executions, oldest first, filtered by workflow name and state."""

    async def delete(self, workflow: str, transaction_id: str) -> bool:
        """Remove an execution and its steps; False when there was none."""


class MemoryWorkflowStorage:
    """Executions in this process only, kept as JSON text like a database would keep rows.

    Keeping text (not the objects) makes every ``load`` a fresh copy and every write a proof
    that the record serialises, so ``memory`` behaves as ``sql`` will.
    """

    def __init__(self) -> None:
        # (workflow, transaction id) -> (execution row, {position: step row})
        self._rows: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    async def create(self, execution: Execution) -> None:
        key = (execution.workflow, execution.transaction_id)
        if key in self._rows:
            raise ExecutionExistsError(f"workflow {execution.workflow!r} already has an execution {execution.transaction_id!r}")
        execution.revision = 1
        self._rows[key] = (json.dumps(execution.header()), {s.position: json.dumps(s.to_dict()) for s in execution.steps})

    async def load(self, workflow: str, transaction_id: str) -> Execution | None:
        row = self._rows.get((workflow, transaction_id))
        if row is None:
            return None
        header, steps = row
        data: dict[str, Any] = json.loads(header)
        data["steps"] = [json.loads(s) for s in steps.values()]
        return Execution.from_dict(data)

    def _write_header(self, execution: Execution) -> dict[str, str]:
        key = (execution.workflow, execution.transaction_id)
        row = self._rows.get(key)
        if row is None:
            raise ConcurrentUpdateError(f"execution {execution.transaction_id!r} of workflow {execution.workflow!r} was deleted meanwhile")
        stored = json.loads(row[0])["revision"]
        if stored != execution.revision:
            raise ConcurrentUpdateError(
                f"execution {execution.transaction_id!r} of workflow {execution.workflow!r}: stored revision {stored}, this copy read {execution.revision}"
            )
        execution.revision += 1
        execution.updated_at = now()
        self._rows[key] = (json.dumps(execution.header()), row[1])
        return row[1]

    async def save(self, execution: Execution) -> None:
        steps = self._write_header(execution)
        steps.clear()
        steps.update((s.position, json.dumps(s.to_dict())) for s in execution.steps)

    async def checkpoint(self, execution: Execution, step: StepRecord) -> None:
        self._write_header(execution)[step.position] = json.dumps(step.to_dict())

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
