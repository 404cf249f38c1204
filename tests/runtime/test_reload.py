"""Hot reload through the programmatic API: ``await app.reload(paths)`` on a running app,
checked over real ASGI calls."""

from __future__ import annotations

import asyncio
import gc
import os
import py_compile
import sys
import textwrap
import weakref
from pathlib import Path

import pytest

from tests.runtime.conftest import serve

HELLO = "async def GET(request):\n    return {{'message': '{}'}}\n"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_edit_a_route(make_project) -> None:
    root = make_project({"src/api/hello/route.py": HELLO.format("v1"), "src/api/other/route.py": HELLO.format("other")})

    async def scenario(http, app):
        other_before = next(r.obj for r in app.registry.list("route") if r.id == "GET /other")
        before = (await http.get("/hello")).json()
        report = await app.reload([write(root, "src/api/hello/route.py", HELLO.format("v2"))])
        after = (await http.get("/hello")).json()
        other_after = next(r.obj for r in app.registry.list("route") if r.id == "GET /other")
        return before, report, after, other_before is other_after

    before, report, after, untouched = serve(root, scenario)
    assert (before, after) == ({"message": "v1"}, {"message": "v2"})
    assert report.ok and report.reloaded == {"route": ["GET /hello"]} and report.left_alone.get("route") == 1
    assert untouched
    assert report.summary().startswith("reloaded src/api/hello/route.py (1 route; 0 dependents) in ")


def test_edit_a_helper_reloads_its_dependents_only(make_project) -> None:
    root = make_project({
        "src/lib/pricing.py": "RATE = 1\n",
        "src/api/a/route.py": "from src.lib.pricing import RATE\n\nasync def GET(request):\n    return {'a': RATE}\n",
        "src/api/b/route.py": "from src.lib import pricing\n\nasync def GET(request):\n    return {'b': pricing.RATE}\n",
        "src/api/c/route.py": HELLO.format("c"),
    })

    async def scenario(http, app):
        c_before = next(r.obj for r in app.registry.list("route") if r.id == "GET /c")
        report = await app.reload([write(root, "src/lib/pricing.py", "RATE = 2\n")])
        c_after = next(r.obj for r in app.registry.list("route") if r.id == "GET /c")
        return report, (await http.get("/a")).json(), (await http.get("/b")).json(), c_before is c_after

    report, a, b, c_same = serve(root, scenario)
    assert (a, b) == ({"a": 2}, {"b": 2}) and c_same
    assert sorted(report.reloaded["route"]) == ["GET /a", "GET /b"] and report.dependents == 2
    assert report.why["src/api/a/route.py"] == "imports src/lib/pricing.py"


def test_add_and_delete_a_route_file(make_project) -> None:
    root = make_project({"src/api/hello/route.py": HELLO.format("v1")})

    async def scenario(http, app):
        added = await app.reload([write(root, "src/api/new/route.py", HELLO.format("new"))])
        served = (await http.get("/new")).json()
        (root / "src/api/new/route.py").unlink()
        deleted = await app.reload([root / "src/api/new/route.py"])
        gone = (await http.get("/new")).status_code
        return added, served, deleted, gone

    added, served, deleted, gone = serve(root, scenario)
    assert added.loaded == {"route": ["GET /new"]} and served == {"message": "new"}
    assert deleted.unloaded == {"route": ["GET /new"]} and gone == 404


def test_a_broken_edit_keeps_the_old_version_and_the_next_good_save_recovers(make_project) -> None:
    root = make_project({"src/api/hello/route.py": HELLO.format("v1")})

    async def scenario(http, app):
        broken = await app.reload([write(root, "src/api/hello/route.py", "async def GET(request)\n    return {}\n")])
        still = (await http.get("/hello")).json()
        fixed = await app.reload([write(root, "src/api/hello/route.py", HELLO.format("v3"))])
        return broken, still, fixed, (await http.get("/hello")).json(), app.errors

    broken, still, fixed, after, errors = serve(root, scenario)
    [error] = broken.errors
    assert error.location == "src/api/hello/route.py:1" and error.source_line.strip() == "async def GET(request)"
    assert still == {"message": "v1"} and not broken.restart_required
    assert fixed.ok and after == {"message": "v3"} and errors == []


def test_a_failed_import_in_a_helper_keeps_every_dependent_on_the_old_version(make_project) -> None:
    root = make_project({
        "src/lib/text.py": "WORD = 'old'\n",
        "src/api/a/route.py": "from src.lib.text import WORD\n\nasync def GET(request):\n    return {'a': WORD}\n",
    })

    async def scenario(http, app):
        report = await app.reload([write(root, "src/lib/text.py", "import not_a_real_package\nWORD = 'new'\n")])
        return report, (await http.get("/a")).json(), "src.lib.text" in sys.modules

    report, body, helper_loaded = serve(root, scenario)
    assert report.errors[0].location == "src/lib/text.py:1" and "ModuleNotFoundError" in report.errors[0].message
    assert body == {"a": "old"}  # the route keeps its last good version, which holds the old WORD
    assert not helper_loaded  # as after a failed import at boot: the next import tries again


def test_a_file_that_failed_at_boot_is_retried_on_its_next_change(make_project) -> None:
    root = make_project({"src/api/hello/route.py": "async def GET(request)\n"})

    async def scenario(http, app):
        assert len(app.errors) == 1
        report = await app.reload([write(root, "src/api/hello/route.py", HELLO.format("fixed"))])
        return report, (await http.get("/hello")).json(), app.errors

    report, body, errors = serve(root, scenario)
    assert report.ok and body == {"message": "fixed"} and errors == []


def test_a_duplicate_introduced_by_an_edit_is_rejected_and_the_rest_serves(make_project) -> None:
    root = make_project({"src/api/a/route.py": HELLO.format("a"), "src/api/b/route.py": HELLO.format("b")})

    async def scenario(http, app):
        report = await app.reload([write(root, "src/jobs/x.py", "")])  # unrelated: nothing imports it
        dup = await app.reload([write(root, "src/api/[id]/route.py", HELLO.format("id")), write(root, "src/api/[slug]/route.py", HELLO.format("slug"))])
        return report, dup, (await http.get("/a")).json()

    ignored, dup, body = serve(root, scenario)
    assert "duplicate route" in dup.errors[0].message and body == {"message": "a"}


def test_subscriber_event_change_moves_the_subscription_without_copies(make_project) -> None:
    sub = """
        from loader import subscriber
        SEEN = []

        @subscriber("{event}")
        async def on_it(event, container):
            SEEN.append(event.name)
    """
    root = make_project({"src/subscribers/s.py": sub.format(event="a")})

    async def scenario(http, app):
        await app.reload([write(root, "src/subscribers/s.py", sub.format(event="b"))])
        for name in ("a", "b", "b"):
            await app.event_bus.emit(name)
        await app.event_bus.drain()
        return sys.modules["src.subscribers.s"].SEEN, app.event_bus.subscriptions()

    seen, subscriptions = serve(root, scenario)
    assert seen == ["b", "b"]
    assert [(e, i) for e, i, _ in subscriptions] == [("b", "project:subscribers/s:on_it")]


def test_job_schedule_change_reschedules_and_an_unchanged_job_keeps_its_next_run(make_project) -> None:
    jobs = """
        from loader import job

        @job(name="nightly", schedule="{cron}")
        async def nightly(container):
            pass

        @job(name="hourly", schedule="0 * * * *")
        async def hourly(container):
            pass
    """
    root = make_project({"src/jobs/j.py": jobs.format(cron="0 3 * * *")})

    async def scenario(http, app):
        ids = {r.id: ":".join(r.owner_key[1:]) for r in app.registry.list("job")}
        before = {name: app.scheduler.next_run(i) for name, i in ids.items()}
        await app.reload([write(root, "src/jobs/j.py", jobs.format(cron="30 4 * * *"))])
        return before, {name: app.scheduler.next_run(i) for name, i in ids.items()}

    before, after = serve(root, scenario)
    assert after["hourly"] == before["hourly"]
    assert (after["nightly"].hour, after["nightly"].minute) == (4, 30)


def test_workflow_step_change(make_project) -> None:
    wf = """
        from loader import create_step, create_workflow

        async def shout(text, ctx):
            return text.{method}()

        step = create_step("shout", shout)

        @create_workflow("shout")
        async def run(input, ctx):
            return await step(input)
    """
    root = make_project({
        "src/workflows/w.py": wf.format(method="upper"),
        "src/api/w/route.py": "async def GET(request):\n    wf = request.app.state.container.resolve('workflows')['shout']\n    return (await wf.run('Hi')).result\n",
    })

    async def scenario(http, app):
        before = (await http.get("/w")).json()
        await app.reload([write(root, "src/workflows/w.py", wf.format(method="lower"))])
        return before, (await http.get("/w")).json()

    assert serve(root, scenario) == ("HI", "hi")


def test_module_service_change_shuts_the_old_one_down_and_binds_the_new(make_project) -> None:
    svc = """
        from loader import Module
        LOG = []

        class Greeter:
            def greet(self):
                return "{word}"

            async def on_shutdown(self):
                LOG.append("{word} stopped")

        module = Module("greeter", service=Greeter)
    """
    root = make_project({
        "src/modules/greeter/__init__.py": svc.format(word="hello"),
        "src/api/g/route.py": "async def GET(request):\n    return request.app.state.container.resolve('greeter').greet()\n",
    })

    async def scenario(http, app):
        old_log = sys.modules["src.modules.greeter"].LOG
        report = await app.reload([write(root, "src/modules/greeter/__init__.py", svc.format(word="bonjour"))])
        return report, (await http.get("/g")).json(), old_log

    report, body, old_log = serve(root, scenario)
    assert report.reloaded == {"module": ["greeter"]}
    assert body == "bonjour" and old_log == ["hello stopped"]


def test_a_files_own_predicate_toggles_it_on_reload(make_project) -> None:
    gated = "from loader import define_file_config\ndefine_file_config(is_disabled=lambda: {off})\n\nasync def GET(request):\n    return 'on'\n"
    root = make_project({"src/api/gated/route.py": gated.format(off=True)})

    async def scenario(http, app):
        off = (await http.get("/gated")).status_code
        await app.reload([write(root, "src/api/gated/route.py", gated.format(off=False))])
        return off, (await http.get("/gated")).json()

    assert serve(root, scenario) == (404, "on")


def test_a_flag_file_change_re_evaluates_other_files(make_project) -> None:
    flag = "from loader import FlagSettings\nf = FlagSettings(key='beta', default_val={on}, env_key='LOADER_FF_BETA_TEST')\n"
    root = make_project({
        "src/feature_flags/beta.py": flag.format(on=False),
        "src/api/beta/route.py": (
            "from loader import FeatureFlag, define_file_config\n"
            "define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled('beta'))\n\n"
            "async def GET(request):\n    return 'beta'\n"
        ),
    })

    async def scenario(http, app):
        off = (await http.get("/beta")).status_code
        report = await app.reload([write(root, "src/feature_flags/beta.py", flag.format(on=True))])
        return off, report, (await http.get("/beta")).status_code

    off, report, on = serve(root, scenario)
    assert (off, on) == (404, 200) and report.ok


def test_config_env_and_migration_changes_require_a_restart(make_project) -> None:
    root = make_project({
        "src/modules/blog/__init__.py": "from loader import Module\n\nclass B: ...\n\nmodule = Module('blog', service=B)\n",
        "src/modules/blog/migrations/Migration20250101000000.py": "from loader import Migration\n\nclass Migration20250101000000(Migration):\n    pass\n",
    })

    async def scenario(http, app):
        return [
            await app.reload([root / "loader_config.py"]),
            await app.reload([write(root, ".env", "X=1\n")]),
            await app.reload([root / "src/modules/blog/migrations/Migration20250101000000.py"]),
        ]

    config, env, migration = serve(root, scenario)
    assert config.restart_reason == "loader_config.py changed"
    assert env.restart_reason == ".env changed"
    assert "migrations may need running" in migration.restart_reason


def test_a_cycle_between_helpers_reloads_as_one_group(make_project) -> None:
    root = make_project({
        "src/lib/a.py": "import src.lib.b\nVALUE = 'a1'\n\ndef both():\n    return VALUE + src.lib.b.VALUE\n",
        "src/lib/b.py": "import src.lib.a\nVALUE = 'b1'\n",
        "src/api/x/route.py": "from src.lib.a import both\n\nasync def GET(request):\n    return both()\n",
    })

    async def scenario(http, app):
        report = await app.reload([write(root, "src/lib/b.py", "import src.lib.a\nVALUE = 'b2'\n")])
        return report, (await http.get("/x")).json()

    report, body = serve(root, scenario)
    assert report.ok and body == "a1b2"


def test_unload_takes_a_files_resources_out(make_project) -> None:
    root = make_project({"src/api/hello/route.py": HELLO.format("v1")})

    async def scenario(http, app):
        report = await app.unload(root / "src/api/hello/route.py")
        return report, (await http.get("/hello")).status_code

    report, status = serve(root, scenario)
    assert report.unloaded == {"route": ["GET /hello"]} and status == 404


def test_old_modules_become_collectable_after_a_swap(make_project) -> None:
    root = make_project({"src/api/hello/route.py": HELLO.format("v0")})

    async def scenario(http, app):
        first = weakref.ref(sys.modules["src.api.hello.route"])
        for i in range(1, 4):
            await app.reload([write(root, "src/api/hello/route.py", HELLO.format(f"v{i}"))])
        await http.get("/hello")
        gc.collect()
        return first() is None, (await http.get("/hello")).json()

    collected, body = serve(root, scenario)
    assert collected and body == {"message": "v3"}


def test_reloads_are_serialised(make_project) -> None:
    # The first reload imports a file that takes a while; one asked for meanwhile waits for it
    # (it would otherwise finish first: it has almost nothing to do) and both apply.
    slow = "import time\ntime.sleep(0.3)\n\n" + HELLO.format("slow2")
    root = make_project({"src/api/slow/route.py": HELLO.format("slow1"), "src/api/hello/route.py": HELLO.format("v1")})

    async def scenario(http, app):
        finished: list[str] = []

        async def reload(path: Path, name: str) -> bool:
            report = await app.reload([path])
            finished.append(name)
            return report.ok

        first = asyncio.create_task(reload(write(root, "src/api/slow/route.py", slow), "slow"))
        await asyncio.sleep(0.05)  # the slow reload is importing now
        second = asyncio.create_task(reload(write(root, "src/api/hello/route.py", HELLO.format("v2")), "hello"))
        oks = await asyncio.gather(first, second)
        return oks, finished, (await http.get("/slow")).json(), (await http.get("/hello")).json()

    oks, finished, slow_body, hello_body = serve(root, scenario)
    assert oks == [True, True] and finished == ["slow", "hello"]
    assert slow_body == {"message": "slow2"} and hello_body == {"message": "v2"}


@pytest.mark.parametrize("writes_bytecode", [True, False], ids=["bytecode-written", "bytecode-off"])
def test_a_save_that_keeps_size_and_mtime_is_never_served_from_stale_bytecode(make_project, monkeypatch, writes_bytecode: bool) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", not writes_bytecode)
    root = make_project({"src/api/hello/route.py": HELLO.format("v1")})
    path = root / "src/api/hello/route.py"
    py_compile.compile(str(path))  # a .pyc of v1, as a boot that writes bytecode leaves it
    before = path.stat()

    async def scenario(http, app):
        path.write_text(HELLO.format("v2"))  # the same size...
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ...and mtime: the .pyc looks current
        report = await app.reload([path])
        return report.ok, (await http.get("/hello")).json()

    ok, body = serve(root, scenario)
    assert ok and body == {"message": "v2"}


def test_a_plugin_kind_reloads_through_the_same_protocol(make_project) -> None:
    command = "from loader_plugin_commands import command\n\n@command(name='{name}')\ndef run():\n    return 1\n"
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['commands'])\n",
        "src/commands/seed.py": command.format(name="seed"),
    })

    async def scenario(http, app):
        report = await app.reload([write(root, "src/commands/seed.py", command.format(name="seed-all"))])
        return report, sorted(r.id for r in app.registry.list("command") if r.origin.kind == "project")

    report, ids = serve(root, scenario)
    assert report.reloaded == {"command": ["seed-all"]}  # same file and export: a new version of it
    assert ids == ["seed-all"]


def test_a_broken_flag_file_keeps_the_flags_as_they_were(make_project, monkeypatch) -> None:
    flag = "from loader import FlagSettings\nf = FlagSettings(key='beta', default_val=True, env_key='{env}')\n"
    root = make_project({"src/feature_flags/beta.py": flag.format(env="LOADER_FF_BETA_A")})

    async def scenario(http, app):
        monkeypatch.setenv("LOADER_FF_BETA_B", "maybe")
        report = await app.reload([write(root, "src/feature_flags/beta.py", flag.format(env="LOADER_FF_BETA_B"))])
        return report, app.project.flags.get("beta")

    report, value = serve(root, scenario)
    assert "LOADER_FF_BETA_B='maybe' is not a boolean" in report.errors[0].message
    assert report.errors[0].location == "src/feature_flags/beta.py:2"
    assert value is not None and value.value is True and value.env_key == "LOADER_FF_BETA_A"


def test_a_static_route_added_by_a_reload_still_beats_a_parameter(make_project) -> None:
    root = make_project({"src/api/things/[id]/route.py": "async def GET(request):\n    return 'param'\n"})

    async def scenario(http, app):
        before = (await http.get("/things/new")).json()
        await app.reload([write(root, "src/api/things/new/route.py", "async def GET(request):\n    return 'static'\n")])
        after_add = (await http.get("/things/new")).json(), (await http.get("/things/7")).json()
        await app.reload([write(root, "src/api/things/[id]/route.py", "async def GET(request):\n    return 'param2'\n")])
        return before, after_add, (await http.get("/things/new")).json(), (await http.get("/things/7")).json()

    assert serve(root, scenario) == ("param", ("static", "param"), "static", "param2")
