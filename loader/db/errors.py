"""The error family of the database layer."""

from __future__ import annotations

from loader.errors import LoaderError

__all__ = ["MigrationError"]


class MigrationError(LoaderError):
    """A migration or data script failed, the database is unreachable, or the lock timed out.

    ``path:line`` points at the migration file (the raising line inside it when known).
    """
