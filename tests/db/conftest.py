"""Database fixtures: SQLite always; PostgreSQL in a fresh database created for the session.

The ``backend`` fixture runs a test once per database. For PostgreSQL it points
``LOADER_DATABASE_URL`` at ``loader_test_<random>`` (dropped at the end of the session) and
empties it before the test. No PostgreSQL at 127.0.0.1:5432: those tests are skipped with the
reason, or fail when ``LOADER_REQUIRE_SERVICES=1`` (CI, where the service must be there).
"""

from __future__ import annotations

import os
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy.dialects.postgresql.psycopg
import sqlalchemy.dialects.sqlite.pysqlite
from sqlalchemy import Engine, inspect, text

from loader import load_project
from loader.db import database_url, make_engine

# Imported once here, not first inside a test: the autouse hygiene fixture drops modules a
# test imported, and a second copy of psycopg's exception classes would no longer be caught
# as SQLAlchemy's (nor the other way round).
assert psycopg and sqlalchemy.dialects.postgresql.psycopg and sqlalchemy.dialects.sqlite.pysqlite

PG_DSN = "host=127.0.0.1 port=5432 user=postgres connect_timeout=3"

MODULE = {
    "src/modules/shop/__init__.py": "from loader import Module\n\nclass Shop: ...\n\nmodule = Module('shop', service=Shop)\n",
}


def migration(stamp: str, up: str, down: str = "pass", header: str = "") -> str:
    """A migration file; ``up``/``down`` are bodies of the methods (``db`` is the connection)."""
    body = textwrap.indent(textwrap.dedent(up).strip(), " " * 8)
    back = textwrap.indent(textwrap.dedent(down).strip(), " " * 8)
    return (
        f"import time\nfrom sqlalchemy import text\nfrom loader import Migration, FeatureFlag, define_file_config\n{header}\n\n"
        f"class Migration{stamp}(Migration):\n    def up(self, db):\n{body}\n\n    def down(self, db):\n{back}\n"
    )


def path_of(stamp: str) -> str:
    return f"src/modules/shop/migrations/Migration{stamp}.py"


def create(stamp: str, table: str, extra_up: str = "", header: str = "") -> dict[str, str]:
    up = f'db.execute(text("CREATE TABLE {table} (id INTEGER PRIMARY KEY)"))\n{extra_up}'
    return {path_of(stamp): migration(stamp, up, f'db.execute(text("DROP TABLE {table}"))', header)}


def tables(root: Path) -> set[str]:
    """User tables of the project's database (the bookkeeping tables left out)."""
    engine = engine_of(root)
    try:
        with engine.connect() as conn:
            return {t for t in inspect(conn).get_table_names() if not t.startswith("loader_")}
    finally:
        engine.dispose()


def engine_of(root: Path) -> Engine:
    return make_engine(database_url(load_project(root)))


def recorded(root: Path) -> list[str]:
    engine = engine_of(root)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT name FROM loader_migrations ORDER BY name"))]
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; its SQLAlchemy URL."""
    try:
        admin = psycopg.connect(PG_DSN + " dbname=postgres", autocommit=True)
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}".strip()
        if os.environ.get("LOADER_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"loader_test_{secrets.token_hex(6)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test on SQLite (the default URL) and on PostgreSQL (through LOADER_DATABASE_URL)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        with psycopg.connect(PG_DSN + f" dbname={url.rsplit('/', 1)[1]}", autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        os.environ["LOADER_DATABASE_URL"] = url
    return str(request.param)
