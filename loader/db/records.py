"""The bookkeeping tables: which migrations and data scripts a database has applied.

``loader_migrations`` has one row per applied migration, keyed by (module, name);
``loader_migration_scripts`` one row per data script that ran, keyed by its id. The primary
keys are what finally stops a migration from being recorded twice, whatever the locking.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Column, Connection, DateTime, MetaData, String, Table, inspect, select

from loader.types import Resource

__all__ = ["MIGRATIONS", "SCRIPTS", "State", "Entry", "checksum", "create_tables", "applied_rows", "now"]

metadata = MetaData()

MIGRATIONS = Table(
    "loader_migrations",
    metadata,
    Column("module", String(255), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("checksum", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

SCRIPTS = Table(
    "loader_migration_scripts",
    metadata,
    Column("script", String(255), primary_key=True),
    Column("origin", String(255), nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

#: applied: recorded, file unchanged. changed: recorded, file edited since. pending: enabled,
#: not recorded. disabled: its file config disables it. missing: recorded, no file found.
State = Literal["applied", "changed", "pending", "disabled", "missing"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One migration or data script as ``loader db status`` shows it.

    Attributes:
        kind: ``"migration"`` or ``"script"``.
        id: ``blog:Migration20250822135845`` or ``project:seed_posts``.
        group: The module (migrations) or the origin (scripts) it belongs to.
        name: The class name (migrations) or the script's name.
        state: See :data:`State`.
        location: ``path:line`` of its file, when there is one.
        applied_at: When it was applied, if it was.
        reason: Why it is disabled or flagged.
    """

    kind: Literal["migration", "script"]
    id: str
    group: str
    name: str
    state: State
    location: str | None = None
    applied_at: datetime | None = None
    reason: str | None = None
    resource: Resource | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "module" if self.kind == "migration" else "origin": self.group,
            "name": self.name,
            "state": self.state,
            "location": self.location,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "reason": self.reason,
        }


def checksum(path: Path) -> str:
    """sha256 of a file's bytes: how an edit after applying is noticed."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def now() -> datetime:
    return datetime.now(timezone.utc)


def create_tables(conn: Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


def applied_rows(conn: Connection, table: Table) -> dict[str, dict[str, Any]]:
    """Recorded rows by id (``module:name`` or script id); empty when the table does not exist yet."""
    if not inspect(conn).has_table(table.name):
        return {}
    rows = conn.execute(select(table)).mappings()
    if table is MIGRATIONS:
        return {f"{r['module']}:{r['name']}": dict(r) for r in rows}
    return {r["script"]: dict(r) for r in rows}


def entry_for(
    kind: Literal["migration", "script"], id: str, group: str, name: str, resource: Resource | None, row: dict[str, Any] | None
) -> Entry:
    """The state of one migration or script, from its resource (if found) and its row (if recorded)."""
    location = str(resource.location) if resource is not None else None
    if row is None:
        if resource is None:  # pragma: no cover - callers pass a resource, a row, or both
            raise ValueError(f"{id}: neither a file nor a record")
        if resource.enabled:
            return Entry(kind, id, group, name, "pending", location, resource=resource)
        return Entry(kind, id, group, name, "disabled", location, reason=resource.disabled_reason, resource=resource)
    applied_at = _aware(row["applied_at"])
    if resource is None:
        return Entry(kind, id, group, name, "missing", None, applied_at, "applied, but its file is gone")
    if checksum(resource.source.path) != row["checksum"]:
        reason = "its file changed after it was applied"
        return Entry(kind, id, group, name, "changed", location, applied_at, reason, resource)
    return Entry(kind, id, group, name, "applied", location, applied_at, resource=resource)


def _aware(value: datetime) -> datetime:
    # SQLite gives naive datetimes back even for DateTime(timezone=True); they were stored as UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
