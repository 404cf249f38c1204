"""The execution record and the memory storage: JSON values, copies, revisions."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from loader.runtime.workflows.execution import Execution, NonSerializableCheckpointError, StepRecord, checkpoint_value
from loader.runtime.workflows.states import ExecutionState, IllegalTransitionError, StepState, StepStatus
from loader.runtime.workflows.storage import (
    ConcurrentUpdateError,
    ExecutionExistsError,
    MemoryWorkflowStorage,
    WorkflowStorage,
)


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


def test_memory_storage_keeps_rows_and_checks_revisions() -> None:
    async def main() -> None:
        storage = MemoryWorkflowStorage()
        assert isinstance(storage, WorkflowStorage)
        execution = Execution("wf", "tx")
        await storage.create(execution)
        with pytest.raises(ExecutionExistsError):
            await storage.create(Execution("wf", "tx"))
        step = StepRecord("save", "0", output={"id": 1})
        execution.steps.append(step)
        await storage.checkpoint(execution, step)
        loaded = await storage.load("wf", "tx")
        assert loaded is not None and loaded.steps == [step] and loaded.revision == execution.revision == 2
        loaded.steps[0].output["id"] = 99  # a loaded copy is the caller's own
        stale = await storage.load("wf", "tx")
        assert stale is not None and stale.steps[0].output == {"id": 1}
        execution.move(ExecutionState.INVOKING)
        await storage.save(execution)
        with pytest.raises(ConcurrentUpdateError, match="stored revision 3, this copy read 2"):
            await storage.save(stale)
        assert [e.transaction_id for e in await storage.list("wf", ExecutionState.INVOKING)] == ["tx"]
        assert await storage.list("other") == [] and await storage.list(state=ExecutionState.DONE) == []
        assert await storage.delete("wf", "tx") and not await storage.delete("wf", "tx")
        assert await storage.load("wf", "tx") is None

    asyncio.run(main())
