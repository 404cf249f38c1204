"""One ``migrate`` (or ``rollback``) at a time per database.

PostgreSQL: a session-level advisory lock on a fixed key, held on its own connection for the
whole run. SQLite: an exclusive transaction on a sibling file ``<db>.lock`` (a lock on the
database itself would also block the connection that applies the migrations). Both are
released by the database or the OS if the process dies, so a crash never leaves a stale lock.
A second run waits (printing one line) up to the timeout, then fails with a clear message.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from loader.db.engine import display_url, sqlite_file
from loader.errors import MigrationError

__all__ = ["PG_LOCK_KEY", "migration_lock"]

#: The advisory lock key: the bytes of "loadermg" as a signed 64-bit integer.
PG_LOCK_KEY = int.from_bytes(b"loadermg", "big", signed=True)
_WAITING = "waiting for another `loader db migrate` or `rollback` on {url} to finish (up to {timeout:g} s)"


@contextmanager
def migration_lock(engine: Engine, url: URL, *, timeout: float, echo: Callable[[str], None]) -> Iterator[None]:
    """Hold the migration lock of ``url``'s database for the duration of the block.

    Raises:
        MigrationError: another run held the lock for longer than ``timeout`` seconds.
    """
    if url.get_backend_name() == "postgresql":
        with _pg_lock(engine, url, timeout, echo):
            yield
        return
    path = sqlite_file(url)
    if path is None:  # in-memory SQLite (one process) or a backend without a lock: the keys still guard
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    conn = sqlite3.connect(lock_path, timeout=0, isolation_level=None)
    try:
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            echo(_WAITING.format(url=display_url(url), timeout=timeout))
            conn.close()
            conn = sqlite3.connect(lock_path, timeout=timeout, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
            except sqlite3.OperationalError as exc:
                raise _timed_out(url, timeout, f"{lock_path} stays locked") from exc
        yield
    finally:
        conn.close()  # closing ends the transaction, which releases the lock


@contextmanager
def _pg_lock(engine: Engine, url: URL, timeout: float, echo: Callable[[str], None]) -> Iterator[None]:
    # AUTOCOMMIT: the advisory lock belongs to the session, not to a transaction that each
    # migration's own commit would end.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        def attempt() -> bool:
            return bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": PG_LOCK_KEY}).scalar())

        if not attempt():
            echo(_WAITING.format(url=display_url(url), timeout=timeout))
            deadline = time.monotonic() + timeout
            while not attempt():
                if time.monotonic() >= deadline:
                    raise _timed_out(url, timeout, f"advisory lock {PG_LOCK_KEY} is held")
                time.sleep(0.1)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})


def _timed_out(url: URL, timeout: float, detail: str) -> MigrationError:
    return MigrationError(
        f"another `loader db migrate` or `rollback` is still running on {display_url(url)} after {timeout:g} s ({detail}); "
        "wait for it to finish, or raise LOADER_MIGRATION_LOCK_TIMEOUT"
    )
