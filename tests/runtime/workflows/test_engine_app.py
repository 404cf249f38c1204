"""The engine inside an application: its provider from config, routes, nested workflows, an
interrupted run continued, and a hot reload while an execution waits."""

from __future__ import annotations

import asyncio

from loader import ExecutionState
from loader.runtime.workflows.storage import MemoryWorkflowStorage
from tests.runtime.conftest import serve
from tests.runtime.test_reload import write

FLOW = """
import asyncio
from loader import StepResponse, create_step, create_workflow

CALLS = []
UNDONE = []
GATE = {{}}


async def reserve(input, ctx):
    CALLS.append("reserve")
    return StepResponse({{"sku": input}}, compensate_input=input)


async def release(sku, ctx):
    UNDONE.append(sku)


async def charge(input, ctx):
    CALLS.append("charge")
    if "started" in GATE:
        GATE["started"].set()
        await asyncio.sleep(30)
    return "{charged}"


async def ask(input, ctx):
    CALLS.append("ask")


reserve_stock = create_step("reserve", reserve, compensate=release)
charge_card = create_step("charge", charge)
ask_human = create_step("ask", ask, async_=True)


@create_workflow("stock")
async def stock(input, ctx):
    return await reserve_stock(input)


@create_workflow("order")
async def order(input, ctx):
    reserved = await {first}(input)  # a nested workflow: one step of this execution, an execution of its own
    await ask_human(reserved)
    return await charge_card(reserved)
"""


def test_the_engine_is_the_configured_provider_and_routes_use_it(make_project) -> None:
    root = make_project({
        "loader_config.py": """
            from loader import define_config
            config = define_config(modules={"workflow_engine": {"providers": [
                {"resolve": "loader.builtin.modules.workflow_engine.providers.memory", "id": "memory"},
            ]}})
        """,
        "src/workflows/flow.py": FLOW.format(charged="paid", first="stock"),
        "src/api/orders/route.py": """
            async def POST(request):
                engine = request.app.state.container.resolve("workflow_engine")
                result = await engine.run("order", (await request.json())["sku"], transaction_id="o-1")
                return {"state": result.state.value, "steps": [s.name for s in result.steps]}
        """,
        "src/api/orders/approve/route.py": """
            async def POST(request):
                engine = request.app.state.container.resolve("workflow_engine")
                result = await engine.set_step_success("order", "o-1", "ask", "yes")
                return {"state": result.state.value, "result": result.result}
        """,
    })

    async def scenario(http, app):
        engine = app.container.resolve("workflow_engine")
        assert isinstance(engine.storage, MemoryWorkflowStorage) and app.container.resolve("workflow_engine.memory") is engine.storage
        started = (await http.post("/orders", json={"sku": "s-1"})).json()
        approved = (await http.post("/orders/approve")).json()
        return started, approved, app.workflows["order"].fn.__globals__["CALLS"]

    started, approved, calls = serve(root, scenario)
    assert started == {"state": "invoking", "steps": ["stock-as-step", "ask"]}  # the nested workflow is one step here
    assert approved == {"state": "done", "result": "paid"}
    assert calls == ["reserve", "ask", "charge"]


def test_an_interrupted_run_is_continued_by_run_with_its_transaction_id(make_project) -> None:
    root = make_project({"src/workflows/flow.py": FLOW.format(charged="paid", first="stock")})

    async def scenario(http, app):
        engine = app.container.resolve("workflow_engine")
        g = app.workflows["order"].fn.__globals__
        await engine.run("order", "s-1", transaction_id="o-1")
        g["GATE"]["started"] = asyncio.Event()
        continuing = asyncio.create_task(engine.set_step_success("order", "o-1", "ask", "yes"))
        await g["GATE"]["started"].wait()
        continuing.cancel()  # the process stops serving mid-step
        await asyncio.gather(continuing, return_exceptions=True)
        interrupted = await engine.get("order", "o-1")
        assert interrupted.state is ExecutionState.INVOKING
        assert [(s.name, s.state.value) for s in interrupted.steps] == [("stock-as-step", "done"), ("ask", "done")]
        del g["GATE"]["started"]
        result = await engine.run("order", transaction_id="o-1")
        return result.state, result.result, g["CALLS"]

    state, result, calls = serve(root, scenario)
    assert (state, result) == (ExecutionState.DONE, "paid")
    assert calls == ["reserve", "ask", "charge", "charge"]  # the interrupted step ran again; the done ones did not


def test_a_waiting_execution_resumes_on_the_reloaded_code_or_fails_naming_the_mismatch(make_project) -> None:
    root = make_project({"src/workflows/flow.py": FLOW.format(charged="paid", first="stock")})

    async def scenario(http, app):
        engine = app.container.resolve("workflow_engine")
        await engine.run("order", "a", transaction_id="o-1")
        await engine.run("order", "b", transaction_id="o-2")
        before = (await engine.get("order", "o-1")).version
        await app.reload([write(root, "src/workflows/flow.py", FLOW.format(charged="paid twice", first="stock"))])
        resumed = await engine.set_step_success("order", "o-1", "ask", "yes")
        await app.reload([write(root, "src/workflows/flow.py", FLOW.format(charged="x", first="charge_card"))])
        mismatched = await engine.set_step_success("order", "o-2", "ask", "yes")
        return before, resumed, mismatched

    before, resumed, mismatched = serve(root, scenario)
    assert resumed.result == "paid twice" and before
    assert mismatched.state is ExecutionState.REVERTED
    [error] = mismatched.errors
    assert "calls step 'charge' at position 0 where the record has step 'stock-as-step' (recorded on version " in error
