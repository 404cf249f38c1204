"""The workflow engine through the public API: replay, determinism, parallel, compensation, ids."""

from __future__ import annotations

import asyncio

import pytest

from loader import ExecutionState, NonSerializableCheckpointError, StepState, StepStatus, WorkflowError, WorkflowExecutionError

FLOWS = """
import asyncio
from loader import StepResponse, create_step, create_workflow, parallel

CALLS = []
UNDONE = []
MODE = {"first": "a"}
SHARED = {}
GATE = {}


def make(name, fail=False):
    async def invoke(input, ctx):
        CALLS.append(name)
        if fail:
            raise RuntimeError(f"{name} broke")
        return StepResponse({"step": name, "input": input}, compensate_input=name)
    return invoke


async def undo(what, ctx):
    UNDONE.append(what)


async def remember(input, ctx):
    CALLS.append("remember")
    SHARED["post"] = {"tags": ["a"]}
    return SHARED["post"]


async def gated(input, ctx):
    CALLS.append("gated")
    GATE["started"].set()
    await GATE["release"].wait()
    return "gated"


async def opaque(input, ctx):
    return object()


step_a = create_step("step-a", make("step-a"), compensate=undo)
step_b = create_step("step-b", make("step-b"), compensate=undo)
step_c = create_step("step-c", make("step-c"), compensate=undo)
broken = create_step("broken", make("broken", fail=True), compensate=undo)
approve = create_step("approve", make("approve"), compensate=undo, async_=True)
remembered = create_step("remember", remember)
gate = create_step("gate", gated, compensate=undo)
opaque_step = create_step("opaque", opaque)


@create_workflow("moderate")
async def moderate(input, ctx):
    saved = await step_a(input)
    decision = await approve(saved)
    await step_b(decision)
    return {"saved": saved, "decision": decision}


@create_workflow("branchy")
async def branchy(input, ctx):
    if MODE["first"] == "a":
        await step_a(input)
    else:
        await step_b(input)
    return await approve(input)


@create_workflow("three")
async def three(input, ctx):
    await step_a(input)
    await step_b(input)
    await step_c(input)
    await broken(input)


@create_workflow("fan-out")
async def fan_out(input, ctx):
    a, b = await parallel(step_a(1), step_b(2))
    return [a["input"], b["input"]]


@create_workflow("fan-out-fails")
async def fan_out_fails(input, ctx):
    await parallel(step_a(1), broken(2), step_b(3))


@create_workflow("mutates")
async def mutates(input, ctx):
    post = await remembered(input)
    post["tags"].append("changed")
    return post


@create_workflow("gated")
async def gated_flow(input, ctx):
    await step_a(input)
    await gate(input)
    await step_b(input)
    return "finished"


@create_workflow("opaque")
async def opaque_flow(input, ctx):
    await step_a(input)
    await opaque_step(input)


@create_workflow("once", idempotent=True)
async def once(input, ctx):
    return (await step_a(input))["input"]


@create_workflow("again")
async def again(input, ctx):
    return (await step_a(input))["input"]
"""


def states(execution) -> list[tuple[str, str, str, str]]:
    return [(s.name, s.state.value, s.status.value, s.compensate_state.value) for s in execution.steps]


def test_an_async_step_waits_and_set_step_success_replays_the_done_steps(engine_run) -> None:
    async def scenario(engine, g):
        first = await engine.run("moderate", {"title": "t"})
        assert first.waiting and first.state is ExecutionState.INVOKING and first.result is None
        assert g("CALLS") == ["step-a", "approve"]
        waiting = await engine.get("moderate", first.transaction_id)
        assert states(waiting) == [("step-a", "done", "ok", "dormant"), ("approve", "invoking", "waiting_response", "dormant")]
        done = await engine.set_step_success("moderate", first.transaction_id, "approve", {"ok": True})
        assert done.ok and done.state is ExecutionState.DONE
        assert g("CALLS") == ["step-a", "approve", "step-b"]  # step-a was replayed, not invoked again
        assert done.result == {"saved": {"step": "step-a", "input": {"title": "t"}}, "decision": {"ok": True}}
        final = await engine.get("moderate", first.transaction_id)
        assert [s.attempts for s in final.steps] == [1, 1, 1] and final.state is ExecutionState.DONE
        assert final.steps[1].output == {"ok": True} and final.version
        with pytest.raises(WorkflowError, match="step 'approve' is not waiting for a response \\(execution done; step done/ok\\)"):
            await engine.set_step_success("moderate", first.transaction_id, "approve", {})

    engine_run(FLOWS, scenario)


def test_a_step_called_where_the_record_has_another_fails_naming_both(engine_run) -> None:
    async def scenario(engine, g):
        first = await engine.run("branchy", "x")
        g("MODE")["first"] = "b"  # the code between steps is not deterministic any more
        result = await engine.set_step_success("branchy", first.transaction_id, "approve", "yes")
        assert result.state is ExecutionState.REVERTED and not result.ok
        [error] = result.errors
        assert "calls step 'step-b' at position 0 where the record has step 'step-a'" in error
        assert error.startswith("WorkflowDeterminismError: ") and "must be deterministic" in error
        assert g("CALLS") == ["step-a", "approve"] and g("UNDONE") == []

    engine_run(FLOWS, scenario)


def test_failure_compensates_completed_steps_in_reverse_order(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("three", 1)
        assert result.state is ExecutionState.REVERTED and result.errors == ["RuntimeError: broken broke"]
        assert g("UNDONE") == ["step-c", "step-b", "step-a"]
        assert states(result)[-1] == ("broken", "failed", "permanent_failure", "dormant")
        assert [s.compensated for s in result.steps] == [True, True, True, False]
        with pytest.raises(WorkflowExecutionError, match="reverted: RuntimeError: broken broke") as info:
            await engine.run("three", 1, throw_on_error=True)
        assert isinstance(info.value.__cause__, RuntimeError) and info.value.result.state is ExecutionState.REVERTED

    engine_run(FLOWS, scenario)


def test_parallel_records_each_branch_and_compensates_all_on_failure(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("fan-out")
        assert result.ok and result.result == [1, 2]
        assert [(s.name, s.position) for s in result.steps] == [("step-a", "0.0.0"), ("step-b", "0.1.0")]
        failed = await engine.run("fan-out-fails")
        assert failed.state is ExecutionState.REVERTED and failed.errors == ["RuntimeError: broken broke"]
        assert sorted(g("UNDONE")) == ["step-a", "step-b"]  # every branch ended before compensating

    engine_run(FLOWS, scenario)


def test_a_checkpoint_is_a_copy_and_a_non_json_output_names_the_step_and_type(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("mutates")
        assert result.result == {"tags": ["a", "changed"]}  # the workflow got the object itself
        recorded = await engine.get("mutates", result.transaction_id)
        assert recorded.steps[0].output == {"tags": ["a"]}  # the record kept what the step returned
        opaque = await engine.run("opaque")
        assert opaque.state is ExecutionState.REVERTED and g("UNDONE") == ["step-a"]
        assert "output of step 'opaque' (workflow 'opaque'): a value of type builtins.object cannot be checkpointed" in opaque.errors[0]
        assert states(opaque)[1][:3] == ("opaque", "failed", "permanent_failure")
        with pytest.raises(WorkflowExecutionError) as info:
            await engine.run("opaque", throw_on_error=True)
        assert isinstance(info.value.__cause__, NonSerializableCheckpointError)
        with pytest.raises(NonSerializableCheckpointError, match="input of workflow 'again': a value of type builtins.set"):
            await engine.run("again", {1})

    engine_run(FLOWS, scenario)


def test_transaction_ids_generated_given_and_a_running_one_refused(engine_run) -> None:
    async def scenario(engine, g):
        generated = await engine.run("again", 1)
        assert generated.transaction_id.startswith("auto-")
        g("GATE").update(started=asyncio.Event(), release=asyncio.Event())
        running = asyncio.create_task(engine.run("gated", transaction_id="order-1"))
        await g("GATE")["started"].wait()
        with pytest.raises(WorkflowError, match="workflow 'gated': execution 'order-1' is already running"):
            await engine.run("gated", transaction_id="order-1")
        g("GATE")["release"].set()
        assert (await running).result == "finished"
        for bad in ("", 5):
            with pytest.raises(WorkflowError, match="transaction_id must be a non-empty string"):
                await engine.run("again", transaction_id=bad)
        with pytest.raises(WorkflowError, match="no workflow named 'nope' \\(known: again, branchy"):
            await engine.run("nope")

    engine_run(FLOWS, scenario)


def test_idempotent_returns_the_stored_result_and_others_run_again(engine_run) -> None:
    async def scenario(engine, g):
        assert (await engine.run("once", 1, transaction_id="t")).result == 1
        assert (await engine.run("once", 2, transaction_id="t")).result == 1
        assert g("CALLS") == ["step-a"]
        await engine.run("again", 1, transaction_id="t")
        assert (await engine.run("again", 2, transaction_id="t")).result == 2
        assert g("CALLS") == ["step-a"] * 3

    engine_run(FLOWS, scenario)


def test_get_list_and_the_workflow_run_shortcut_use_the_applications_engine(engine_run) -> None:
    async def scenario(engine, g):
        shortcut = await g("again").run(7)  # workflow.run(input): the application's engine
        stored = await engine.get("again", shortcut.transaction_id)
        assert stored.state is ExecutionState.DONE and stored.input == 7
        await engine.run("three")
        waiting = await engine.run("moderate")
        assert [e.workflow for e in await engine.list()] == ["again", "three", "moderate"]
        assert [e.transaction_id for e in await engine.list("moderate", state="invoking")] == [waiting.transaction_id]
        assert [e.workflow for e in await engine.list(state=ExecutionState.REVERTED)] == ["three"]
        with pytest.raises(WorkflowError, match="has no execution 'missing'"):
            await engine.get("again", "missing")
        with pytest.raises(WorkflowError, match="unknown execution state 'finished'; expected one of not_started, invoking"):
            await engine.list(state="finished")

    engine_run(FLOWS, scenario)


def test_subscribers_see_the_lifecycle_and_finish_after_a_failure(engine_run) -> None:
    async def scenario(engine, g):
        seen = []
        stop = engine.subscribe("three", lambda e: seen.append((e.type, e.step, e.state.value)))
        mine = []

        async def on_tx(event):
            mine.append(event.type)

        engine.subscribe("moderate", on_tx, transaction_id="m-1")
        engine.subscribe("three", lambda e: 1 / 0)  # a subscriber's bug changes nothing
        await engine.run("three")
        assert seen[0] == ("begin", None, "invoking")
        assert ("step_failure", "broken", "invoking") in seen and ("compensate_begin", None, "waiting_to_compensate") in seen
        assert seen[-1] == ("finish", None, "reverted")
        stop()
        await engine.run("three")
        assert seen[-1] == ("finish", None, "reverted") and len([s for s in seen if s[0] == "finish"]) == 1
        await engine.run("moderate", transaction_id="m-2")
        await engine.run("moderate", transaction_id="m-1")
        await engine.set_step_success("moderate", "m-1", "approve", 1)
        assert mine == ["begin", "step_success", "step_awaiting", "step_success", "resume", "step_success", "finish"]

    engine_run(FLOWS, scenario)


def test_wrong_arguments_are_clear_errors(engine_run) -> None:
    async def scenario(engine, g):
        with pytest.raises(WorkflowError, match="expected a workflow or its name, got int 123"):
            await engine.run(123)
        with pytest.raises(WorkflowError, match="the handler must be callable, got 'nope'"):
            engine.subscribe("three", "nope")
        with pytest.raises(WorkflowError, match="workflow 'moderate' waits \\(execution auto-"):
            await g("moderate")(1)  # awaited outside any workflow, a waiting workflow cannot return

    engine_run(FLOWS, scenario)


def test_workflow_run_with_a_bare_container_gives_it_to_the_steps(make_project) -> None:
    from loader import Container, StepResponse, create_step, create_workflow

    async def who(input, ctx):
        return StepResponse(ctx.container.resolve("name"))

    step = create_step("who", who)

    @create_workflow("who")
    async def flow(input, ctx):
        return await step(input)

    container = Container()
    container.register("name", "bare")
    result = asyncio.run(flow.run(container=container))
    assert result.ok and result.result == "bare"
