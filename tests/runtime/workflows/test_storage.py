"""The execution record: JSON values, copies, transitions."""

from __future__ import annotations

import datetime
import json

import pytest

from loader.runtime.workflows.execution import Execution, NonSerializableCheckpointError, StepRecord, checkpoint_value
from loader.runtime.workflows.states import ExecutionState, IllegalTransitionError, StepState, StepStatus


def test_checkpointed_values_are_copies() -> None:
    post = {"id": 1, "tags": ["a"]}
    copy = checkpoint_value(post, what="step 'save'")
    post["tags"].append("b")
    assert copy == {"id": 1, "tags": ["a"]}


@pytest.mark.parametrize(("value", "named"), [
    ({"at": datetime.date(2026, 1, 1)}, "datetime.date"),
    ([object()], "builtins.object"),
    ({1, 2}, "builtins.set"),
])
def test_a_value_json_cannot_carry_is_named_with_its_type(value, named) -> None:
    with pytest.raises(NonSerializableCheckpointError) as info:
        checkpoint_value(value, what="output of step 'save-post'")
    assert str(info.value).startswith(f"output of step 'save-post': a value of type {named} cannot be checkpointed")


def test_circular_values_and_nan_are_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    for bad in (loop, {"x": float("nan")}):
        with pytest.raises(NonSerializableCheckpointError, match="cannot be checkpointed as JSON"):
            checkpoint_value(bad, what="output of step 's'")


def test_an_execution_round_trips_through_json() -> None:
    execution = Execution("wf", "tx", "v1", input={"a": 1})
    execution.move(ExecutionState.INVOKING)
    step = StepRecord("save", "0", attempts=1, output={"id": 1})
    step.move(StepState.INVOKING, StepStatus.WAITING)
    step.move(StepState.DONE, StepStatus.OK)
    execution.steps.append(step)
    data = json.loads(json.dumps(execution.to_dict()))
    assert Execution.from_dict(data) == execution
    with pytest.raises(IllegalTransitionError, match="step 'save' \\(position 0\\) of tx: illegal StepState change done -> invoking"):
        step.move(StepState.INVOKING, tx="tx")


# The storage contract (rows, copies, revisions, order, concurrency) runs on every storage in test_sql_storage.py.
