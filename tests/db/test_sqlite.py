"""SQLite-only behaviour: status states, data scripts, the startup check, where the database is."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from loader import load_project
from loader.db import MigrationError, check_migrations, database_url, migrate, pending_migrations, status
from tests.db.conftest import MODULE, create, path_of

SCRIPT = """
async def run(container):
    container.calls.append("seed")
"""


class FakeContainer:
    """Stands in for the runtime's container: the scripts only need what they use."""

    def __init__(self) -> None:
        self.calls: list[str] = []


def test_default_database_is_a_sqlite_file_in_dot_loader(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a")})
    assert str(database_url(load_project(root))) == f"sqlite:///{root}/.loader/loader.db"
    migrate(load_project(root), echo=lambda _: None)
    assert (root / ".loader" / "loader.db").is_file()


def test_env_url_wins_over_config_and_relative_sqlite_paths_are_read_from_the_project(make_project) -> None:
    config = "from loader import define_config\nconfig = define_config(project={'database_url': 'sqlite:///data/app.db'})\n"
    root = make_project({"loader_config.py": config, **MODULE})
    assert str(database_url(load_project(root))) == f"sqlite:///{root}/data/app.db"
    os.environ["LOADER_DATABASE_URL"] = "postgresql://u:secret@db.example/app"
    assert database_url(load_project(root)).render_as_string(hide_password=False) == "postgresql+psycopg://u:secret@db.example/app"


def test_modules_follow_the_root_load_order_and_providers_come_after_their_modules(make_project) -> None:
    files = {
        **MODULE,
        **create("20250105000000", "shop_t"),
        "src/modules/alpha/__init__.py": "from loader import Module\n\nclass A: ...\n\nmodule = Module('alpha', service=A)\n",
        "src/modules/alpha/migrations/Migration20250109000000.py": create("20250109000000", "alpha_t")[path_of("20250109000000")],
    }
    project = load_project(make_project(files))
    assert [e.id for e in status(project)] == ["alpha:Migration20250109000000", "shop:Migration20250105000000"]


def test_status_reports_changed_and_missing_files(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a"), **create("20250102000000", "b")})
    migrate(load_project(root), echo=lambda _: None)
    first = root / path_of("20250101000000")
    first.write_text(first.read_text() + "# edited\n")
    (root / path_of("20250102000000")).unlink()
    entries = {e.id: e for e in status(load_project(root))}
    assert entries["shop:Migration20250101000000"].state == "changed"
    assert entries["shop:Migration20250101000000"].reason == "its file changed after it was applied"
    assert (entries["shop:Migration20250102000000"].state, entries["shop:Migration20250102000000"].location) == ("missing", None)
    lines: list[str] = []
    migrate(load_project(root), echo=lines.append)
    assert lines[0].startswith("warning: shop:Migration20250101000000 was applied but its file changed since (")
    with pytest.raises(MigrationError, match="it was applied but its file is gone"):
        from loader.db import rollback

        rollback(load_project(root), "shop", echo=lines.append)


def test_data_scripts_run_once_after_the_migrations(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a"), "src/migration_scripts/seed.py": SCRIPT,
                         "src/modules/shop/migration_scripts/fill.py": SCRIPT})
    container = FakeContainer()
    lines: list[str] = []
    result = migrate(load_project(root), container=lambda: container, echo=lines.append)
    assert result.scripts == ["project:seed", "module:shop:fill"] and container.calls == ["seed", "seed"]
    assert lines[0].startswith("applied  shop:") and lines[1].startswith("ran      project:seed (src/migration_scripts/seed.py:1)")
    assert migrate(load_project(root), container=lambda: container, echo=lines.append).scripts == []
    assert container.calls == ["seed", "seed"]
    assert [e.state for e in status(load_project(root)) if e.kind == "script"] == ["applied", "applied"]


def test_failing_data_script_is_not_recorded_and_names_its_line(make_project) -> None:
    root = make_project({"src/migration_scripts/seed.py": "async def run(container):\n    raise ValueError('no blog')\n"})
    with pytest.raises(MigrationError) as caught:
        migrate(load_project(root), container=FakeContainer, echo=lambda _: None)
    assert caught.value.location == "src/migration_scripts/seed.py:2"
    assert "data script project:seed failed in run() and was rolled back, nothing recorded: ValueError: no blog" in caught.value.message
    assert pending_migrations(load_project(root)) == ["project:seed"]


def test_data_script_in_two_concurrent_runs_runs_once(make_project) -> None:
    slow = "import asyncio\n\nasync def run(container):\n    container.calls.append('x')\n    await asyncio.sleep(0.3)\n"
    root = make_project({"src/migration_scripts/slow.py": slow})
    project, container = load_project(root), FakeContainer()
    threads = [threading.Thread(target=migrate, args=(project,), kwargs={"container": lambda: container, "echo": lambda _: None}) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert container.calls == ["x"]


def test_script_file_must_define_async_run(make_project) -> None:
    project = load_project(make_project({"src/migration_scripts/bad.py": "def run(container):\n    pass\n"}))
    [error] = project.errors
    assert error.location == "src/migration_scripts/bad.py:1" and "run must be an async function" in error.message
    with pytest.raises(Exception, match="run must be an async function"):
        migrate(project, echo=lambda _: None)


def test_startup_check_never_creates_the_database(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a"), "src/migration_scripts/seed.py": SCRIPT})
    project = load_project(root)
    assert pending_migrations(project) == ["shop:Migration20250101000000", "project:seed"]
    assert not (root / ".loader").exists()
    with pytest.raises(MigrationError, match=r"2 migration\(s\) or data script\(s\) pending .*: shop:Migration20250101000000, project:seed; run `loader db migrate "):
        check_migrations(project)
    migrate(project, container=FakeContainer, echo=lambda _: None)
    assert pending_migrations(load_project(root)) == []
    check_migrations(load_project(root))


def test_unreachable_database_is_one_clear_error(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a")})
    os.environ["LOADER_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/nothing"
    with pytest.raises(MigrationError, match=r"^database postgresql\+psycopg://nobody@127.0.0.1:1/nothing: OperationalError: "):
        pending_migrations(load_project(root))


def test_lock_timeout_is_reported(make_project, tmp_path: Path) -> None:
    import sqlite3

    root = make_project({**MODULE, **create("20250101000000", "a")})
    (root / ".loader").mkdir()
    holder = sqlite3.connect(root / ".loader" / "loader.db.lock", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    os.environ["LOADER_MIGRATION_LOCK_TIMEOUT"] = "0.2"
    lines: list[str] = []
    try:
        with pytest.raises(MigrationError, match=r"another `loader db migrate` or `rollback` is still running on .* after 0.2 s"):
            migrate(load_project(root), echo=lines.append)
    finally:
        holder.close()
    assert lines[0].startswith("waiting for another `loader db migrate` or `rollback` on sqlite:///")
