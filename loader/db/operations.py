"""What the ``loader db`` commands and ``loader start`` call: migrate, status, pending.

Migrate takes the migration lock, applies the schema migrations, then runs the data scripts.
Status and the startup check only read: they never create the database (a SQLite file that
does not exist yet simply means everything is pending).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loader.db.engine import database_url, display_url, lock_timeout, sqlite_file
from loader.errors import MigrationError
from loader.db.lock import migration_lock
from loader.db.migrator import Echo, apply_migrations, connected, migration_entries, refuse_broken
from loader.db.records import MIGRATIONS, SCRIPTS, Entry, applied_rows
from loader.db.scripts import run_scripts, script_entries
from loader.project import Project

__all__ = ["MigrateResult", "migrate", "status", "pending_migrations", "check_migrations"]


@dataclass(frozen=True, slots=True)
class MigrateResult:
    """What one ``migrate`` did: the migration and data script ids applied, in order."""

    database: str
    migrations: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<MigrateResult {self.database}: {len(self.migrations)} migrations, {len(self.scripts)} scripts>"


def migrate(project: Project, *, container: Callable[[], Any] | None = None, echo: Echo = print) -> MigrateResult:
    """Apply every pending, enabled migration, then run every pending data script.

    Args:
        project: A loaded project (``load_project``).
        container: Returns the container data scripts receive; called only if one is pending.
            Without it, a pending data script is an error.
        echo: Receives one line per migration or script.

    Raises:
        MigrationError: a migration or script failed (it is rolled back; those before it stay
            applied), the lock timed out, or the database is unreachable.
        LoaderError: a migration or script file failed to load.
    """
    refuse_broken(project)
    with connected(project) as (engine, url), migration_lock(engine, url, timeout=lock_timeout(), echo=echo):
        migrations = apply_migrations(project, engine, echo)
        scripts = run_scripts(project, engine, container or _no_container, echo)
    if not migrations and not scripts:
        echo(f"nothing to migrate in {display_url(url)}")
    return MigrateResult(display_url(url), migrations, scripts)


def _no_container() -> Any:
    raise MigrationError("data scripts are pending but no container was given to run them with")


def status(project: Project) -> list[Entry]:
    """Every migration (grouped by module, in apply order) then every data script, with its state."""
    migrations, scripts = _read_rows(project)
    return [*migration_entries(project, migrations), *script_entries(project, scripts)]


def pending_migrations(project: Project) -> list[str]:
    """Ids of the enabled migrations and data scripts not applied yet (what ``loader start`` checks).

    Never creates the database: a missing SQLite file means everything is pending.
    """
    return [e.id for e in status(project) if e.state == "pending"]


def check_migrations(project: Project) -> None:
    """Refuse to go on while migrations are pending.

    Raises:
        MigrationError: naming the pending ids and the command that applies them.
    """
    pending = pending_migrations(project)
    if pending:
        shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
        raise MigrationError(
            f"{len(pending)} migration(s) or data script(s) pending on {display_url(database_url(project))}: {shown}; "
            f"run `loader db migrate {project.root}` first"
        )


def _read_rows(project: Project) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    url = database_url(project)
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is None or not path.is_file():  # in memory, or not created yet: nothing applied
            return {}, {}
    with connected(project, create=False) as (engine, _), engine.connect() as conn:
        return applied_rows(conn, MIGRATIONS), applied_rows(conn, SCRIPTS)
