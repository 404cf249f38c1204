"""Plan, apply, roll back and report schema migrations.

Order: modules in the project's root load order (loader's built-ins, enabled plugins in
config order, ``src/``, modules added by config, then providers), and within a module by the
timestamp in the migration's name. Each migration runs in its own transaction together with
the row that records it, so a migration is either applied and recorded, or neither.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from loader.core.tracebacks import line_in
from loader.db.engine import database_url, display_url, lock_timeout, make_engine
from loader.errors import MigrationError
from loader.db.lock import migration_lock
from loader.db.records import MIGRATIONS, Entry, applied_rows, checksum, create_tables, entry_for, now
from loader.kinds.migrations import migration_timestamp
from loader.project import Project
from loader.types import Resource

__all__ = ["ordered_migrations", "migration_entries", "apply_migrations", "rollback", "failure", "connected", "refuse_broken"]

Echo = Callable[[str], None]


def _module(resource: Resource) -> str:
    return str(resource.meta["module"])


def ordered_migrations(project: Project) -> list[Resource]:
    """Every discovered migration (disabled ones too) in the order ``migrate`` applies them."""
    order = project.registry.load_order
    return sorted(
        project.registry.list("migration"),
        key=lambda r: (order.get(str(r.origin), len(order)), str(r.meta["timestamp"]), r.export),
    )


def migration_entries(project: Project, rows: dict[str, dict[str, Any]]) -> list[Entry]:
    """The state of each migration, discovered or only recorded, grouped by module."""
    entries = [entry_for("migration", r.id, _module(r), r.export, r, rows.get(r.id)) for r in ordered_migrations(project)]
    known = {e.id for e in entries}
    for key, row in rows.items():
        if key not in known:
            entries.append(entry_for("migration", key, row["module"], row["name"], None, row))
    modules = list(dict.fromkeys(e.group for e in entries))  # first-seen order = apply order
    return sorted(entries, key=lambda e: modules.index(e.group))


@contextmanager
def connected(project: Project, *, create: bool = True) -> Iterator[tuple[Engine, URL]]:
    """The project's engine, disposed of afterwards; connection failures become MigrationError."""
    url = database_url(project)
    engine = make_engine(url, create=create)
    try:
        yield engine, url
    except SQLAlchemyError as exc:
        # Failures inside a migration are already MigrationErrors; what is left is the database
        # itself (unreachable, wrong credentials, a bookkeeping table it will not create).
        raise MigrationError(f"database {display_url(url)}: {type(exc).__name__}: {_first_line(exc)}") from exc
    finally:
        engine.dispose()


def refuse_broken(project: Project) -> None:
    """Stop before touching the database if a migration or data script file failed to load.

    Applying the others would silently skip one and run later ones out of order.

    Raises:
        LoaderError: the first load error of such a file.
    """
    loaded = {r.source.display for r in project.registry.list()}
    for source in project.files:
        if source.kind in ("migration", "migration_script") and source.display not in loaded:
            for error in project.errors:
                if error.path == source.display or source.display in error.message:
                    raise error
            raise MigrationError(f"{source.kind.replace('_', ' ')} file failed to load", path=source.display)


def apply_migrations(project: Project, engine: Engine, echo: Echo) -> list[str]:
    """Apply every pending, enabled migration (the caller holds the lock); the ids applied.

    Raises:
        MigrationError: a migration raised; it was rolled back, and the run stops there.
    """
    with engine.begin() as conn:
        create_tables(conn)
        rows = applied_rows(conn, MIGRATIONS)
    applied: list[str] = []
    for entry in migration_entries(project, rows):
        if entry.state == "changed":
            echo(f"warning: {entry.id} was applied but its file changed since ({entry.location}); add a new migration instead")
        elif entry.state == "missing":
            echo(f"warning: {entry.id} was applied but its file is gone")
        elif entry.state == "disabled":
            echo(f"skipped  {entry.id}: disabled: {entry.reason}")
        elif entry.state == "pending" and entry.resource is not None:
            started = time.perf_counter()
            if _apply_one(engine, entry.resource):
                applied.append(entry.id)
                echo(f"applied  {entry.id} ({entry.location}) in {(time.perf_counter() - started) * 1000:.0f} ms")
            else:
                echo(f"skipped  {entry.id}: already applied by another run")
    return applied


def _apply_one(engine: Engine, resource: Resource) -> bool:
    module, name = _module(resource), resource.export
    digest = checksum(resource.source.path)
    try:
        with engine.begin() as conn:
            # Re-read under this transaction: the keys and the lock already make a double apply
            # impossible, but a clear "skipped" beats an integrity error.
            found = conn.execute(select(MIGRATIONS.c.name).where(MIGRATIONS.c.module == module, MIGRATIONS.c.name == name))
            if found.first() is not None:
                return False
            resource.obj().up(conn)
            conn.execute(insert(MIGRATIONS).values(module=module, name=name, checksum=digest, applied_at=now()))
    except Exception as exc:
        raise failure("migration", resource, "up", exc) from exc
    return True


def rollback(project: Project, module: str, *, to: str | None = None, steps: int | None = None, echo: Echo = print) -> list[str]:
    """Run ``down`` for the last applied migrations of ``module``, newest first, and forget them.

    Args:
        module: The module name (``blog``, or ``notification/console`` for a provider).
        to: Roll back every migration applied after this one (it stays applied).
        steps: How many to roll back (default 1). Not together with ``to``.

    Returns:
        The ids rolled back.

    Raises:
        MigrationError: unknown module or target, a migration whose file is gone, or a
            ``down`` that raised (rolled back; the run stops there).
    """
    if to is not None and steps is not None:
        raise MigrationError("give --to or --steps, not both")
    if steps is not None and steps < 1:
        raise MigrationError(f"--steps {steps}: expected a positive number")
    refuse_broken(project)
    resources = {r.export: r for r in ordered_migrations(project) if _module(r) == module}
    with connected(project) as (engine, url), migration_lock(engine, url, timeout=lock_timeout(), echo=echo):
        with engine.begin() as conn:
            create_tables(conn)
            rows = [r for r in applied_rows(conn, MIGRATIONS).values() if r["module"] == module]
        if not resources and not rows:
            known = sorted({_module(r) for r in ordered_migrations(project)})
            raise MigrationError(f"module {module!r} has no migrations; modules with migrations: {', '.join(known) or 'none'}")
        names = sorted((r["name"] for r in rows), key=lambda n: (migration_timestamp(n) or "", n), reverse=True)
        if to is not None:
            target = to.removeprefix(f"{module}:")
            if target not in names:
                raise MigrationError(f"--to {to}: {module}:{target} is not applied; applied: {', '.join(reversed(names)) or 'none'}")
            chosen = names[: names.index(target)]
        else:
            chosen = names[: steps or 1]
        if not chosen:
            echo(f"nothing to roll back in module {module}")
            return []
        done = []
        for name in chosen:
            resource = resources.get(name)
            if resource is None:
                raise MigrationError(f"cannot roll back {module}:{name}: it was applied but its file is gone")
            with _reporting(resource, "down"), engine.begin() as conn:
                resource.obj().down(conn)
                conn.execute(delete(MIGRATIONS).where(MIGRATIONS.c.module == module, MIGRATIONS.c.name == name))
            done.append(resource.id)
            echo(f"rolled back  {resource.id} ({resource.location})")
        return done


@contextmanager
def _reporting(resource: Resource, step: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        raise failure("migration", resource, step, exc) from exc


def failure(what: str, resource: Resource, step: str, exc: BaseException) -> MigrationError:
    """The error for a migration or script that raised: its id, the exception, and ``path:line``.

    The line is the deepest frame inside the file itself (the statement that failed), or
    the line the class or function starts at.
    """
    if isinstance(exc, MigrationError):
        return exc
    line = line_in(exc.__traceback__, str(resource.source.path)) or resource.line
    return MigrationError(
        f"{what} {resource.id} failed in {step}() and was rolled back, nothing recorded: {type(exc).__name__}: {_first_line(exc)}",
        path=resource.source.display,
        line=line,
    )


def _first_line(exc: BaseException) -> str:
    # A DBAPIError's text carries the SQL and a link after the driver's message; keep the message.
    source = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(source).strip()
    return text.splitlines()[0] if text else type(source).__name__

