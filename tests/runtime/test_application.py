"""The Application: modules and providers in the container, lifecycle hooks, subscribers,
jobs and workflows wired from discovery, worker modes."""

from __future__ import annotations

import asyncio

import pytest
from tests.runtime.conftest import serve

from loader.runtime.application import Application
from loader.runtime.modules import ModuleStartError

NOTIFICATION = {
    "loader_config.py": """
        from loader import define_config
        config = define_config(modules={
            "notification": {
                "options": {"sender": "shop"},
                "providers": [{"resolve": "./src/modules/notification/console", "id": "console", "options": {"prefix": ">"}}],
            },
        })
    """,
    "src/modules/notification/__init__.py": """
        from loader import Module

        EVENTS = []

        class NotificationService:
            def __init__(self, options, provider, providers, container):
                self.options, self.provider, self.providers, self.container = options, provider, providers, container

            async def on_start(self):
                EVENTS.append("notification started")

            async def on_shutdown(self):
                EVENTS.append("notification stopped")

        def warm_up(container, options):
            EVENTS.append(f"loader ran with {options}")

        module = Module("notification", service=NotificationService, loaders=[warm_up])
    """,
    "src/modules/notification/console/__init__.py": """
        from loader import ModuleProvider

        class Console:
            def __init__(self, options):
                self.prefix = options["prefix"]

        provider = ModuleProvider(service=Console)
    """,
}


def test_modules_and_providers_are_built_with_what_they_ask_for(make_project) -> None:
    app = Application(make_project(NOTIFICATION)).boot()
    assert app.errors == []
    service = app.container.resolve("notification")
    assert service.options == {"sender": "shop"}
    assert service.provider.prefix == ">" and service.providers == {"console": service.provider}
    assert service.container is app.container
    assert app.container.resolve("notification.console") is service.provider


def test_lifecycle_hooks_run_in_order(make_project) -> None:
    async def main():
        app = Application(make_project(NOTIFICATION)).boot()
        events = app.container.resolve("notification").__class__.__init__.__globals__["EVENTS"]
        await app.start()
        await app.stop()
        return events

    assert asyncio.run(main()) == ["loader ran with {'sender': 'shop'}", "notification started", "notification stopped"]


def test_a_module_that_fails_to_start_names_the_module_and_its_file(make_project) -> None:
    root = make_project({
        "src/modules/payments/__init__.py": """
            from loader import Module

            class Payments:
                async def on_start(self):
                    raise ConnectionError("gateway unreachable")

            module = Module("payments", service=Payments)
        """,
    })
    app = Application(root).boot()
    with pytest.raises(ModuleStartError) as info:
        asyncio.run(app.start())
    assert info.value.location == "src/modules/payments/__init__.py:7"
    assert "module 'payments': service Payments failed to start: ConnectionError: gateway unreachable" in info.value.message


def test_a_service_that_cannot_be_built_is_an_error_and_the_rest_boots(make_project) -> None:
    root = make_project({
        "src/modules/broken/__init__.py": "from loader import Module\n\nclass S:\n    def __init__(self):\n        raise ValueError('bad')\n\nmodule = Module('broken', service=S)\n",
        "src/api/ok/route.py": "async def GET(request):\n    return {}\n",
    })
    app = Application(root).boot()
    [error] = app.errors
    assert error.location == "src/modules/broken/__init__.py:7" and "could not be built: ValueError: bad" in error.message
    assert "broken" not in app.container


def test_route_runs_a_workflow_and_emits_an_event_a_subscriber_handles(make_project) -> None:
    root = make_project({
        "src/workflows/create_order.py": """
            from loader import StepResponse, create_step, create_workflow

            async def reserve(input, ctx):
                return StepResponse({"order": input["sku"]})

            reserve_stock = create_step("reserve", reserve)

            @create_workflow("create-order")
            async def create_order(input, ctx):
                order = await reserve_stock(input)
                await ctx.container.resolve("event_bus").emit("order.created", order)
                return order
        """,
        "src/api/orders/route.py": """
            from src.workflows.create_order import create_order

            async def POST(request):
                result = await create_order.run(await request.json(), container=request.app.state.container)
                return {"ok": result.ok, "order": result.result}
        """,
        "src/subscribers/orders.py": """
            from loader import subscriber

            SEEN = []

            @subscriber("order.created")
            async def remember(event, container):
                SEEN.append((event.name, event.data, "event_bus" in container))
        """,
    })

    async def scenario(http, app):
        response = await http.post("/orders", json={"sku": "mug"})
        await app.event_bus.drain()
        [sub] = app.registry.list("subscriber")
        return response.json(), sub.obj.__globals__["SEEN"]

    body, seen = serve(root, scenario)
    assert body == {"ok": True, "order": {"order": "mug"}}
    assert seen == [("order.created", {"order": "mug"}, True)]


def test_plugin_subscribers_receive_their_plugin_options(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=[{'resolve': './audit', 'options': {'level': 'high'}}])\n",
        "audit/__init__.py": "",
        "audit/subscribers/all.py": """
            from loader import subscriber
            SEEN = []

            @subscriber("*")
            def everything(event, container, options):
                SEEN.append((event.name, options))
        """,
    })

    async def scenario(http, app):
        await app.event_bus.emit("anything", 1)
        await app.event_bus.drain()
        return app.registry.list("subscriber")[0].obj.__globals__["SEEN"]

    assert serve(root, scenario) == [("anything", {"level": "high"})]


TICK_JOB = {
    "src/jobs/tick.py": """
        from loader import job
        RUNS = []

        @job(name="tick", schedule=0.02)
        async def tick(container):
            RUNS.append("event_bus" in container)
    """,
}


def _runs(app):
    return app.registry.list("job")[0].obj.__globals__["RUNS"]


def test_jobs_run_in_shared_mode_with_the_container(make_project) -> None:
    async def scenario(http, app):
        for _ in range(250):  # generous: the machine is shared and noisy
            if len(_runs(app)) >= 2:
                break
            await asyncio.sleep(0.02)
        return _runs(app)

    runs = serve(make_project(TICK_JOB), scenario)
    assert len(runs) >= 2 and all(runs)


def test_jobs_do_not_run_in_server_mode(make_project) -> None:
    async def scenario(http, app):
        await asyncio.sleep(0.1)
        return _runs(app), app.scheduler.running

    assert serve(make_project(TICK_JOB), scenario, worker_mode="server") == ([], 0)


def test_worker_mode_serves_only_health(make_project) -> None:
    root = make_project({"src/api/a/route.py": "async def GET(request):\n    return {}\n"})

    async def scenario(http, app):
        return (await http.get("/a")).status_code, (await http.get("/health")).status_code

    assert serve(root, scenario, worker_mode="worker") == (404, 200)


def test_the_event_bus_uses_the_configured_provider(make_project) -> None:
    root = make_project({
        "loader_config.py": """
            from loader import define_config
            config = define_config(modules={"event_bus": {"providers": [
                {"resolve": "./recording_bus", "id": "recording"},
            ]}})
        """,
        "recording_bus/__init__.py": """
            from loader import ModuleProvider
            from loader.runtime.events import LocalEventBus

            class RecordingBus(LocalEventBus):
                emitted = []

                async def emit(self, name, data=None, metadata=None):
                    self.emitted.append(name)
                    await super().emit(name, data, metadata)

            provider = ModuleProvider(service=RecordingBus)
        """,
    })

    async def scenario(http, app):
        await app.event_bus.emit("ping")
        return type(app.event_bus.provider).__name__, app.event_bus.provider.emitted

    assert serve(root, scenario) == ("RecordingBus", ["ping"])


def test_a_started_application_keeps_its_booted_heap_out_of_the_collectors_sight(make_project) -> None:
    # Frozen while it serves (no collection walks the whole application; a reload's cost does not
    # grow with the project), collectable again once stopped (a test suite gets its memory back).
    import gc

    root = make_project({"src/api/store/hello/route.py": "async def GET(request):\n    return {'ok': True}\n"})

    async def scenario(http, app) -> int:
        assert (await http.get("/store/hello")).status_code == 200
        return gc.get_freeze_count()

    assert serve(root, scenario) > 1_000
    assert gc.get_freeze_count() == 0
