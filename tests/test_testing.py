"""loader.testing.run_project: a user's project booted for its own tests (the fixtures: test_testing_plugin.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from loader import ConfigError, FeatureFlag, FeatureFlagError, LoaderError, MigrationError
from loader.testing import BootError, RunningProject, run_project
from tests.db.conftest import pg_database  # noqa: F401 - a fixture: a fresh PostgreSQL database, or a skip

T = TypeVar("T")

SHOP = {
    "src/modules/shop/__init__.py": """
        from loader import Module

        class Shop:
            pass

        module = Module("shop", service=Shop)
    """,
    "src/modules/shop/migrations/Migration20250101000000.py": """
        from sqlalchemy import text
        from loader import Migration

        class Migration20250101000000(Migration):
            def up(self, db):
                db.execute(text("CREATE TABLE item (name TEXT NOT NULL)"))

            def down(self, db):
                db.execute(text("DROP TABLE item"))
    """,
    "src/migration_scripts/seed.py": """
        from sqlalchemy import text

        async def run(container):
            with container.resolve("database").begin() as conn:
                conn.execute(text("INSERT INTO item VALUES ('seeded')"))
    """,
    "src/api/items/route.py": """
        from sqlalchemy import text

        def _db(request):
            return request.app.state.container.resolve("database")

        async def GET(request):
            with _db(request).connect() as conn:
                return {"items": [row[0] for row in conn.execute(text("SELECT name FROM item ORDER BY name DESC"))]}

        async def POST(request):
            with _db(request).begin() as conn:
                conn.execute(text("INSERT INTO item VALUES ('posted')"))
            return {"ok": True}
    """,
}

HELLO = {"src/api/hello/route.py": "async def GET(request):\n    return {'message': 'hello'}\n"}

FLAGGED = {
    **HELLO,
    "src/feature_flags/beta.py": "from loader import FlagSettings\n\nbeta = FlagSettings(key='beta', default_val=False, env_key='LOADER_FF_BETA')\n",
    "src/api/beta/route.py": """
        from loader import FeatureFlag, define_file_config

        define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled("beta"))

        async def GET(request):
            return {"beta": True}
    """,
}


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def items(root: Path, **options: Any) -> tuple[RunningProject, list[str], list[str]]:
    """Run the shop project: its items, then its items after one POST."""

    async def scenario() -> tuple[RunningProject, list[str], list[str]]:
        async with run_project(root, **options) as project:
            first = (await project.client.get("/items")).json()["items"]
            await project.client.post("/items")
            second = (await project.client.get("/items")).json()["items"]
            return project, first, second

    return run(scenario)


def project_modules() -> list[str]:
    return [m for m in sys.modules if m == "src" or m.startswith("src.")]


# -- the database ----------------------------------------------------------------------------
def test_a_temporary_database_is_migrated_seeded_and_removed(make_project) -> None:
    root = make_project(SHOP)
    project, first, second = items(root)
    assert first == ["seeded"] and second == ["seeded", "posted"]  # migration, data script, then the route
    db = Path(project.database_url.removeprefix("sqlite:///"))
    assert project.database_url.startswith("sqlite:///") and not db.is_relative_to(root)
    assert not db.exists() and not db.parent.exists()  # removed, with its folder
    assert not (root / ".loader").exists()  # the project's own database was never touched
    _, again, _ = items(root)
    assert again == ["seeded"]  # each run starts from a fresh database


def test_the_projects_dotenv_database_is_not_used(make_project) -> None:
    root = make_project({**SHOP, ".env": "LOADER_DATABASE_URL=sqlite:///.loader/dotenv.db\n"})
    project, first, _ = items(root)
    assert first == ["seeded"] and "dotenv" not in project.database_url and not (root / ".loader").exists()


def test_a_failing_test_body_still_cleans_up(make_project) -> None:
    root = make_project(SHOP)
    environ = dict(os.environ)
    seen: list[RunningProject] = []

    async def scenario() -> None:
        async with run_project(root, env={"GIVEN": "1"}) as project:
            seen.append(project)
            raise KeyError("the test failed")

    with pytest.raises(KeyError, match="the test failed"):
        run(scenario)
    [project] = seen
    assert not project.app.started and project.client.is_closed
    assert not Path(project.database_url.removeprefix("sqlite:///")).parent.exists()
    assert dict(os.environ) == environ and project_modules() == []


def test_a_module_that_fails_to_start_is_reported_and_cleaned_up(make_project) -> None:
    root = make_project({
        **HELLO,
        "src/modules/shop/__init__.py": """
            from loader import Module

            class Shop:
                async def on_start(self):
                    raise RuntimeError("no stock")

            module = Module("shop", service=Shop)
        """,
    })

    async def scenario() -> None:
        async with run_project(root):
            pass  # pragma: no cover - refused before

    with pytest.raises(LoaderError, match=r"^src/modules/shop/__init__.py:\d+: .*no stock"):
        run(scenario)
    assert project_modules() == [] and "LOADER_DATABASE_URL" not in os.environ


def test_a_given_database_is_migrated_once_and_kept(make_project, tmp_path) -> None:
    root = make_project(SHOP)
    url = f"sqlite:///{tmp_path / 'given.db'}"
    project, first, _ = items(root, database=url)
    assert project.database_url == url and first == ["seeded"]
    _, again, _ = items(root, database=url)
    assert again == ["seeded", "posted"]  # kept; the data script did not run twice
    assert (tmp_path / "given.db").is_file() and not (root / ".loader").exists()


def test_a_given_postgresql_database(make_project, pg_database) -> None:
    root = make_project(SHOP)
    project, first, second = items(root, database=pg_database.replace("+psycopg", ""))
    assert project.database_url.startswith("postgresql+psycopg://") and (first, second) == (["seeded"], ["seeded", "posted"])


def test_database_none_is_the_projects_own_and_not_migrated(make_project) -> None:
    root = make_project(SHOP)

    async def scenario() -> tuple[str, int]:
        async with run_project(root, database=None) as project:
            return project.database_url, (await project.client.get("/items")).status_code

    url, status = run(scenario)
    assert url == f"sqlite:///{root / '.loader' / 'loader.db'}"
    assert status == 500  # no table: nothing was migrated
    project, first, _ = items(root, database=None, migrate=True)
    assert first == ["seeded"] and (root / ".loader" / "loader.db").is_file()  # migrate=True: and kept


# -- the environment, sys.path, sys.modules, flags -------------------------------------------
ENV_ROUTE = {
    ".env": "FROM_DOTENV=dotenv\nGIVEN=dotenv\n",
    "src/api/env/route.py": """
        import os

        async def GET(request):
            return {k: os.environ.get(k) for k in ("FROM_DOTENV", "GIVEN", "UNSET_ME", "LOADER_DATABASE_URL")}
    """,
}


def test_env_applies_inside_and_everything_is_restored_after(make_project, monkeypatch) -> None:
    root = make_project({**HELLO, **ENV_ROUTE, **FLAGGED})
    monkeypatch.setenv("UNSET_ME", "shell")
    monkeypatch.setenv("LOADER_DATABASE_URL", "sqlite:////nonexistent/shell.db")
    environ, path, modules = dict(os.environ), list(sys.path), set(sys.modules)
    FeatureFlag.clear()

    async def scenario() -> tuple[RunningProject, dict[str, Any]]:
        async with run_project(root, env={"GIVEN": "given", "UNSET_ME": None}) as project:
            assert project_modules() and str(root) in sys.path and FeatureFlag.get("beta") is not None
            return project, (await project.client.get("/env")).json()

    project, seen = run(scenario)
    # env beats .env; None unsets; the temporary database beats the shell's LOADER_DATABASE_URL
    assert seen == {"FROM_DOTENV": "dotenv", "GIVEN": "given", "UNSET_ME": None, "LOADER_DATABASE_URL": project.database_url}
    assert dict(os.environ) == environ
    assert sys.path == path
    assert project_modules() == [] and not [m for m in set(sys.modules) - modules if _from(sys.modules[m], root)]
    assert FeatureFlag.list() == []


def _from(module: Any, root: Path) -> bool:
    return any(str(p).startswith(str(root)) for p in [getattr(module, "__file__", None) or "", *getattr(module, "__path__", [])])


def test_feature_flags_turn_a_flag_on_for_the_block(make_project) -> None:
    root = make_project(FLAGGED)

    async def scenario(**options: Any) -> int:
        async with run_project(root, **options) as project:
            return (await project.client.get("/beta")).status_code

    assert run(lambda: scenario()) == 404
    assert run(lambda: scenario(feature_flags={"beta": True})) == 200
    assert run(lambda: scenario(env={"LOADER_FF_BETA": "true"})) == 200
    assert FeatureFlag.get("beta") is None


def test_a_flag_whose_variable_disagrees_is_an_error(make_project, monkeypatch) -> None:
    root = make_project(FLAGGED)
    monkeypatch.setenv("LOADER_FF_BETA", "false")
    environ = dict(os.environ)

    async def scenario() -> None:
        async with run_project(root, feature_flags={"beta": True}):
            pass  # pragma: no cover - refused before

    with pytest.raises(FeatureFlagError, match=r"LOADER_FF_BETA='false' wins over it; pass env=\{'LOADER_FF_BETA': \.\.\.\}"):
        run(scenario)
    assert dict(os.environ) == environ and project_modules() == []


# -- errors ----------------------------------------------------------------------------------
BROKEN = {**HELLO, "src/api/broken/route.py": "async def GET(request):\n    return {}\n\nraise RuntimeError('boom')\n"}


def test_boot_errors_fail_loudly_with_path_and_line(make_project) -> None:
    root = make_project(BROKEN)

    async def scenario() -> None:
        async with run_project(root):
            pass  # pragma: no cover - refused before

    with pytest.raises(BootError) as raised:
        run(scenario)
    assert "1 problem(s) in" in str(raised.value) and "src/api/broken/route.py:4: " in str(raised.value)
    assert "boom" in str(raised.value) and len(raised.value.errors) == 1
    assert project_modules() == [] and "LOADER_DATABASE_URL" not in os.environ


def test_allow_errors_serves_what_loaded(make_project) -> None:
    root = make_project(BROKEN)

    async def scenario() -> tuple[int, int, int]:
        async with run_project(root, allow_errors=True) as project:
            hello = await project.client.get("/hello")
            broken = await project.client.get("/broken")
            return len(project.app.errors), hello.status_code, broken.status_code

    assert run(scenario) == (1, 200, 404)


def test_an_invalid_config_is_a_config_error(make_project) -> None:
    root = make_project({**HELLO, "loader_config.py": "from loader import define_config\n\nconfig = define_config(nope=1)\n"})

    async def scenario() -> None:
        async with run_project(root):
            pass  # pragma: no cover - refused before

    with pytest.raises(ConfigError, match=r"^loader_config.py:3: unknown key 'nope'"):
        run(scenario)
    assert str(root) not in sys.path and "LOADER_DATABASE_URL" not in os.environ


def test_a_failing_migration_stops_the_run(make_project) -> None:
    bad = SHOP["src/modules/shop/migrations/Migration20250101000000.py"].replace("CREATE TABLE item (name TEXT NOT NULL)", "CREATE TABLE")
    root = make_project({**SHOP, "src/modules/shop/migrations/Migration20250101000000.py": bad})

    async def scenario() -> None:
        async with run_project(root):
            pass  # pragma: no cover - refused before

    with pytest.raises(MigrationError, match=r"Migration20250101000000.py:\d+"):
        run(scenario)
    assert project_modules() == []


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"database": "temp"}, ValueError, "neither 'temporary', None nor a database URL"),
        ({"database": 3}, TypeError, "database must be"),
        ({"env": {"X": 1}}, TypeError, r"env\['X'\] must be a string or None"),
        ({"env": {"A=B": "1"}}, ValueError, "not an environment variable name"),
        ({"env": ["X"]}, TypeError, "env must be a mapping"),
        ({"env": {"X": "a\0b"}}, ValueError, r"env\['X'\] contains a NUL character"),
        ({"env": {"LOADER_DATABASE_URL": "sqlite://"}}, ValueError, r"give the database as database=\.\.\., not as env"),
        ({"feature_flags": {"beta": "yes"}}, TypeError, r"feature_flags\['beta'\] must be True, False"),
        ({"worker_mode": "both"}, ValueError, "worker_mode='both'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(make_project, options, error, message) -> None:
    root = make_project(HELLO)

    async def scenario() -> None:
        async with run_project(root, **options):
            pass  # pragma: no cover - refused before

    with pytest.raises(error, match=message):
        run(scenario)
    assert "LOADER_DATABASE_URL" not in os.environ


def test_a_missing_folder_is_refused(tmp_path) -> None:
    async def scenario() -> None:
        async with run_project(tmp_path / "missing"):
            pass  # pragma: no cover - refused before

    with pytest.raises(ValueError, match="is not a folder"):
        run(scenario)
    (tmp_path / "empty").mkdir()

    async def not_a_project() -> None:
        async with run_project(tmp_path / "empty"):
            pass  # pragma: no cover - refused before

    with pytest.raises(ConfigError, match="is not a loader project"):
        run(not_a_project)


def test_blocks_do_not_nest(make_project) -> None:
    outer, inner = make_project(HELLO, name="outer"), make_project(HELLO, name="inner")

    async def scenario() -> int:
        async with run_project(outer) as project:
            with pytest.raises(LoaderError, match=r"one project at a time per process"):
                async with run_project(inner):
                    pass  # pragma: no cover - refused before
            return (await project.client.get("/hello")).status_code  # the outer one is unharmed

    assert run(scenario) == 200
    assert run(scenario) == 200  # and the refusal left nothing behind


# -- the running project ---------------------------------------------------------------------
def test_the_client_reaches_routes_and_the_app_reloads(make_project) -> None:
    root = make_project({
        **HELLO,
        "src/subscribers/seen.py": """
            from loader import subscriber

            SEEN = []

            @subscriber("thing.happened")
            async def remember(event, container):
                SEEN.append(event.data)
        """,
    })

    async def scenario() -> tuple[Any, ...]:
        async with run_project(root) as project:
            before = (await project.client.get("/hello")).json()
            (root / "src/api/hello/route.py").write_text("async def GET(request):\n    return {'message': 'changed'}\n")
            report = await project.reload([root / "src/api/hello/route.py"])
            after = (await project.client.get("/hello")).json()
            await project.event_bus.emit("thing.happened", {"n": 1})
            await project.event_bus.drain()
            seen = list(sys.modules["src.subscribers.seen"].SEEN)
            return before, report.errors, after, seen, project.container.resolve("event_bus") is project.event_bus, repr(project)

    before, errors, after, seen, same_bus, shown = run(scenario)
    assert before == {"message": "hello"} and errors == [] and after == {"message": "changed"}
    assert seen == [{"n": 1}] and same_bus and shown.startswith("<RunningProject ")


def test_import_loader_does_not_import_testing() -> None:
    code = "import sys, loader; assert 'loader.testing' not in sys.modules and 'httpx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
