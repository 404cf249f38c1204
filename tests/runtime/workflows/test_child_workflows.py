"""A workflow awaited inside another: one step of the parent, an execution of its own (memory)."""

from __future__ import annotations

import asyncio

import pytest

from loader import ExecutionState, WorkflowError

FLOWS = """
from loader import StepResponse, create_step, create_workflow

CALLS = []
UNDONE = []
BROKEN = set()


def make(name):
    async def invoke(input, ctx):
        CALLS.append(f"{name}@{ctx.workflow}")
        if name in BROKEN:
            raise RuntimeError(f"{name} broke")
        return StepResponse({"step": name, "input": input}, compensate_input=name)
    return invoke


async def undo(what, ctx):
    UNDONE.append(f"{what}@{ctx.workflow}")


first = create_step("first", make("first"), compensate=undo)
pack = create_step("pack", make("pack"), compensate=undo)
ask = create_step("ask", make("ask"), compensate=undo, async_=True)
last = create_step("last", make("last"), compensate=undo)


@create_workflow("ship")
async def ship(input, ctx):
    packed = await pack(input)
    if input == "ask":
        await ask(input)
    return {"shipped": packed["input"]}


@create_workflow("order")
async def order(input, ctx):
    await first(input)
    shipped = await ship(input)
    await last(shipped)
    return shipped
"""


def steps(execution) -> list[tuple[str, str, str]]:
    return [(s.name, s.state.value, s.compensate_state.value) for s in execution.steps]


def test_a_child_that_finishes_at_once_is_one_done_step_of_the_parent(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("order", "now", transaction_id="o")
        assert result.ok and result.result == {"shipped": "now"}
        assert steps(result) == [("first", "done", "dormant"), ("ship-as-step", "done", "dormant"), ("last", "done", "dormant")]
        assert result.steps[1].output == {"shipped": "now"}
        child = await engine.get("ship", "o/1")  # its own execution, under the parent's tx and the step's position
        assert child.state is ExecutionState.DONE and [s.name for s in child.steps] == ["pack"]
        assert g("CALLS") == ["first@order", "pack@ship", "last@order"]

    engine_run(FLOWS, scenario)


def test_a_waiting_child_makes_the_parent_step_wait_and_its_end_continues_the_parent(engine_run) -> None:
    async def scenario(engine, g):
        finished = asyncio.Event()
        engine.subscribe("order", lambda event: finished.set() if event.type == "finish" else None)
        waiting = await engine.run("order", "ask", transaction_id="o")
        assert waiting.waiting
        assert [(s.name, s.state.value, s.status.value) for s in waiting.steps][1] == ("ship-as-step", "invoking", "waiting_response")
        assert (await engine.get("ship", "o/1")).state is ExecutionState.INVOKING
        with pytest.raises(WorkflowError, match="step 'ask' is not waiting"):
            await engine.set_step_success("order", "o", "ask", "yes")  # the step belongs to the child
        child = await engine.set_step_success("ship", "o/1", "ask", "yes")
        assert child.ok and child.result == {"shipped": "ask"}
        await asyncio.wait_for(finished.wait(), 10)
        parent = await engine.get("order", "o")
        assert parent.state is ExecutionState.DONE and parent.result == {"shipped": "ask"}
        assert [(s.name, s.state.value) for s in parent.steps] == [("first", "done"), ("ship-as-step", "done"), ("last", "done")]
        assert g("CALLS") == ["first@order", "pack@ship", "ask@ship", "last@order"]

    engine_run(FLOWS, scenario)


def test_a_failed_child_fails_the_parent_step_and_the_parent_compensates(engine_run) -> None:
    async def scenario(engine, g):
        g("BROKEN").add("pack")
        result = await engine.run("order", "now", transaction_id="o")
        assert result.state is ExecutionState.REVERTED and result.errors == ["PermanentStepFailure: RuntimeError: pack broke"]
        assert steps(result) == [("first", "done", "reverted"), ("ship-as-step", "failed", "dormant")]
        assert (await engine.get("ship", "o/1")).state is ExecutionState.REVERTED
        assert g("UNDONE") == ["first@order"]

    engine_run(FLOWS, scenario)


def test_a_waiting_child_that_fails_later_fails_the_parent(engine_run) -> None:
    async def scenario(engine, g):
        finished = asyncio.Event()
        engine.subscribe("order", lambda event: finished.set() if event.type == "finish" else None)
        await engine.run("order", "ask", transaction_id="o")
        child = await engine.set_step_failure("ship", "o/1", "ask", "customer said no", force_permanent_failure=True)
        assert child.state is ExecutionState.REVERTED and g("UNDONE") == ["pack@ship"]
        await asyncio.wait_for(finished.wait(), 10)
        parent = await engine.get("order", "o")
        assert parent.state is ExecutionState.REVERTED and parent.errors == ["customer said no"]
        assert g("UNDONE") == ["pack@ship", "first@order"]

    engine_run(FLOWS, scenario)


def test_cancelling_the_parent_cancels_the_child_which_does_not_call_back(engine_run) -> None:
    async def scenario(engine, g):
        events: list[tuple[str, str]] = []
        engine.subscribe("order", lambda event: events.append((event.type, event.transaction_id)))
        await engine.run("order", "ask", transaction_id="o")
        events.clear()
        cancelled = await engine.cancel("order", "o")
        assert cancelled.state is ExecutionState.REVERTED
        child = await engine.get("ship", "o/1")
        assert child.cancelled and child.state is ExecutionState.REVERTED
        assert g("UNDONE") == ["pack@ship", "first@order"]  # the child's steps first (the deeper ones)
        assert engine.timers.pending() == []  # nothing scheduled to call the parent back
        await asyncio.sleep(0.01)
        assert events.count(("finish", "o")) == 1 and (await engine.get("order", "o")).state is ExecutionState.REVERTED

    engine_run(FLOWS, scenario)


def test_cancelling_a_done_parent_compensates_its_done_child(engine_run) -> None:
    async def scenario(engine, g):
        await engine.run("order", "now", transaction_id="o")
        cancelled = await engine.cancel("order", "o")
        assert cancelled.state is ExecutionState.REVERTED
        assert g("UNDONE") == ["last@order", "pack@ship", "first@order"]
        assert (await engine.get("ship", "o/1")).state is ExecutionState.REVERTED

    engine_run(FLOWS, scenario)


def test_cancelling_the_parent_while_its_child_runs_cancels_the_child_once_it_waits(engine_run) -> None:
    source = FLOWS + '''
import asyncio

GATE = {}


async def gated(input, ctx):
    GATE["started"].set()
    await GATE["release"].wait()
    return StepResponse("held", compensate_input="hold")


hold = create_step("hold", gated, compensate=undo)


@create_workflow("held")
async def held(input, ctx):
    await hold(input)
    await ask(input)


@create_workflow("holds")
async def holds(input, ctx):
    await first(input)
    await held(input)
'''

    async def scenario(engine, g):
        g("GATE").update(started=asyncio.Event(), release=asyncio.Event())
        running = asyncio.create_task(engine.run("holds", "x", transaction_id="h"))
        await g("GATE")["started"].wait()
        cancelling = asyncio.create_task(engine.cancel("holds", "h"))
        await asyncio.sleep(0)
        g("GATE")["release"].set()
        assert (await cancelling).state is (await running).state is ExecutionState.REVERTED
        child = await engine.get("held", "h/1")
        assert child.cancelled and child.state is ExecutionState.REVERTED
        assert g("UNDONE") == ["hold@held", "first@holds"]

    engine_run(source, scenario)


def test_two_waiting_children_in_parallel_each_report_to_their_own_step(engine_run) -> None:
    source = FLOWS + '''
from loader import parallel


@create_workflow("two")
async def two(input, ctx):
    return await parallel(ship("ask"), ship("ask"))
'''

    async def scenario(engine, g):
        finished = asyncio.Event()
        engine.subscribe("two", lambda event: finished.set() if event.type == "finish" else None)
        waiting = await engine.run("two", transaction_id="t")
        assert waiting.waiting and [(s.name, s.position) for s in waiting.steps] == [("ship-as-step", "0.0.0"), ("ship-as-step", "0.1.0")]
        await engine.set_step_success("ship", "t/0.1.0", "ask", "second")  # the second child ends first
        async with asyncio.timeout(10):  # the engine reports it to the parent on its own
            while (execution := await engine.get("two", "t")).steps[1].state.value != "done":
                await asyncio.sleep(0.002)
        assert [(s.position, s.state.value) for s in execution.steps] == [("0.0.0", "invoking"), ("0.1.0", "done")]
        await engine.set_step_success("ship", "t/0.0.0", "ask", "first")
        await asyncio.wait_for(finished.wait(), 10)
        assert (await engine.get("two", "t")).result == [{"shipped": "ask"}, {"shipped": "ask"}]
        with pytest.raises(WorkflowError, match="step 'ship-as-step' at position 9 is not waiting for a response \\(execution done; step never called\\)"):
            await engine.retry_step("two", "t", "ship-as-step", position="9")

    engine_run(source, scenario)


def test_a_parent_timeout_while_its_child_runs_cancels_the_child(engine_run) -> None:
    source = FLOWS + '''
import asyncio


async def slow(input, ctx):
    CALLS.append("slow")
    await asyncio.sleep(30)


crawl = create_step("crawl", slow, compensate=undo)


@create_workflow("crawls")
async def crawls(input, ctx):
    await pack(input)
    await crawl(input)


@create_workflow("impatient", timeout=0.2)
async def impatient(input, ctx):
    await first(input)
    await crawls(input)
'''

    async def scenario(engine, g):
        result = await engine.run("impatient", "x", transaction_id="i")
        assert result.state is ExecutionState.REVERTED
        assert result.errors == ["TimeoutError: workflow 'impatient' took longer than its timeout of 0.2s"]
        assert [(s.name, s.state.value, s.compensate_state.value) for s in result.steps] == [
            ("first", "done", "reverted"), ("crawls-as-step", "timeout", "reverted"),
        ]
        child = await engine.get("crawls", "i/1")
        assert child.cancelled and child.state is ExecutionState.REVERTED
        assert g("UNDONE") == ["pack@crawls", "first@impatient"]

    engine_run(source, scenario)
