"""Apply, roll back, fail, gate by flag, and race: on SQLite and on PostgreSQL (``backend``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from loader import load_project
from loader.db import MigrationError, migrate, rollback, status
from tests.db.conftest import MODULE, create, engine_of, migration, path_of, recorded, tables


def run(root, **kwargs):
    lines: list[str] = []
    result = migrate(load_project(root), echo=lines.append, **kwargs)
    return result, lines


def test_applies_pending_migrations_in_timestamp_order_once(backend, make_project) -> None:
    # The file names sort the other way round: the timestamp in the class name decides.
    files = {**MODULE, **create("20250102000000", "second_t", 'db.execute(text("INSERT INTO first_t (id) VALUES (1)"))')}
    files["src/modules/shop/migrations/a_first.py"] = create("20250101000000", "first_t")[path_of("20250101000000")]
    root = make_project(files)
    result, lines = run(root)
    assert result.migrations == ["shop:Migration20250101000000", "shop:Migration20250102000000"]
    assert lines[0].startswith("applied  shop:Migration20250101000000 (src/modules/shop/migrations/a_first.py:")
    assert tables(root) == {"first_t", "second_t"}
    again, lines = run(root)
    assert again.migrations == [] and lines[-1].startswith("nothing to migrate in ")
    assert [e.state for e in status(load_project(root))] == ["applied", "applied"]


def test_rollback_steps_and_to(backend, make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a"), **create("20250102000000", "b"), **create("20250103000000", "c")})
    run(root)
    lines: list[str] = []
    assert rollback(load_project(root), "shop", echo=lines.append) == ["shop:Migration20250103000000"]
    assert lines == [f"rolled back  shop:Migration20250103000000 ({path_of('20250103000000')}:6)"]
    assert tables(root) == {"a", "b"}
    assert rollback(load_project(root), "shop", to="Migration20250101000000", echo=lines.append) == ["shop:Migration20250102000000"]
    assert tables(root) == {"a"} and recorded(root) == ["Migration20250101000000"]
    assert rollback(load_project(root), "shop", steps=5, echo=lines.append) == ["shop:Migration20250101000000"]
    assert tables(root) == set() and recorded(root) == []
    assert rollback(load_project(root), "shop", echo=lines.append) == [] and lines[-1] == "nothing to roll back in module shop"
    result, _ = run(root)  # everything applies again after a full rollback
    assert len(result.migrations) == 3


def test_failing_migration_is_rolled_back_and_stops_the_run(backend, make_project) -> None:
    boom = 'db.execute(text("CREATE TABLE b (id INTEGER)"))\nraise RuntimeError("boom")'
    files = {
        **MODULE,
        **create("20250101000000", "a"),
        path_of("20250102000000"): migration("20250102000000", boom),
        **create("20250103000000", "c"),
    }
    root = make_project(files)
    with pytest.raises(MigrationError) as caught:
        run(root)
    error = caught.value
    # line 9 is the raise inside up(): the statement that failed, not the class line
    assert error.location == f"{path_of('20250102000000')}:9"
    assert "shop:Migration20250102000000 failed in up() and was rolled back, nothing recorded: RuntimeError: boom" in error.message
    assert tables(root) == {"a"}  # b's CREATE TABLE was rolled back with it; c never ran
    assert recorded(root) == ["Migration20250101000000"]
    assert [e.state for e in status(load_project(root))] == ["applied", "pending", "pending"]


def test_flag_gated_migration_applies_once_the_flag_is_on(backend, make_project) -> None:
    gate = 'define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled("shop_extra"))'
    files = {
        **MODULE,
        "src/modules/shop/feature_flags/extra.py": (
            "from loader import FlagSettings\n\nextra = FlagSettings(key='shop_extra', default_val=False, env_key='LOADER_FF_SHOP_EXTRA')\n"
        ),
        **create("20250101000000", "a"),
        **create("20250102000000", "extra", header=gate),
    }
    root = make_project(files)
    result, lines = run(root)
    assert result.migrations == ["shop:Migration20250101000000"]
    assert "skipped  shop:Migration20250102000000: disabled: is_disabled() returned True (flags read: shop_extra=off)" in lines
    gated = status(load_project(root))[1]
    assert (gated.state, gated.reason) == ("disabled", "is_disabled() returned True (flags read: shop_extra=off)")
    os.environ["LOADER_FF_SHOP_EXTRA"] = "true"
    result, _ = run(root)
    assert result.migrations == ["shop:Migration20250102000000"] and tables(root) == {"a", "extra"}


def test_two_concurrent_migrate_processes_never_apply_twice(backend, make_project) -> None:
    # Each migration takes a while and counts its runs in a table; a second apply would
    # either fail on CREATE TABLE or add a second row.
    files = {
        **MODULE,
        path_of("20250101000000"): migration(
            "20250101000000", 'db.execute(text("CREATE TABLE hits (name TEXT)"))\ndb.execute(text("INSERT INTO hits VALUES (\'one\')"))\ntime.sleep(0.6)'
        ),
        path_of("20250102000000"): migration(
            "20250102000000", 'db.execute(text("INSERT INTO hits VALUES (\'two\')"))\ntime.sleep(0.3)'
        ),
    }
    root = make_project(files)
    command = [sys.executable, "-m", "loader", "db", "migrate", str(root)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("applied  shop:Migration20250101000000") == 1
    assert stdout.count("applied  shop:Migration20250102000000") == 1
    assert "waiting for another `loader db migrate`" in stdout or "nothing to migrate" in stdout
    engine = engine_of(root)
    try:
        with engine.connect() as conn:
            assert sorted(r[0] for r in conn.execute(text("SELECT name FROM hits"))) == ["one", "two"]
    finally:
        engine.dispose()
    assert recorded(root) == ["Migration20250101000000", "Migration20250102000000"]
