"""retry_step, awaiting retries, a workflow timeout and retention, through the public API (memory)."""

from __future__ import annotations

import asyncio
import time

import pytest

from loader import ExecutionState, WorkflowError

FLOWS = """
import asyncio
from loader import StepResponse, create_step, create_workflow

CALLS = []
UNDONE = []
FAILURES = {"manual": 1}
BREAK_ON = {}


def make(name):
    async def invoke(input, ctx):
        CALLS.append(name)
        if BREAK_ON.get(name) == len([c for c in CALLS if c == name]):
            raise RuntimeError(f"{name} broke")
        if FAILURES.get(name, 0) > 0:
            FAILURES[name] -= 1
            raise RuntimeError(f"{name} failed")
        return StepResponse(name, compensate_input=name)
    return invoke


async def undo(what, ctx):
    UNDONE.append(what)


async def slow(input, ctx):
    CALLS.append("slow")
    await asyncio.sleep(30)


first = create_step("first", make("first"), compensate=undo)
last = create_step("last", make("last"), compensate=undo)
external = create_step("external", make("external"), compensate=undo, async_=True)
manual = create_step("manual", make("manual"), max_retries=1, auto_retry=False)
poll = create_step("poll", make("poll"), compensate=undo, async_=True, retry_interval_awaiting=0.01, max_awaiting_retries=2)
poll_on = create_step("poll-on", make("poll-on"), async_=True, retry_interval_awaiting=0.01, max_awaiting_retries=1, continue_on_permanent_failure=True)
nudge = create_step("nudge", make("nudge"), async_=True, retry_interval_awaiting=0.01)
too_slow = create_step("too-slow", slow, compensate=undo, continue_on_permanent_failure=True)
parked = create_step("parked", make("parked"), compensate=undo, async_=True, skip_on_permanent_failure=True)


@create_workflow("external")
async def external_flow(input, ctx):
    await first(input)
    await external(input)
    return await last(input)


@create_workflow("manual")
async def manual_flow(input, ctx):
    await first(input)
    return await manual(input)


@create_workflow("polls")
async def polls(input, ctx):
    await first(input)
    await poll(input)
    return await last(input)


@create_workflow("polls-on")
async def polls_on(input, ctx):
    await poll_on(input)
    return await last(input)


@create_workflow("nudges")
async def nudges(input, ctx):
    return await nudge(input)


@create_workflow("slow", timeout=0.2)
async def slow_flow(input, ctx):
    await first(input)
    await too_slow(input)
    return await last(input)


@create_workflow("parked", timeout=0.2)
async def parked_flow(input, ctx):
    await first(input)
    await parked(input)
    return await last(input)


@create_workflow("brief", retention=0)
async def brief(input, ctx):
    return await first(input)


@create_workflow("kept", retention=3600)
async def kept(input, ctx):
    return await first(input)


@create_workflow("brief-waits", retention=0.01)
async def brief_waits(input, ctx):
    await first(input)
    if input == "wait":
        await external(input)
"""


def states(execution) -> list[tuple[str, str, str, str]]:
    return [(s.name, s.state.value, s.status.value, s.compensate_state.value) for s in execution.steps]


async def until(condition, *, limit: float = 10.0) -> None:
    """Wait until ``condition()`` holds (a guard against hanging, not a timing assertion)."""
    async with asyncio.timeout(limit):
        while not await condition():
            await asyncio.sleep(0.002)


def finished(engine, workflow: str):
    """An event set when an execution of ``workflow`` finishes."""
    done = asyncio.Event()
    engine.subscribe(workflow, lambda event: done.set() if event.type == "finish" else None)
    return done


# -- retry_step --------------------------------------------------------------------------------
def test_retry_step_reinvokes_a_waiting_async_step_now_and_goes_on(engine_run) -> None:
    async def scenario(engine, g):
        tx = (await engine.run("external")).transaction_id
        again = await engine.retry_step("external", tx, "external")
        assert again.waiting and g("CALLS") == ["first", "external", "external"]
        assert states(again)[1] == ("external", "invoking", "waiting_response", "dormant")
        assert (again.steps[1].attempts, again.steps[1].awaiting_retries) == (2, 1)
        done = await engine.set_step_success("external", tx, "external", "answered")
        assert done.ok and done.result == "last" and g("CALLS") == ["first", "external", "external", "last"]
        with pytest.raises(WorkflowError, match="step 'external' is not waiting for a response \\(execution done; step done/ok\\)"):
            await engine.retry_step("external", tx, "external")
        with pytest.raises(WorkflowError, match="step 'nope' is not waiting for a response .*never called"):
            await engine.retry_step("external", tx, "nope")
        with pytest.raises(WorkflowError, match="has no execution 'missing'"):
            await engine.retry_step("external", "missing", "external")

    engine_run(FLOWS, scenario)


def test_retry_step_retries_a_step_left_temporarily_failed(engine_run) -> None:
    async def scenario(engine, g):
        tx = (await engine.run("manual")).transaction_id
        retried = await engine.retry_step("manual", tx, "manual")
        assert retried.ok and retried.result == "manual" and g("CALLS") == ["first", "manual", "manual"]
        assert (retried.steps[1].attempts, retried.steps[1].awaiting_retries) == (2, 0)

    engine_run(FLOWS, scenario)


def test_a_reinvocation_that_fails_is_a_failure_of_the_step(engine_run) -> None:
    async def scenario(engine, g):
        g("BREAK_ON")["external"] = 2  # the second invocation raises; max_retries=0: permanent
        tx = (await engine.run("external")).transaction_id
        failed = await engine.retry_step("external", tx, "external")
        assert failed.state is ExecutionState.REVERTED and failed.errors == ["RuntimeError: external broke"]
        assert states(failed)[1][:3] == ("external", "failed", "permanent_failure") and g("UNDONE") == ["first"]

    engine_run(FLOWS, scenario)


# -- retry_interval_awaiting / max_awaiting_retries -------------------------------------------
def test_a_waiting_step_is_reinvoked_at_its_interval_then_fails_past_max_awaiting_retries(engine_run) -> None:
    async def scenario(engine, g):
        done = finished(engine, "polls")
        first_pass = await engine.run("polls")
        assert first_pass.waiting and [t.action for t in engine.timers.pending("polls")] == ["awaiting_retry"]
        await asyncio.wait_for(done.wait(), 10)
        execution = await engine.get("polls", first_pass.transaction_id)
        assert execution.state is ExecutionState.REVERTED and g("CALLS") == ["first", "poll", "poll", "poll"]
        assert states(execution) == [("first", "done", "ok", "reverted"), ("poll", "failed", "permanent_failure", "dormant")]
        assert (execution.steps[1].attempts, execution.steps[1].awaiting_retries) == (3, 2)
        assert execution.errors == ["step 'poll' got no answer after 2 awaiting retries (max_awaiting_retries=2)"]
        assert g("UNDONE") == ["first"] and engine.timers.pending() == []

    engine_run(FLOWS, scenario)


def test_past_max_awaiting_retries_continue_on_permanent_failure_applies(engine_run) -> None:
    async def scenario(engine, g):
        done = finished(engine, "polls-on")
        tx = (await engine.run("polls-on")).transaction_id
        await asyncio.wait_for(done.wait(), 10)
        execution = await engine.get("polls-on", tx)
        assert execution.state is ExecutionState.DONE and execution.result == "last"
        assert [(s.name, s.state.value) for s in execution.steps] == [("poll-on", "failed"), ("last", "done")]
        assert g("CALLS") == ["poll-on", "poll-on", "last"]

    engine_run(FLOWS, scenario)


def test_an_answer_stops_the_awaiting_retries(engine_run) -> None:
    async def scenario(engine, g):
        awaiting = asyncio.Event()
        engine.subscribe("nudges", lambda event: awaiting.set() if event.type == "step_awaiting" else None)
        tx = (await engine.run("nudges")).transaction_id
        awaiting.clear()
        await asyncio.wait_for(awaiting.wait(), 10)  # re-invoked once by the timer
        done = await engine.set_step_success("nudges", tx, "nudge", "answer")
        calls = list(g("CALLS"))
        assert done.ok and done.result == "answer" and calls[:2] == ["nudge", "nudge"]
        assert engine.timers.pending("nudges") == []  # the re-invocation scheduled before the answer was dropped
        await asyncio.sleep(0.03)  # several intervals
        assert g("CALLS") == calls and (await engine.get("nudges", tx)).state is ExecutionState.DONE

    engine_run(FLOWS, scenario)


def test_bad_awaiting_options_point_at_the_line(make_project) -> None:
    from loader import ResourceValidationError, load_project

    for options, message in [
        ("retry_interval_awaiting=0", "retry_interval_awaiting: Input should be greater than 0"),
        ("retry_interval_awaiting=float('inf')", "retry_interval_awaiting: Input should be a finite number"),
        ("max_awaiting_retries=-1", "max_awaiting_retries: Input should be greater than or equal to 0"),
        ("async_=True, max_awaiting_retries=2", "create_step('s'): Value error, max_awaiting_retries needs retry_interval_awaiting"),
        ("retry_interval_awaiting=5", "create_step('s'): Value error, retry_interval_awaiting applies to a step that waits for an answer: add async_=True"),
    ]:
        root = make_project({"src/workflows/bad.py": f"from loader import create_step\n\nasync def s(input, ctx):\n    pass\n\nstep = create_step('s', s, {options})\n"})
        [error] = load_project(root).errors
        assert isinstance(error, ResourceValidationError) and error.location == "src/workflows/bad.py:6"
        assert message in error.message


# -- workflow timeout --------------------------------------------------------------------------
def test_a_workflow_timeout_marks_the_running_step_timeout_and_compensates_without_continue(engine_run) -> None:
    async def scenario(engine, g):
        events: list[str] = []
        engine.subscribe("slow", lambda event: events.append(event.type))
        result = await engine.run("slow")
        assert result.state is ExecutionState.REVERTED
        assert result.errors == ["TimeoutError: workflow 'slow' took longer than its timeout of 0.2s"]
        assert states(result) == [("first", "done", "ok", "reverted"), ("too-slow", "timeout", "permanent_failure", "reverted")]
        assert g("CALLS") == ["first", "slow"] and g("UNDONE") == [None, "first"]  # continue_on_permanent_failure did not apply
        assert events == ["begin", "step_success", "step_failure", "timeout", "compensate_begin",
                          "compensate_step_success", "compensate_step_success", "finish"]

    engine_run(FLOWS, scenario)


def test_a_workflow_timeout_times_out_a_waiting_execution_without_skip(engine_run) -> None:
    async def scenario(engine, g):
        done = finished(engine, "parked")
        waiting = await engine.run("parked")
        assert waiting.waiting and [t.action for t in engine.timers.pending("parked")] == ["workflow_timeout"]
        await asyncio.wait_for(done.wait(), 10)
        execution = await engine.get("parked", waiting.transaction_id)
        assert execution.state is ExecutionState.REVERTED  # skip_on_permanent_failure did not apply
        assert states(execution) == [("first", "done", "ok", "reverted"), ("parked", "timeout", "permanent_failure", "reverted")]
        assert g("UNDONE") == ["parked", "first"] and "last" not in g("CALLS")
        with pytest.raises(WorkflowError, match="step 'parked' is not waiting"):
            await engine.set_step_success("parked", waiting.transaction_id, "parked", "late")

    engine_run(FLOWS, scenario)


def test_an_answer_after_the_deadline_does_not_run_the_rest(engine_run) -> None:
    async def scenario(engine, g):
        tx = (await engine.run("parked")).transaction_id
        await engine.timers.close()  # the timer is lost (as in a crash): the deadline still holds
        execution = await engine.get("parked", tx)

        async def past_deadline() -> bool:
            return time.time() > execution.created_at + 0.2

        await until(past_deadline)
        late = await engine.set_step_success("parked", tx, "parked", "late")
        assert late.state is ExecutionState.REVERTED and "last" not in g("CALLS")
        assert late.errors == ["TimeoutError: workflow 'parked' took longer than its timeout of 0.2s"]
        assert g("UNDONE") == ["parked", "first"]

    engine_run(FLOWS, scenario)


@pytest.mark.parametrize(("options", "message"), [
    ("timeout=0", "timeout must be a number of seconds > 0, got 0"),
    ("timeout=-1.5", "timeout must be a number of seconds > 0, got -1.5"),
    ("timeout='5'", "timeout must be a number of seconds > 0, got '5'"),
    ("timeout=True", "timeout must be a number of seconds > 0, got True"),
    ("timeout=float('nan')", "timeout must be a number of seconds > 0, got nan"),
    ("retention=-1", "retention must be a number of seconds >= 0, got -1"),
    ("retention=float('inf')", "retention must be a number of seconds >= 0, got inf"),
])
def test_bad_workflow_options_point_at_the_line(make_project, options, message) -> None:
    from loader import ResourceValidationError, load_project

    source = f"from loader import create_workflow\n\n\n@create_workflow('w', {options})\nasync def w(input, ctx):\n    pass\n"
    [error] = load_project(make_project({"src/workflows/bad.py": source})).errors
    assert isinstance(error, ResourceValidationError) and error.location == "src/workflows/bad.py:4"
    assert f"create_workflow('w'): {message}" in error.message


# -- retention ----------------------------------------------------------------------------------
def test_a_finished_execution_is_deleted_past_its_retention(engine_run) -> None:
    async def scenario(engine, g):
        brief = await engine.run("brief")
        kept = await engine.run("kept")
        assert brief.ok and kept.ok

        async def brief_gone() -> bool:
            return await engine.list("brief") == []

        await until(brief_gone)
        assert [e.transaction_id for e in await engine.list("kept")] == [kept.transaction_id]
        assert [(t.action, t.transaction_id) for t in engine.timers.pending("kept")] == [("retention", kept.transaction_id)]
        with pytest.raises(WorkflowError, match=f"has no execution '{brief.transaction_id}'"):
            await engine.get("brief", brief.transaction_id)

    engine_run(FLOWS, scenario)


def test_sweep_deletes_old_finished_executions_and_keeps_waiting_ones(engine_run) -> None:
    async def scenario(engine, g):
        waiting = await engine.run("brief-waits", "wait")
        done = await engine.run("brief-waits", "go")
        await engine.timers.close()  # as after a restart: no timer, the sweep does it
        stored = await engine.get("brief-waits", done.transaction_id)

        async def past_retention() -> bool:
            return time.time() > stored.updated_at + 0.01

        await until(past_retention)
        assert await engine.sweep() == 1
        assert [e.transaction_id for e in await engine.list("brief-waits")] == [waiting.transaction_id]
        assert await engine.sweep() == 0

    engine_run(FLOWS, scenario)


def test_a_workflow_timeout_holds_when_the_code_swallows_it_and_in_parallel_branches(engine_run) -> None:
    source = FLOWS + '''
from loader import parallel


@create_workflow("swallows", timeout=0.2)
async def swallows(input, ctx):
    await first(input)
    try:
        await too_slow(input)
    except BaseException:
        pass
    return "finished anyway"


@create_workflow("branches", timeout=0.2)
async def branches(input, ctx):
    return await parallel(first(input), too_slow(input))
'''

    async def scenario(engine, g):
        swallowed = await engine.run("swallows")
        assert swallowed.state is ExecutionState.REVERTED and swallowed.result is None
        assert swallowed.errors == ["TimeoutError: workflow 'swallows' took longer than its timeout of 0.2s"]
        g("UNDONE").clear()
        branched = await engine.run("branches")
        assert branched.state is ExecutionState.REVERTED
        assert sorted(states(branched)) == [("first", "done", "ok", "reverted"), ("too-slow", "timeout", "permanent_failure", "reverted")]
        assert sorted(g("UNDONE"), key=str) == [None, "first"]

    engine_run(source, scenario)


def test_huge_timeouts_and_retentions_are_fine(engine_run) -> None:
    source = FLOWS + '''

@create_workflow("patient", timeout=1e300, retention=1e300)
async def patient(input, ctx):
    await first(input)
    return await external(input)
'''

    async def scenario(engine, g):
        waiting = await engine.run("patient", transaction_id="p")
        assert waiting.waiting and [t.action for t in engine.timers.pending("patient")] == ["workflow_timeout"]
        done = await engine.set_step_success("patient", "p", "external", "ok")
        assert done.ok and [t.action for t in engine.timers.pending("patient")] == ["retention"]  # its timeout timer was dropped
        assert await engine.sweep() == 0 and (await engine.get("patient", "p")).state is ExecutionState.DONE

    engine_run(source, scenario)
