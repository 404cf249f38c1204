"""The state machine: every legal change applies, every other one is refused loudly."""

from __future__ import annotations

import pytest

from loader.runtime.workflows.states import (
    EXECUTION_TRANSITIONS,
    STEP_STATE_TRANSITIONS,
    STEP_STATUS_TRANSITIONS,
    ExecutionState,
    IllegalTransitionError,
    StepState,
    StepStatus,
    transition,
)

TABLES = [(StepState, STEP_STATE_TRANSITIONS), (StepStatus, STEP_STATUS_TRANSITIONS), (ExecutionState, EXECUTION_TRANSITIONS)]


def test_values_are_medusas() -> None:
    assert [s.value for s in StepState] == [
        "not_started", "invoking", "compensating", "done", "reverted", "failed", "dormant", "skipped", "skipped_failure", "timeout",
    ]
    assert [s.value for s in StepStatus] == ["idle", "ok", "waiting_response", "temp_failure", "permanent_failure"]
    assert [s.value for s in ExecutionState] == [
        "not_started", "invoking", "waiting_to_compensate", "compensating", "done", "reverted", "failed",
    ]


@pytest.mark.parametrize(("enum", "table"), TABLES)
def test_every_pair_is_either_legal_or_refused(enum, table) -> None:
    assert set(table) == set(enum)  # every state has a row
    for current in enum:
        for target in enum:
            if target in table[current]:
                assert transition(current, target) is target
            else:
                with pytest.raises(IllegalTransitionError) as info:
                    transition(current, target, what="step 'x'")
                assert f"illegal {enum.__name__} change {current.value} -> {target.value}" in str(info.value)
                assert str(info.value).startswith("step 'x': ")


def test_medusas_step_changes() -> None:
    assert transition(StepState.DORMANT, StepState.NOT_STARTED) is StepState.NOT_STARTED
    assert transition(StepState.INVOKING, StepState.TIMEOUT) is StepState.TIMEOUT
    assert transition(StepState.DONE, StepState.COMPENSATING) is StepState.COMPENSATING
    with pytest.raises(IllegalTransitionError, match="done -> invoking; allowed from done: compensating"):
        transition(StepState.DONE, StepState.INVOKING)
    with pytest.raises(IllegalTransitionError, match="allowed from reverted: nothing"):
        transition(StepState.REVERTED, StepState.DONE)
    with pytest.raises(IllegalTransitionError, match="idle -> ok"):
        transition(StepStatus.IDLE, StepStatus.OK)


def test_executions_end_once_and_a_failed_one_stays_failed() -> None:
    assert transition(ExecutionState.DONE, ExecutionState.WAITING_TO_COMPENSATE) is ExecutionState.WAITING_TO_COMPENSATE
    for final in (ExecutionState.FAILED, ExecutionState.REVERTED):
        with pytest.raises(IllegalTransitionError):
            transition(final, ExecutionState.WAITING_TO_COMPENSATE)


def test_mixing_kinds_is_refused() -> None:
    with pytest.raises(IllegalTransitionError, match="cannot move a StepState to a StepStatus"):
        transition(StepState.DONE, StepStatus.OK)  # type: ignore[type-var]
