"""Data scripts: ``migration_scripts/*.py`` run once each, after the schema migrations.

A script is ``async def run(container)``. It runs outside any transaction of ours (it uses
the services in the container), and is recorded in ``loader_migration_scripts`` once it
returns; the migration lock held by ``migrate`` keeps two runs from starting it twice. A
script that raises is not recorded, so the next ``migrate`` runs it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from loader.db.migrator import Echo, failure
from loader.db.records import SCRIPTS, Entry, applied_rows, checksum, create_tables, entry_for, now
from loader.project import Project
from loader.types import Resource

__all__ = ["ordered_scripts", "script_entries", "run_scripts"]


def ordered_scripts(project: Project) -> list[Resource]:
    """Every discovered data script (disabled ones too): by root load order, then by path."""
    order = project.registry.load_order
    return sorted(
        project.registry.list("migration_script"), key=lambda r: (order.get(str(r.origin), len(order)), r.source.relpath)
    )


def script_entries(project: Project, rows: dict[str, dict[str, Any]]) -> list[Entry]:
    """The state of each data script, discovered or only recorded."""
    entries = [entry_for("script", r.id, str(r.origin), r.id.rpartition(":")[2], r, rows.get(r.id)) for r in ordered_scripts(project)]
    known = {e.id for e in entries}
    for key, row in rows.items():
        if key not in known:
            entries.append(entry_for("script", key, row["origin"], key.rpartition(":")[2], None, row))
    return entries


def run_scripts(project: Project, engine: Engine, container: Callable[[], Any], echo: Echo) -> list[str]:
    """Run every pending, enabled data script once (the caller holds the lock); the ids run.

    Args:
        container: Called once, and only if a script is pending, to get the container the
            scripts receive (booting the application is not free).

    Raises:
        MigrationError: a script raised; nothing is recorded for it and the run stops.
    """
    with engine.begin() as conn:
        create_tables(conn)
        rows = applied_rows(conn, SCRIPTS)
    entries = script_entries(project, rows)
    pending = [e for e in entries if e.state == "pending" and e.resource is not None]
    for entry in entries:
        if entry.state == "disabled":
            echo(f"skipped  {entry.id}: disabled: {entry.reason}")
        elif entry.state == "changed":
            echo(f"warning: data script {entry.id} already ran; its file changed since ({entry.location}) and it will not run again")
    if not pending:
        return []
    return asyncio.run(_run_all(engine, [e.resource for e in pending if e.resource is not None], container(), echo))


async def _run_all(engine: Engine, resources: list[Resource], container: Any, echo: Echo) -> list[str]:
    done: list[str] = []
    for resource in resources:
        with engine.connect() as conn:
            if conn.execute(select(SCRIPTS.c.script).where(SCRIPTS.c.script == resource.id)).first() is not None:
                echo(f"skipped  {resource.id}: already ran")
                continue
        started = time.perf_counter()
        try:
            await resource.obj(container)
        except Exception as exc:
            raise failure("data script", resource, "run", exc) from exc
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(SCRIPTS).values(
                        script=resource.id, origin=str(resource.origin), checksum=checksum(resource.source.path), applied_at=now()
                    )
                )
        except IntegrityError:  # recorded meanwhile by a run that did not take the lock
            pass
        done.append(resource.id)
        echo(f"ran      {resource.id} ({resource.location}) in {(time.perf_counter() - started) * 1000:.0f} ms")
    return done
