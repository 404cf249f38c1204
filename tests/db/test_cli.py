"""``loader db migrate | rollback | status``: output lines, JSON, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

import loader.db.cli
from loader.cli import cli
from tests.db.conftest import MODULE, create, migration, path_of


def invoke(*args: str):
    return CliRunner().invoke(cli, ["db", *args])


def test_migrate_status_rollback_lines_and_exit_codes(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a"), **create("20250102000000", "b")})
    result = invoke("status", str(root))
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "module shop",
        f"  pending   Migration20250101000000  {path_of('20250101000000')}:6",
        f"  pending   Migration20250102000000  {path_of('20250102000000')}:6",
    ]
    result = invoke("migrate", str(root))
    assert result.exit_code == 0 and result.output.count("applied  shop:") == 2
    data = json.loads(invoke("status", str(root), "--json").output)
    assert [e["state"] for e in data["modules"]["shop"]] == ["applied", "applied"] and data["pending"] == []
    result = invoke("rollback", str(root), "--module", "shop", "--steps", "2")
    assert result.exit_code == 0 and result.output.count("rolled back  shop:") == 2
    result = invoke("rollback", str(root), "--module", "shop", "--steps", "1", "--to", "x")
    assert result.exit_code == 1 and "error: give --to or --steps, not both" in result.stderr


def test_data_scripts_get_the_container_built_for_the_project(make_project) -> None:
    # The real builder: a booted project's container, with its modules and the built-ins in it.
    script = (
        "from pathlib import Path\n\n\nasync def run(container):\n"
        "    bus = container.resolve('event_bus')\n"
        "    Path(__file__).with_name('seen.txt').write_text(type(bus).__name__)\n"
    )
    root = make_project({"src/migration_scripts/seed.py": script})
    result = invoke("migrate", str(root))
    assert result.exit_code == 0 and "ran      project:seed (src/migration_scripts/seed.py:4)" in result.output, result.output
    assert (root / "src" / "migration_scripts" / "seen.txt").read_text() == "EventBusService"


def test_failing_migration_is_one_error_line_and_exit_1(make_project) -> None:
    files = {**MODULE, **create("20250101000000", "a"), path_of("20250102000000"): migration("20250102000000", "1 / 0")}
    root = make_project(files)
    result = subprocess.run([sys.executable, "-m", "loader", "db", "migrate", str(root)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout.startswith("applied  shop:Migration20250101000000 ")
    assert result.stderr.strip() == (
        f"error: {path_of('20250102000000')}:8: migration shop:Migration20250102000000 failed in up() and was rolled back, "
        "nothing recorded: ZeroDivisionError: division by zero"
    )


def test_broken_migration_file_stops_migrate_before_the_database(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a"), path_of("20250102000000"): "from loader import Migration\nclass Nope:\n    pass\n"})
    result = invoke("migrate", str(root))
    assert result.exit_code == 1
    assert f"error: {path_of('20250102000000')}:1: a migration file must define exactly one Migration subclass; found none" in result.stderr
    assert not (root / ".loader" / "loader.db").exists()


def test_a_malformed_database_url_is_one_line_that_shows_no_password(make_project) -> None:
    root = make_project({**MODULE, **create("20250101000000", "a")})
    cases = {
        "notaurl": "error: LOADER_DATABASE_URL is not a database URL; expected postgresql://user:password@host:5432/name or sqlite:///path/to/file.db",
        "postgresql://shop:p@ss@127.0.0.1:1/x": "error: LOADER_DATABASE_URL: the password holds '@'; write it percent-encoded, as %40",
    }
    import os

    for url, line in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "loader", "db", "status", str(root)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "LOADER_DATABASE_URL": url},
        )
        assert done.returncode == 1, url
        assert done.stderr.strip() == line
        assert "ss@" not in done.stderr + done.stdout and "Traceback" not in done.stderr
