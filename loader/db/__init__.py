"""The database: SQLAlchemy engine, schema migrations, data scripts, and their bookkeeping.

``migrate``/``status``/``pending_migrations``/``check_migrations`` (``operations.py``) are
what the CLI and ``loader start`` call; ``rollback`` is in ``migrator.py``; the run lock in
``lock.py``; the bookkeeping tables in ``records.py``.
"""

from loader.db.engine import DATABASE_URL_ENV, database_url, make_engine
from loader.errors import MigrationError
from loader.db.migrator import rollback
from loader.db.operations import MigrateResult, check_migrations, migrate, pending_migrations, status
from loader.db.records import Entry

__all__ = [
    "DATABASE_URL_ENV",
    "Entry",
    "MigrateResult",
    "MigrationError",
    "check_migrations",
    "database_url",
    "make_engine",
    "migrate",
    "pending_migrations",
    "rollback",
    "status",
]
