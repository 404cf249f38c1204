"""Every step option the engine honours today, one scenario each, through the public API."""

from __future__ import annotations

import asyncio

import pytest

from loader import ExecutionState, WorkflowError
from loader.kinds.workflows import StepConfig
from loader.runtime.workflows.runner import retry_delay

FLOWS = """
import asyncio
from loader import PermanentStepFailure, StepResponse, create_step, create_workflow

CALLS = []
UNDONE = []
FAILURES = {"flaky": 2, "manual": 1}
GATE = {}


def make(name):
    async def invoke(input, ctx):
        CALLS.append(name)
        if FAILURES.get(name, 0) > 0:
            FAILURES[name] -= 1
            raise RuntimeError(f"{name} failed")
        return StepResponse(name, compensate_input=name)
    return invoke


async def undo(what, ctx):
    UNDONE.append(what)


async def permanent(input, ctx):
    CALLS.append("permanent")
    raise PermanentStepFailure("card declined")


async def broken(input, ctx):
    CALLS.append("broken")
    raise RuntimeError("broken")


async def slow(input, ctx):
    CALLS.append("slow")
    await asyncio.sleep(30)


async def gated(input, ctx):
    CALLS.append("gated")
    GATE["started"].set()
    await GATE["release"].wait()
    return StepResponse("gated", compensate_input="gated")


first = create_step("first", make("first"), compensate=undo)
last = create_step("last", make("last"), compensate=undo)
flaky = create_step("flaky", make("flaky"), max_retries=2, retry_interval=0.001)
declined = create_step("declined", permanent, max_retries=5)
manual = create_step("manual", make("manual"), max_retries=1, auto_retry=False)
external = create_step("external", make("external"), compensate=undo, async_=True, max_retries=1)
skip_all = create_step("skip-all", broken, skip_on_permanent_failure=True)
skip_to = create_step("skip-to", broken, skip_on_permanent_failure="last")
middle = create_step("middle", make("middle"))
go_on = create_step("go-on", broken, continue_on_permanent_failure=True)
too_slow = create_step("too-slow", slow, compensate=undo, timeout=0.01)
gate = create_step("gate", gated, compensate=undo)


@create_workflow("retries")
async def retries(input, ctx):
    return await flaky(input)


@create_workflow("declines")
async def declines(input, ctx):
    await first(input)
    await declined(input)


@create_workflow("manual")
async def manual_flow(input, ctx):
    await first(input)
    return await manual(input)


@create_workflow("external")
async def external_flow(input, ctx):
    await first(input)
    return await external(input)


@create_workflow("skips")
async def skips(input, ctx):
    await first(input)
    await skip_all(input)
    await middle(input)
    return await last(input)


@create_workflow("skips-to")
async def skips_to(input, ctx):
    await skip_to(input)
    await middle(input)
    return await last(input)


@create_workflow("continues")
async def continues(input, ctx):
    await first(input)
    await go_on(input)
    return await last(input)


@create_workflow("times-out")
async def times_out(input, ctx):
    await first(input)
    await too_slow(input)


@create_workflow("gated")
async def gated_flow(input, ctx):
    await first(input)
    await gate(input)
    CALLS.append("after-gate")  # workflow code after a cancelled step does not run
    return await last(input)
"""


def states(execution) -> list[tuple[str, str, str, str]]:
    return [(s.name, s.state.value, s.status.value, s.compensate_state.value) for s in execution.steps]


def test_max_retries_with_retry_interval(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("retries")
        assert result.ok and result.result == "flaky" and g("CALLS") == ["flaky"] * 3
        assert states(result) == [("flaky", "done", "ok", "dormant")] and result.steps[0].attempts == 3
        g("FAILURES")["flaky"] = 3  # one more failure than retries
        failed = await engine.run("retries")
        assert failed.state is ExecutionState.REVERTED and failed.errors == ["RuntimeError: flaky failed"]
        assert failed.steps[0].attempts == 3

    engine_run(FLOWS, scenario)


def test_retry_delay_is_tenacitys_fixed_or_exponential_policy() -> None:
    assert retry_delay(StepConfig(retry_interval=0.5), 4) == 0.5
    assert retry_delay(StepConfig(), 3) == 0
    backoff = StepConfig(retry_interval=1, retry_backoff=True, retry_max_interval=5)
    assert 4 <= retry_delay(backoff, 3) <= 5  # 1 * 2**2, plus up to 1 of jitter
    assert retry_delay(backoff, 10) == 5  # capped


def test_permanent_step_failure_skips_retries(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("declines")
        assert g("CALLS") == ["first", "permanent"] and result.errors == ["PermanentStepFailure: card declined"]
        assert states(result) == [("first", "done", "ok", "reverted"), ("declined", "failed", "permanent_failure", "dormant")]

    engine_run(FLOWS, scenario)


def test_auto_retry_false_waits_until_run_with_the_transaction_id(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("manual", transaction_id="m")
        assert result.waiting and g("CALLS") == ["first", "manual"]
        assert states(result)[1] == ("manual", "invoking", "temp_failure", "dormant")
        assert result.steps[1].error == "RuntimeError: manual failed"
        retried = await engine.run("manual", transaction_id="m")
        assert retried.ok and retried.result == "manual" and g("CALLS") == ["first", "manual", "manual"]
        assert retried.steps[1].attempts == 2

    engine_run(FLOWS, scenario)


def test_async_step_failure_is_retried_then_forced_permanent(engine_run) -> None:
    async def scenario(engine, g):
        tx = (await engine.run("external")).transaction_id
        again = await engine.set_step_failure("external", tx, "external", "gateway said no")
        assert again.waiting and g("CALLS") == ["first", "external", "external"]  # re-invoked: max_retries=1
        assert states(again)[1] == ("external", "invoking", "waiting_response", "dormant") and again.steps[1].attempts == 2
        failed = await engine.set_step_failure("external", tx, "external", RuntimeError("down"), force_permanent_failure=True)
        assert failed.state is ExecutionState.REVERTED and failed.errors == ["RuntimeError: down"]
        assert g("UNDONE") == ["first"]
        with pytest.raises(WorkflowError, match="step 'external' is not waiting"):
            await engine.set_step_success("external", tx, "external", 1)
        with pytest.raises(WorkflowError, match="has no execution 'nope'"):
            await engine.set_step_failure("external", "nope", "external", "x")

    engine_run(FLOWS, scenario)


def test_skip_on_permanent_failure_true_skips_every_later_step(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("skips")
        assert result.ok and result.state is ExecutionState.DONE and result.result is None
        assert [(s.name, s.state.value) for s in result.steps] == [
            ("first", "done"), ("skip-all", "failed"), ("middle", "skipped_failure"), ("last", "skipped_failure"),
        ]
        assert g("CALLS") == ["first", "broken"] and g("UNDONE") == []

    engine_run(FLOWS, scenario)


def test_skip_on_permanent_failure_with_a_name_resumes_at_that_step(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("skips-to")
        assert result.ok and result.result == "last" and g("CALLS") == ["broken", "last"]
        assert [(s.name, s.state.value) for s in result.steps] == [("skip-to", "failed"), ("middle", "skipped_failure"), ("last", "done")]
        assert [s.name for s in result.failed_steps] == ["skip-to"]

    engine_run(FLOWS, scenario)


def test_continue_on_permanent_failure_records_it_and_goes_on(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("continues")
        assert result.ok and result.result == "last" and g("UNDONE") == []
        assert [(s.name, s.state.value, s.error) for s in result.failed_steps] == [("go-on", "failed", "RuntimeError: broken")]

    engine_run(FLOWS, scenario)


def test_a_step_timeout_marks_it_timeout_and_compensates_it(engine_run) -> None:
    async def scenario(engine, g):
        result = await engine.run("times-out")
        assert result.state is ExecutionState.REVERTED
        assert states(result) == [("first", "done", "ok", "reverted"), ("too-slow", "timeout", "permanent_failure", "reverted")]
        assert result.errors == ["TimeoutError: step 'too-slow' took longer than its timeout of 0.01s"]
        assert g("UNDONE") == [None, "first"]  # the timed-out step had no compensate_input yet

    engine_run(FLOWS, scenario)


def test_cancel_a_running_execution_compensates_once_the_running_step_finished(engine_run) -> None:
    async def scenario(engine, g):
        g("GATE").update(started=asyncio.Event(), release=asyncio.Event())
        running = asyncio.create_task(engine.run("gated", transaction_id="c"))
        await g("GATE")["started"].wait()
        cancelling = asyncio.create_task(engine.cancel("gated", "c"))
        await asyncio.sleep(0)
        assert not cancelling.done()  # it waits for the running step
        g("GATE")["release"].set()
        cancelled, ran = await cancelling, await running
        assert cancelled.state is ran.state is ExecutionState.REVERTED
        assert g("CALLS") == ["first", "gated"] and g("UNDONE") == ["gated", "first"]  # "last" never ran
        assert (await engine.get("gated", "c")).cancelled
        with pytest.raises(WorkflowError, match="execution c is already being compensated; it cannot be cancelled"):
            await engine.cancel("gated", "c")

    engine_run(FLOWS, scenario)


def test_cancel_a_waiting_or_done_execution_and_refuse_a_failed_one(engine_run) -> None:
    async def scenario(engine, g):
        waiting = await engine.run("external")
        cancelled = await engine.cancel("external", waiting.transaction_id)
        assert cancelled.state is ExecutionState.REVERTED and g("UNDONE") == ["first"]
        assert states(cancelled)[1] == ("external", "invoking", "waiting_response", "dormant")
        g("UNDONE").clear()
        done = await engine.run("continues")
        assert (await engine.cancel("continues", done.transaction_id)).state is ExecutionState.REVERTED
        assert g("UNDONE") == ["last", "first"]
        failed = await engine.run("declines")
        with pytest.raises(WorkflowError, match=f"execution {failed.transaction_id} already ended reverted; it cannot be cancelled"):
            await engine.cancel("declines", failed.transaction_id)

    engine_run(FLOWS, scenario)


def test_a_non_json_answer_leaves_the_async_step_waiting(engine_run) -> None:
    from loader import NonSerializableCheckpointError

    async def scenario(engine, g):
        tx = (await engine.run("external")).transaction_id
        with pytest.raises(NonSerializableCheckpointError, match="output of step 'external' \\(workflow 'external'\\): a value of type builtins.object"):
            await engine.set_step_success("external", tx, "external", object())
        assert states(await engine.get("external", tx))[1] == ("external", "invoking", "waiting_response", "dormant")
        assert (await engine.set_step_success("external", tx, "external", "fine")).result == "fine"

    engine_run(FLOWS, scenario)


@pytest.mark.parametrize(("options", "message"), [
    ("skip_on_permanent_failure=''", "String should have at least 1 character"),
    ("timeout=0", "timeout: Input should be greater than 0"),
    ("max_retries=-1", "max_retries: Input should be greater than or equal to 0"),
    ("retry_backoff='often'", "retry_backoff: Input should be a valid boolean"),
])
def test_bad_step_options_point_at_the_line(make_project, options, message) -> None:
    from loader import ResourceValidationError, load_project

    root = make_project({"src/workflows/bad.py": f"from loader import create_step\n\nasync def s(input, ctx):\n    pass\n\nstep = create_step('s', s, {options})\n"})
    [error] = load_project(root).errors
    assert isinstance(error, ResourceValidationError) and error.location == "src/workflows/bad.py:6"
    assert message in error.message


def test_cancel_while_an_async_step_is_being_invoked_compensates_once_it_returns(engine_run) -> None:
    source = FLOWS + '''

async def start_job(input, ctx):
    GATE["started"].set()
    await GATE["release"].wait()


job = create_step("job", start_job, async_=True)


@create_workflow("job")
async def job_flow(input, ctx):
    await first(input)
    await job(input)
'''

    async def scenario(engine, g):
        g("GATE").update(started=asyncio.Event(), release=asyncio.Event())
        running = asyncio.create_task(engine.run("job", transaction_id="j"))
        await g("GATE")["started"].wait()
        cancelling = asyncio.create_task(engine.cancel("job", "j"))
        await asyncio.sleep(0)
        g("GATE")["release"].set()
        cancelled = await cancelling
        assert (await running).state is cancelled.state is ExecutionState.REVERTED and g("UNDONE") == ["first"]

    engine_run(source, scenario)


def test_a_failing_compensation_ends_failed_and_a_failed_execution_cannot_be_cancelled(engine_run) -> None:
    source = FLOWS + '''

async def cannot_undo(what, ctx):
    raise RuntimeError("undo refused")


sticky = create_step("sticky", make("sticky"), compensate=cannot_undo)
fails = create_step("fails", broken)


@create_workflow("sticky")
async def sticky_flow(input, ctx):
    await first(input)
    await sticky(input)
    await fails(input)
'''

    async def scenario(engine, g):
        result = await engine.run("sticky")
        assert result.state is ExecutionState.FAILED and g("UNDONE") == ["first"]  # the others still ran
        assert result.errors == ["RuntimeError: broken", "compensation of 'sticky' failed: RuntimeError: undo refused"]
        assert [(s.name, s.compensate_state.value, s.compensate_status.value) for s in result.steps] == [
            ("first", "reverted", "ok"), ("sticky", "failed", "permanent_failure"), ("fails", "dormant", "idle"),
        ]
        with pytest.raises(WorkflowError, match="already ended failed; it cannot be cancelled"):
            await engine.cancel("sticky", result.transaction_id)

    engine_run(source, scenario)
