"""Which database a project uses, and the SQLAlchemy engine for it.

Precedence, first wins: the ``LOADER_DATABASE_URL`` environment variable, then
``project.database_url`` in ``loader_config.py``, then a SQLite file
``<project>/.loader/loader.db`` so that ``loader db migrate`` works on a fresh machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from loader.config.env import env_seconds, env_str
from loader.config.loading import CONFIG_FILE
from loader.errors import ConfigError
from loader.project import Project

__all__ = ["DATABASE_URL_ENV", "database_url", "parse_url", "make_engine", "sqlite_file", "display_url", "lock_timeout"]

DATABASE_URL_ENV = "LOADER_DATABASE_URL"
LOCK_TIMEOUT_ENV = "LOADER_MIGRATION_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0


def database_url(project: Project) -> URL:
    """The URL the project's database is at (env > config > SQLite in ``.loader/``).

    ``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver; a relative SQLite
    path is read from the project folder, not from wherever the command was started.
    """
    from_env = env_str(DATABASE_URL_ENV)
    text = from_env or project.config.project.database_url
    if not text:
        return make_url(f"sqlite:///{project.root / '.loader' / 'loader.db'}")
    url = parse_url(text, DATABASE_URL_ENV if from_env else f"project.database_url in {CONFIG_FILE}")
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str(project.root / path))
    return url


def parse_url(text: str, source: str) -> URL:
    """``text`` as a SQLAlchemy URL; a malformed one is a ``ConfigError`` naming ``source``.

    The text itself is never shown (it may hold a password). A password holding ``@`` must be
    percent-encoded: unencoded, the URL parser takes the part after the first ``@`` for the host
    (and a message showing that host would show the rest of the password).
    """
    scheme, sep, rest = text.partition("://")
    if sep and rest.split("/", 1)[0].count("@") > 1:
        raise ConfigError(f"{source}: the password holds '@'; write it percent-encoded, as %40")
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        url = None
    if url is None or not sep:
        raise ConfigError(
            f"{source} is not a database URL; expected postgresql://user:password@host:5432/name "
            "or sqlite:///path/to/file.db"
        )
    return url


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for other backends and in-memory databases."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def display_url(url: URL) -> str:
    """The URL as messages show it, password hidden."""
    return url.render_as_string(hide_password=True)


def lock_timeout() -> float:
    """Seconds a ``migrate`` waits for another one to finish (env ``LOADER_MIGRATION_LOCK_TIMEOUT``)."""
    return env_seconds(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT)


def make_engine(url: URL, *, create: bool = True) -> Engine:
    """An engine for ``url``. For SQLite, ``create=True`` makes the file's folder first.

    SQLite transactions are made real: Python's sqlite3 module would otherwise run DDL
    (``CREATE TABLE``…) outside any transaction, so a failing migration could not be rolled
    back. The connect/begin hooks below are the recipe from SQLAlchemy's SQLite docs. A file
    database runs in WAL mode with ``synchronous=NORMAL``: a commit survives the process being
    killed (what workflow checkpoints need), at the cost of one log write instead of a full
    sync (docs/migrations.md).
    """
    path = sqlite_file(url)
    if path is None:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    return _sqlite_engine(url)


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": lock_timeout()})

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        if url.database and url.database != ":memory:":
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine

