"""The execution record: a plain value that storage can write as JSON and read back.

One :class:`Execution` per (workflow, transaction id): its state, the version of the workflow's
definition it started on, its input and result, and one :class:`StepRecord` per step call in
the order the workflow made them (``position``: ``"0"``, ``"1"``, ``"2.0.0"`` for the first step
of the first branch of a ``parallel`` at position 2). What a step returns is checkpointed as a
JSON copy (:func:`checkpoint_value`): changing the object afterwards does not change the record.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from loader.errors import LoaderError
from loader.runtime.workflows.states import ExecutionState, StepState, StepStatus, transition

__all__ = ["NonSerializableCheckpointError", "StepRecord", "Execution", "checkpoint_value", "now"]


class NonSerializableCheckpointError(LoaderError):
    """A value to checkpoint (a step's output, a workflow's input or result) is not JSON."""


def now() -> float:
    return time.time()


def _refuse(value: Any) -> Any:
    raise TypeError(type(value))


def checkpoint_value(value: Any, *, what: str) -> Any:
    """A JSON copy of ``value`` (dicts, lists, str, numbers, bool, None), made once.

    Raises:
        NonSerializableCheckpointError: ``value`` holds something JSON cannot carry; the
            message names ``what`` and the offending type.
    """
    if value is None or type(value) in (str, int, bool) or (type(value) is float and math.isfinite(value)):
        return value  # immutable: nothing to copy (the hot path of small steps)
    try:
        return json.loads(json.dumps(value, default=_refuse, allow_nan=False))
    except TypeError as exc:
        bad = exc.args[0] if exc.args and isinstance(exc.args[0], type) else None
        kind = f"{bad.__module__}.{bad.__qualname__}" if bad else str(exc)
        raise NonSerializableCheckpointError(
            f"{what}: a value of type {kind} cannot be checkpointed; return JSON values (dict, list, str, int, float, bool, None), e.g. model.model_dump(mode='json')"
        ) from None
    except ValueError as exc:  # a circular reference, NaN or infinity
        raise NonSerializableCheckpointError(f"{what}: cannot be checkpointed as JSON: {exc}") from None


@dataclass(slots=True)
class StepRecord:
    """One step call of an execution: where it was called, its two (state, status) pairs, its outcome."""

    name: str
    position: str
    state: StepState = StepState.NOT_STARTED
    status: StepStatus = StepStatus.IDLE
    compensate_state: StepState = StepState.DORMANT
    compensate_status: StepStatus = StepStatus.IDLE
    attempts: int = 0
    output: Any = None
    compensate_input: Any = None
    error: str | None = None
    compensate_error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    # Re-invocations of the step while it waited for an answer (retry_interval_awaiting, retry_step).
    awaiting_retries: int = 0

    @property
    def step(self) -> str:
        """The step's name (the field the first in-memory engine called ``step``)."""
        return self.name

    @property
    def compensated(self) -> bool:
        return self.compensate_state is StepState.REVERTED

    def move(self, state: StepState | None = None, status: StepStatus | None = None, *, tx: str = "") -> None:
        """Change the invoke pair through the transition tables."""
        what = f"step {self.name!r} (position {self.position}) of {tx}"
        if state is not None:
            self.state = transition(self.state, state, what=what)
        if status is not None:
            self.status = transition(self.status, status, what=what)

    def move_compensation(self, state: StepState | None = None, status: StepStatus | None = None, *, tx: str = "") -> None:
        """Change the compensate pair through the transition tables."""
        what = f"compensation of step {self.name!r} (position {self.position}) of {tx}"
        if state is not None:
            self.compensate_state = transition(self.compensate_state, state, what=what)
        if status is not None:
            self.compensate_status = transition(self.compensate_status, status, what=what)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "position": self.position, "state": self.state.value, "status": self.status.value,
            "compensate_state": self.compensate_state.value, "compensate_status": self.compensate_status.value,
            "attempts": self.attempts, "output": self.output, "compensate_input": self.compensate_input,
            "error": self.error, "compensate_error": self.compensate_error,
            "started_at": self.started_at, "finished_at": self.finished_at, "awaiting_retries": self.awaiting_retries,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        return cls(
            data["name"], data["position"], StepState(data["state"]), StepStatus(data["status"]),
            StepState(data["compensate_state"]), StepStatus(data["compensate_status"]), data["attempts"],
            data["output"], data["compensate_input"], data["error"], data["compensate_error"],
            data["started_at"], data["finished_at"], data.get("awaiting_retries", 0),
        )


@dataclass(slots=True)
class Execution:
    """One run of a workflow under a transaction id; what ``engine.get`` returns.

    ``revision`` counts saves: storage refuses a save whose revision is not the stored one
    (optimistic concurrency between processes). ``steps`` is in call order.
    """

    workflow: str
    transaction_id: str
    version: str = ""
    state: ExecutionState = ExecutionState.NOT_STARTED
    input: Any = None
    result: Any = None
    errors: list[str] = field(default_factory=list)
    cancelled: bool = False
    steps: list[StepRecord] = field(default_factory=list)
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    revision: int = 0

    def move(self, state: ExecutionState) -> None:
        self.state = transition(self.state, state, what=f"execution {self.transaction_id} of workflow {self.workflow!r}")

    def step_at(self, position: str) -> StepRecord | None:
        for record in self.steps:  # short lists; a dict index would cost more to keep than to scan
            if record.position == position:
                return record
        return None

    def fixed(self) -> dict[str, Any]:
        """The columns written once, when the execution is created."""
        return {
            "workflow": self.workflow, "transaction_id": self.transaction_id, "version": self.version,
            "input": self.input, "created_at": self.created_at,
        }

    def progress(self) -> dict[str, Any]:
        """The columns each checkpoint updates (small while the execution runs: the result comes last)."""
        return {
            "state": self.state.value, "result": self.result, "errors": list(self.errors),
            "cancelled": self.cancelled, "updated_at": self.updated_at,
        }

    def header(self) -> dict[str, Any]:
        """Everything but the steps: one row of an executions table."""
        return {**self.fixed(), **self.progress(), "revision": self.revision}

    def to_dict(self) -> dict[str, Any]:
        return {**self.header(), "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Execution:
        return cls(
            data["workflow"], data["transaction_id"], data["version"], ExecutionState(data["state"]), data["input"],
            data["result"], list(data["errors"]), data["cancelled"], [StepRecord.from_dict(s) for s in data.get("steps", [])],
            data["created_at"], data["updated_at"], data["revision"],
        )
