"""``loader db migrate | rollback | status [PROJECT]``.

Each command prints one line per migration or data script; a :class:`~loader.errors.LoaderError`
(a failed migration, a lock timeout, a broken file) is one line ``error: path:line: message``
and exit status 1, through the same decorator as the rest of the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from loader.cli_output import clean_errors
from loader.db.engine import database_url, display_url
from loader.db.migrator import rollback as rollback_migrations
from loader.db.operations import migrate as migrate_project
from loader.db.operations import status as project_status
from loader.db.records import Entry
from loader.project import Project, load_project

__all__ = ["db"]


project_argument = click.argument("project", default=".", type=click.Path(file_okay=False, path_type=Path))


def _container_for(project: Project) -> Any:
    """The container data scripts receive: a booted (not started, so no jobs run) Application's.

    Imported here: the runtime (HTTP, scheduler…) is only needed when a script is pending.
    """
    from loader.runtime.application import Application

    return Application(project.root).boot().container


@click.group()
def db() -> None:
    """Schema migrations and data scripts (SQLite in .loader/ unless LOADER_DATABASE_URL or database_url say otherwise)."""


@db.command()
@project_argument
@clean_errors
def migrate(project: Path) -> None:
    """Apply pending migrations, then run pending data scripts, of PROJECT (default: the current folder)."""
    loaded = load_project(project)
    migrate_project(loaded, container=lambda: _container_for(loaded), echo=click.echo)


@db.command()
@project_argument
@click.option("--module", "module", required=True, help="The module whose migrations to roll back (blog, or notification/console).")
@click.option("--to", "to", default=None, help="Roll back every migration applied after this one; it stays applied.")
@click.option("--steps", "steps", type=int, default=None, help="How many to roll back, newest first (default 1).")
@clean_errors
def rollback(project: Path, module: str, to: str | None, steps: int | None) -> None:
    """Run down() of the last applied migrations of one module of PROJECT, newest first."""
    rollback_migrations(load_project(project), module, to=to, steps=steps, echo=click.echo)


@db.command()
@project_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clean_errors
def status(project: Path, as_json: bool) -> None:
    """List applied, pending, disabled and changed migrations per module, and data scripts."""
    loaded = load_project(project)
    entries = project_status(loaded)
    if as_json:
        click.echo(json.dumps(_status_data(loaded, entries), indent=2))
        return
    if not entries:
        click.echo("no migrations or data scripts")
    group = None
    for entry in entries:
        heading = f"module {entry.group}" if entry.kind == "migration" else f"data scripts of {entry.group}"
        if heading != group:
            click.echo(heading)
            group = heading
        click.echo(_status_line(entry))


def _status_line(entry: Entry) -> str:
    line = f"  {entry.state:<9} {entry.name}"
    if entry.applied_at is not None:
        line += f"  applied {entry.applied_at:%Y-%m-%d %H:%M:%S} UTC"
    if entry.location:
        line += f"  {entry.location}"
    if entry.reason:
        line += f"  ({entry.reason})"
    return line


def _status_data(project: Project, entries: list[Entry]) -> dict[str, Any]:
    modules: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        if entry.kind == "migration":
            modules.setdefault(entry.group, []).append(entry.to_dict())
    return {
        "database": display_url(database_url(project)),
        "modules": modules,
        "scripts": [e.to_dict() for e in entries if e.kind == "script"],
        "pending": [e.id for e in entries if e.state == "pending"],
    }
