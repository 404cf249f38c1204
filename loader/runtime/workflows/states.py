"""States of steps and executions, and their legal transitions, as data (Medusa's model).

Each step carries two (state, status) pairs: one for invoking (starts ``not_started``/``idle``)
and one for compensating (starts ``dormant``/``idle``). An execution has one state. Every
change goes through :func:`transition`, which refuses a change the tables do not list: a
record is never overwritten silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from loader.errors import LoaderError

__all__ = [
    "StepState",
    "StepStatus",
    "ExecutionState",
    "STEP_STATE_TRANSITIONS",
    "STEP_STATUS_TRANSITIONS",
    "EXECUTION_TRANSITIONS",
    "FINISHED",
    "IllegalTransitionError",
    "transition",
]


class StepState(str, Enum):
    NOT_STARTED = "not_started"
    INVOKING = "invoking"
    COMPENSATING = "compensating"
    DONE = "done"
    REVERTED = "reverted"
    FAILED = "failed"
    DORMANT = "dormant"
    SKIPPED = "skipped"
    SKIPPED_FAILURE = "skipped_failure"
    TIMEOUT = "timeout"


class StepStatus(str, Enum):
    IDLE = "idle"
    OK = "ok"
    WAITING = "waiting_response"
    TEMPORARY_FAILURE = "temp_failure"
    PERMANENT_FAILURE = "permanent_failure"


class ExecutionState(str, Enum):
    NOT_STARTED = "not_started"
    INVOKING = "invoking"
    WAITING_TO_COMPENSATE = "waiting_to_compensate"
    COMPENSATING = "compensating"
    DONE = "done"
    REVERTED = "reverted"
    FAILED = "failed"


_S = StepState
STEP_STATE_TRANSITIONS: dict[StepState, frozenset[StepState]] = {
    _S.DORMANT: frozenset({_S.NOT_STARTED}),
    _S.NOT_STARTED: frozenset({_S.INVOKING, _S.COMPENSATING, _S.FAILED, _S.SKIPPED, _S.SKIPPED_FAILURE}),
    _S.INVOKING: frozenset({_S.FAILED, _S.DONE, _S.TIMEOUT}),
    _S.COMPENSATING: frozenset({_S.REVERTED, _S.FAILED}),
    _S.DONE: frozenset({_S.COMPENSATING}),
    _S.REVERTED: frozenset(),
    _S.FAILED: frozenset(),
    _S.SKIPPED: frozenset(),
    _S.SKIPPED_FAILURE: frozenset(),
    _S.TIMEOUT: frozenset(),
}

_T = StepStatus
STEP_STATUS_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    # "any → waiting_response": every invocation (a retry included) starts by waiting.
    _T.IDLE: frozenset({_T.WAITING}),
    _T.OK: frozenset({_T.WAITING}),
    _T.WAITING: frozenset({_T.OK, _T.TEMPORARY_FAILURE, _T.PERMANENT_FAILURE, _T.WAITING}),
    _T.TEMPORARY_FAILURE: frozenset({_T.IDLE, _T.PERMANENT_FAILURE, _T.WAITING}),
    _T.PERMANENT_FAILURE: frozenset({_T.IDLE, _T.WAITING}),
}

_E = ExecutionState
EXECUTION_TRANSITIONS: dict[ExecutionState, frozenset[ExecutionState]] = {
    _E.NOT_STARTED: frozenset({_E.INVOKING, _E.WAITING_TO_COMPENSATE}),
    _E.INVOKING: frozenset({_E.DONE, _E.WAITING_TO_COMPENSATE}),
    # A finished execution can still be cancelled: its completed steps are compensated.
    _E.DONE: frozenset({_E.WAITING_TO_COMPENSATE}),
    _E.WAITING_TO_COMPENSATE: frozenset({_E.COMPENSATING}),
    _E.COMPENSATING: frozenset({_E.REVERTED, _E.FAILED}),
    _E.REVERTED: frozenset(),
    _E.FAILED: frozenset(),
}

#: Execution states after which nothing runs any more (a ``done`` one may still be cancelled).
FINISHED: frozenset[ExecutionState] = frozenset({_E.DONE, _E.REVERTED, _E.FAILED})

_TABLES: dict[type, Mapping[Any, frozenset[Any]]] = {
    StepState: STEP_STATE_TRANSITIONS,
    StepStatus: STEP_STATUS_TRANSITIONS,
    ExecutionState: EXECUTION_TRANSITIONS,
}

E = TypeVar("E", StepState, StepStatus, ExecutionState)


class IllegalTransitionError(LoaderError):
    """A state change the transition tables do not allow (a bug in the engine or a stale record)."""


def transition(current: E, target: E, *, what: str = "") -> E:
    """``target`` when the change ``current → target`` is legal.

    Args:
        current: The state (or status) the record holds.
        target: The one it should move to.
        what: What the record is (``step 'save-post' of tx auto-…``), for the message.

    Raises:
        IllegalTransitionError: the tables do not list that change; the message names both
            states and what is allowed from ``current``.
    """
    if type(current) is not type(target):
        raise IllegalTransitionError(f"{what or 'record'}: cannot move a {type(current).__name__} to a {type(target).__name__}")
    allowed: frozenset[Enum] = _TABLES[type(current)][current]
    if target not in allowed:
        options = ", ".join(sorted(s.value for s in allowed)) or "nothing (final)"
        kind = type(current).__name__
        raise IllegalTransitionError(
            f"{what + ': ' if what else ''}illegal {kind} change {current.value} -> {target.value}; allowed from {current.value}: {options}"
        )
    return target
