"""Plugins through real installed distributions (plugins/ is pip-installed for the tests) and
through distributions written to a temp site folder (a real ``.dist-info``, found by
importlib.metadata exactly as pip's would be)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from loader import PluginLoadError, load_project
from loader.discovery.plugins import installed_plugins

GREETINGS_CONFIG = "from loader import define_config\nconfig = define_config(plugins=['greetings'])\n"


def write_distribution(site: Path, dist: str, version: str, package: str, requires: str, init: str = "") -> None:
    """A minimal installed distribution: a package plus its .dist-info with an entry point."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(textwrap.dedent(init))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    metadata = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    if requires:
        metadata += f"Requires-Dist: {requires}\n"
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(f"[loader.plugins]\n{package} = {package}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_installed_plugins_are_listed_with_versions_without_importing_them() -> None:
    found = {p.name: p for p in installed_plugins()}
    assert {"greetings", "commands", "broken"} <= set(found)
    greetings = found["greetings"]
    assert greetings.distribution == "loader-plugin-greetings"
    assert greetings.compatible is True and greetings.requirement.startswith("loader")
    assert "loader_plugin_broken" not in sys.modules


def test_enabled_plugin_contributes_every_kind(make_project) -> None:
    project = load_project(make_project({"loader_config.py": GREETINGS_CONFIG}))
    assert project.errors == []
    origins = {(r.kind, str(r.origin)) for r in project.registry.list()}
    assert {("route", "plugin:greetings"), ("subscriber", "plugin:greetings"), ("job", "plugin:greetings"),
            ("flag", "plugin:greetings"), ("module", "module:greeter")} <= origins
    [plugin] = [p for p in project.plugins if p.name == "greetings"]
    assert plugin.enabled


def test_only_listed_plugins_load(make_project) -> None:
    project = load_project(make_project({}))
    assert not any(r.origin.kind == "plugin" for r in project.registry.list())
    assert not any(p.enabled for p in project.plugins)


def test_safe_mode_loads_no_plugin(make_project, monkeypatch) -> None:
    monkeypatch.setenv("LOADER_SAFE_MODE", "1")
    project = load_project(make_project({"loader_config.py": GREETINGS_CONFIG}))
    assert not any(r.origin.kind == "plugin" for r in project.registry.list())
    assert project.errors == []


def test_project_route_overrides_a_plugin_route(make_project, caplog) -> None:
    root = make_project({
        "loader_config.py": GREETINGS_CONFIG,
        "src/api/greetings/route.py": "async def GET(request):\n    return {'greeting': 'mine'}\n",
    })
    with caplog.at_level("INFO", logger="loader.registry"):
        project = load_project(root)
    served = [r for r in project.registry.snapshot().of("route") if r.id == "GET /greetings"]
    assert [str(r.origin) for r in served] == ["project"]
    assert "overrides" in caplog.text
    [loser] = [r for r in project.registry.list("route") if r.id == "GET /greetings" and r.origin.kind == "plugin"]
    assert project.registry.state(loser) == (False, "overridden by src/api/greetings/route.py:1 (project)")


def test_plugin_that_raises_on_import(make_project) -> None:
    project = load_project(make_project({"loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['broken'])\n"}))
    [error] = project.errors
    assert isinstance(error, PluginLoadError)
    assert "plugin 'broken' (loader-plugin-broken" in error.message and "entry point 'broken = loader_plugin_broken'" in error.message
    assert error.path == "loader_plugin_broken/__init__.py" and error.line


def test_plugin_listed_but_not_installed(make_project) -> None:
    root = make_project({"loader_config.py": "from loader import define_config\n\nconfig = define_config(\n    plugins=['greetngs'],\n)\n"})
    [error] = load_project(root).errors
    assert error.location == "loader_config.py:4"
    assert "plugin 'greetngs' is listed in loader_config.py but not installed" in error.message


def test_incompatible_plugin_is_refused_naming_both_versions(make_project, site) -> None:
    write_distribution(site, "loader-plugin-future", "2.0.0", "future_plugin", "loader>=99", init="IMPORTED = True\n")
    root = make_project({"loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['future_plugin'])\n"})
    [error] = load_project(root).errors
    assert "supports loader>=99, but loader 0.1.0 is installed" in error.message
    assert "loader-plugin-future 2.0.0" in error.message
    assert "future_plugin" not in sys.modules  # refused before its code ran


def test_plugin_adds_a_resource_kind_with_its_own_folder(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['commands'])\n",
        "src/commands/greet.py": """
            from loader_plugin_commands import command

            @command(name="greet")
            def greet():
                return "hi"
        """,
    })
    project = load_project(root)
    assert project.errors == []
    commands = {r.id: str(r.location) for r in project.registry.list("command")}
    assert commands["greet"] == "src/commands/greet.py:3"


def test_plugin_hooks_observe_loading(make_project, site) -> None:
    write_distribution(site, "loader-plugin-spy", "1.0", "spy_plugin", "loader>=0.1", init="""
        from loader import hookimpl
        SEEN = []

        @hookimpl
        def loader_resource_loaded(resource):
            SEEN.append(resource.id)
    """)
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['spy_plugin'])\n",
        "src/api/a/route.py": "async def GET(request):\n    return {}\n",
    })
    load_project(root)
    assert "GET /a" in sys.modules["spy_plugin"].SEEN


def test_plugin_refusing_its_options_points_at_the_config(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\n\nconfig = define_config(\n    plugins=[{'resolve': 'greetings', 'options': {'greeting': 3}}],\n)\n",
    })
    [error] = load_project(root).errors
    assert error.location == "loader_config.py:4"
    assert "plugin 'greetings': option 'greeting' is 3; expected a str" in error.message


def test_local_folder_plugin_is_scanned_and_its_hooks_run(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['./local_plugins/audit'])\n",
        "local_plugins/audit/__init__.py": """
            from loader import hookimpl
            LOADED = []

            @hookimpl
            def loader_project_loaded(registry):
                LOADED.append(len(registry))
        """,
        "local_plugins/audit/jobs/audit.py": """
            from loader import job

            @job(name="audit", schedule=60)
            async def audit(container):
                pass
        """,
    })
    project = load_project(root)
    assert project.errors == []
    [audit] = project.registry.list("job")
    assert str(audit.origin) == "plugin:audit" and str(audit.location) == "audit/jobs/audit.py:3"
    assert sys.modules["audit"].LOADED == [len(project.registry)]


def test_a_plugin_hook_that_raises_is_reported_not_fatal(make_project, site) -> None:
    write_distribution(site, "loader-plugin-bad-hook", "1.0", "bad_hook_plugin", "loader>=0.1", init="""
        from loader import hookimpl

        @hookimpl
        def loader_project_loaded(registry):
            raise RuntimeError("observer bug")
    """)
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['bad_hook_plugin'])\n",
        "src/api/a/route.py": "async def GET(request):\n    return {}\n",
    })
    project = load_project(root)
    [error] = project.errors
    assert "loader_project_loaded hook raised RuntimeError: observer bug" in error.message
    assert error.location == "bad_hook_plugin/__init__.py:6"
    assert [r.id for r in project.registry.list("route")] == ["GET /a"]


def _shadowing_project(make_project, marker: Path) -> Path:
    """A path plugin whose folder holds a croniter.py that would shadow the real one, a listed
    plugin that is not installed, and a project cron job (which imports croniter)."""
    return make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['./local_plugins/audit', 'not-installed'])\n",
        "local_plugins/croniter.py": f"open({str(marker)!r}, 'w').write('shadowed')\nraise ImportError('the fake croniter')\n",
        "local_plugins/audit/__init__.py": f"open({str(marker)!r}, 'w').write('plugin imported')\n",
        "src/jobs/nightly.py": "from loader import job\n\n@job(name='nightly', schedule='0 3 * * *')\nasync def nightly(container):\n    pass\n",
        "src/api/ok/route.py": "async def GET(request):\n    return {}\n",
    })


def test_safe_mode_imports_no_plugin_code_and_records_no_plugin_error(make_project, tmp_path: Path) -> None:
    import json
    import os
    import subprocess

    marker = tmp_path / "marker.txt"
    root = _shadowing_project(make_project, marker)
    command = [sys.executable, "-m", "loader", "inspect", str(root)]
    env = {**os.environ, "LOADER_SAFE_MODE": "1"}

    result = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["safe_mode"] is True and data["errors"] == []
    assert {r["id"] for r in data["resources"] if r["kind"] in ("job", "route")} == {"nightly", "GET /ok"}
    assert not marker.exists()

    table = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "safe mode (LOADER_SAFE_MODE): no plugin loaded (2 listed in loader_config.py not loaded)" in table.stdout

    # Without safe mode the same project loads the plugin, its folder's croniter.py shadows the
    # real one (the cron job fails), and the missing plugin is an error.
    normal = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=60)
    assert normal.returncode == 1
    assert sorted(e["path"] for e in json.loads(normal.stdout)["errors"]) == ["loader_config.py", "src/jobs/nightly.py"]
    assert marker.read_text() == "shadowed"


def test_safe_mode_in_process_leaves_sys_path_alone(make_project, tmp_path: Path) -> None:
    root = _shadowing_project(make_project, tmp_path / "marker.txt")
    project = load_project(root, safe_mode=True)
    assert project.safe_mode and project.errors == []
    assert str(root / "local_plugins") not in sys.path
    assert "audit" not in sys.modules
