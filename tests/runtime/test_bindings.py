"""Per-kind bindings: boot and reload go through the same ``prepare → commit → release``, a
reload applies completely or not at all, and a plugin's kind is bound like a built-in one."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.runtime.conftest import serve
from tests.runtime.test_reload import HELLO, write

SERVICE = """
from loader import Module

EVENTS = []


class Blog:
    def __init__(self, options):
        self.version = {version!r}

    async def on_start(self):
        {on_start}
        EVENTS.append(("start", self.version))

    async def on_shutdown(self):
        EVENTS.append(("stop", self.version))


module = Module("blog", service=Blog)
"""


def blog(version: str, on_start: str = "pass") -> str:
    return SERVICE.format(version=version, on_start=on_start)


def test_a_module_whose_new_on_start_raises_changes_nothing(make_project) -> None:
    root = make_project({"src/modules/blog/__init__.py": blog("v1"), "src/api/a/route.py": HELLO.format("a1")})

    async def scenario(http, app):
        before = app.registry.snapshot()
        report = await app.reload([
            write(root, "src/modules/blog/__init__.py", blog("v2", "raise RuntimeError('no database')")),
            write(root, "src/api/a/route.py", HELLO.format("a2")),
        ])
        events = list(sys.modules["src.modules.blog"].EVENTS)
        return report, before, app, (await http.get("/a")).json(), events

    report, before, app, body, events = serve(root, scenario)
    assert report.refused and not report.ok
    assert "failed to start" in report.errors[0].message and report.errors[0].path == "src/modules/blog/__init__.py"
    assert "refused, nothing was swapped" in report.summary()
    assert app.registry.snapshot() is before  # the registry did not move
    assert app.container.resolve("blog").version == "v1"  # the container neither
    assert body == {"message": "a1"}  # nor the route that came in the same batch
    assert [r.meta.get("service") for r in app.registry.list("module") if r.id == "blog"] == ["Blog"]
    assert app.errors == []  # a fresh boot would not report it either: on_start runs at start


def test_a_module_reload_starts_the_new_instance_before_stopping_the_old(make_project) -> None:
    root = make_project({"src/modules/blog/__init__.py": blog("v1")})

    async def scenario(http, app):
        old = sys.modules["src.modules.blog"]
        report = await app.reload([write(root, "src/modules/blog/__init__.py", blog("v2"))])
        return report, app.container.resolve("blog").version, list(old.EVENTS), list(sys.modules["src.modules.blog"].EVENTS)

    report, version, old_events, new_events = serve(root, scenario)
    assert report.ok and report.reloaded == {"module": ["blog"]}
    assert version == "v2"
    assert old_events == [("start", "v1"), ("stop", "v1")]
    assert new_events == [("start", "v2")]


def test_a_plugin_kind_is_bound_at_boot_and_rebound_on_reload_and_the_hook_fires(make_project) -> None:
    from loader_plugin_commands import SWAPS

    command = "from loader_plugin_commands import command\n\n@command(name='{name}')\ndef run():\n    return '{name}'\n"
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['commands'])\n",
        "src/commands/seed.py": command.format(name="seed"),
    })
    SWAPS.clear()

    async def scenario(http, app):
        at_boot = dict(app.container.resolve("commands"))
        swaps_at_boot = list(SWAPS)
        report = await app.reload([write(root, "src/commands/seed.py", command.format(name="seed-all"))])
        return at_boot, swaps_at_boot, report, dict(app.container.resolve("commands")), list(SWAPS)

    at_boot, swaps_at_boot, report, after, swaps = serve(root, scenario)
    assert sorted(at_boot) == ["seed", "version"]  # the plugin's own command and the project's
    assert at_boot["seed"]() == "seed"
    assert sorted(after) == ["seed-all", "version"] and after["seed-all"]() == "seed-all"
    assert report.reloaded == {"command": ["seed-all"]}
    assert len(swaps_at_boot) == 1 and swaps_at_boot[0][0] is True and "seed" in swaps_at_boot[0][1]
    assert swaps[-1] == (False, ["seed-all"], ["seed"])


def test_the_hook_does_not_fire_for_a_reload_that_changed_nothing(make_project) -> None:
    from loader_plugin_commands import SWAPS

    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['commands'])\n",
        "src/api/a/route.py": HELLO.format("a"),
    })
    SWAPS.clear()

    async def scenario(http, app):
        await app.reload([write(root, "src/api/a/route.py", "async def GET(request)\n")])  # broken
        return list(SWAPS)

    assert [boot for boot, _, _ in serve(root, scenario)] == [True]


def test_a_file_that_failed_at_boot_never_blocks_a_new_file(make_project) -> None:
    root = make_project({"src/api/broken/route.py": "async def GET(request)\n", "src/api/a/route.py": HELLO.format("a")})

    async def scenario(http, app):
        first = await app.reload([write(root, "src/api/new/route.py", HELLO.format("new"))])
        second = await app.reload([write(root, "src/api/newer/route.py", HELLO.format("newer"))])
        return first, second, (await http.get("/new")).json(), (await http.get("/newer")).json(), app.errors

    first, second, new, newer, errors = serve(root, scenario)
    assert first.loaded == {"route": ["GET /new"]} and second.loaded == {"route": ["GET /newer"]}
    assert new == {"message": "new"} and newer == {"message": "newer"}
    assert [e.path for e in errors] == ["src/api/broken/route.py"]  # still failed, alone


def test_a_new_file_that_fails_then_another_added_file_then_the_fix(make_project) -> None:
    root = make_project({"src/api/a/route.py": HELLO.format("a")})

    async def scenario(http, app):
        broken = await app.reload([write(root, "src/api/b/route.py", "raise RuntimeError('nope')\n")])
        other = await app.reload([write(root, "src/api/c/route.py", HELLO.format("c"))])
        fixed = await app.reload([write(root, "src/api/b/route.py", HELLO.format("b"))])
        return broken, other, fixed, (await http.get("/b")).json(), (await http.get("/c")).status_code, app.errors

    broken, other, fixed, b, c_status, errors = serve(root, scenario)
    assert broken.errors and broken.errors[0].location == "src/api/b/route.py:1"
    assert other.restart_reason is None and other.loaded == {"route": ["GET /c"]}
    assert other.errors[0].path == "src/api/b/route.py"  # retried, still broken, alone
    assert fixed.ok and b == {"message": "b"} and c_status == 200 and errors == []


SUB = "from loader import subscriber\n\n@subscriber('post.created', subscriber_id='notify')\nasync def notify(event, container):\n    return None\n"


def test_a_duplicate_subscriber_copy_subscribes_once_the_original_is_deleted(make_project) -> None:
    root = make_project({"src/subscribers/b_original.py": SUB})

    async def scenario(http, app):
        copied = await app.reload([write(root, "src/subscribers/c_copy.py", SUB)])
        after_copy = app.event_bus.subscriptions()
        original = root / "src/subscribers/b_original.py"
        original.unlink()
        deleted = await app.reload([original])
        return copied, after_copy, deleted, app.event_bus.subscriptions(), app.errors

    copied, after_copy, deleted, subscriptions, errors = serve(root, scenario)
    assert "duplicate subscriber 'notify'" in copied.errors[0].message and copied.errors[0].path == "src/subscribers/c_copy.py"
    assert [(e, i, s) for e, i, s in after_copy if i == "notify"] == [("post.created", "notify", "src/subscribers/b_original.py:3")]
    assert [(e, i, s) for e, i, s in subscriptions if i == "notify"] == [("post.created", "notify", "src/subscribers/c_copy.py:3")]
    assert errors == [] and deleted.ok


def test_worker_mode_is_decided_in_one_place(make_project) -> None:
    root = make_project({
        "src/api/a/route.py": HELLO.format("a"),
        "src/jobs/tick.py": "from loader import job\n\n@job(name='tick', schedule=3600)\nasync def tick(container):\n    return None\n",
    })

    async def scenario(http, app):
        await app.reload([write(root, "src/jobs/tick.py", "from loader import job\n\n@job(name='tock', schedule=3600)\nasync def tick(container):\n    return None\n")])
        return (await http.get("/a")).status_code, sorted(j.name for j in app.scheduler.jobs())

    assert serve(root, scenario, worker_mode="server") == (200, [])
    assert serve(root, scenario, worker_mode="worker") == (404, ["tock"])


def test_no_import_cycles_in_the_package() -> None:
    from tests.tools.import_cycles import cycles

    assert cycles(Path(__file__).resolve().parents[2] / "loader") == []


def test_the_live_inspect_endpoint_answers_only_loopback_clients_and_only_when_enabled(make_project) -> None:
    import asyncio

    import httpx

    from loader.runtime.application import Application

    root = make_project({"src/api/a/route.py": HELLO.format("a")})

    async def main() -> tuple[int, int, int, list[str]]:
        app = Application(root).boot()
        off = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.asgi), base_url="http://t")
        before = (await off.get("/_loader/inspect")).status_code
        app.serve_dev_inspect()
        local = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.asgi, client=("127.0.0.1", 5000)), base_url="http://t")
        remote = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.asgi, client=("10.1.2.3", 5000)), base_url="http://t")
        answer = await local.get("/_loader/inspect")
        return before, answer.status_code, (await remote.get("/_loader/inspect")).status_code, [r["id"] for r in answer.json()["resources"]]

    before, local, remote, ids = asyncio.run(main())
    assert (before, local, remote) == (404, 200, 404)
    assert "GET /a" in ids
