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
