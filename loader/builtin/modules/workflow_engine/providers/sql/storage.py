"""``SqlWorkflowStorage``: the :class:`WorkflowStorage` protocol on the project's database.

SQLAlchemy Core on the container's synchronous ``database`` engine (the project uses no async
driver), each call run in a worker thread (:func:`asyncio.to_thread`) so the event loop never
waits on the database. One call is one transaction: a checkpoint updates the execution row
``WHERE revision = :read`` (optimistic concurrency: no row updated means another writer moved
the revision, :class:`ConcurrentUpdateError`) and upserts one step row, then commits; the
guarded UPDATE comes first, so two writers of one execution queue on that row (PostgreSQL) or on
the write lock (SQLite) and the second finds the revision moved.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, delete, insert, inspect, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from loader.builtin.modules.workflow_engine.providers.sql.tables import EXECUTIONS, STEPS
from loader.db.engine import sqlite_file
from loader.errors import MigrationError
from loader.runtime.workflows.errors import WorkflowError
from loader.runtime.workflows.execution import Execution, StepRecord, now
from loader.runtime.workflows.states import ExecutionState
from loader.runtime.workflows.storage import ConcurrentUpdateError, ExecutionExistsError

__all__ = ["SqlWorkflowStorage"]

T = TypeVar("T")

_JSON_EXECUTION = ("input", "result", "errors")
_JSON_STEP = ("output", "compensate_input")
_STEP_KEYS = ("workflow", "transaction_id", "position")
_NOT_STEP = frozenset({"workflow", "transaction_id", "seq"})  # columns of a step row that are not StepRecord fields


def _execution_row(execution: Execution) -> dict[str, Any]:
    row = {**execution.header()}
    for key in _JSON_EXECUTION:
        row[key] = json.dumps(row[key])
    return row


def _progress_row(execution: Execution) -> dict[str, Any]:
    row = execution.progress()
    row["result"], row["errors"] = json.dumps(row["result"]), json.dumps(row["errors"])
    return row


def _step_row(execution: Execution, step: StepRecord, seq: int) -> dict[str, Any]:
    row = step.to_dict()
    for key in _JSON_STEP:
        row[key] = json.dumps(row[key])
    return {**row, "workflow": execution.workflow, "transaction_id": execution.transaction_id, "seq": seq}


def _execution_from(row: Any, steps: builtins.list[Any]) -> Execution:
    data = dict(row._mapping)
    for key in _JSON_EXECUTION:
        data[key] = json.loads(data[key])
    data["steps"] = [_step_from(s) for s in steps]
    return Execution.from_dict(data)


def _step_from(row: Any) -> dict[str, Any]:
    data = {k: v for k, v in row._mapping.items() if k not in _NOT_STEP}
    for key in _JSON_STEP:
        data[key] = json.loads(data[key])
    return data


class SqlWorkflowStorage:
    """Executions in the project's database (``loader_workflow_executions``, ``loader_workflow_steps``).

    Its tables are made by the provider's migration (``loader db migrate``).

    Args:
        container: The application's container; its ``database`` is used, on first use.
        engine: A SQLAlchemy engine to use instead (tests, scripts).
    """

    def __init__(self, container: Any = None, *, engine: Engine | None = None) -> None:
        if engine is None and container is None:
            raise TypeError("SqlWorkflowStorage needs a container (with a 'database') or an engine")
        self._engine = engine
        self._container = container
        self._checked = False
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            database = self._container.resolve("database")
            self._engine = getattr(database, "engine", database)  # the container's LazyEngine, or an Engine
        return self._engine

    async def _call(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` in one transaction, in a worker thread; a database that cannot be reached or
        used is one :class:`WorkflowError` line (the URL, the driver's message), not a traceback."""

        def work() -> T:
            try:
                if not self._checked:
                    self._check_tables()
                with self.engine.begin() as conn:
                    return fn(conn)
            except (OperationalError, InterfaceError) as exc:
                message = str(exc.orig if exc.orig is not None else exc).strip().splitlines() or [type(exc).__name__]
                url = self.engine.url.render_as_string(hide_password=True)
                raise WorkflowError(f"workflow_engine provider 'sql': database {url}: {message[0]}") from exc

        return await asyncio.to_thread(work)

    def _check_tables(self) -> None:
        # Once per storage: a database never migrated is one clear line, not "no such table" mid-run.
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and sqlite_file(url) is None:
            # Each worker thread would get its own empty in-memory database.
            raise MigrationError(f"workflow_engine provider 'sql' needs a database file or server, not {url.render_as_string(hide_password=True)}")
        with self.engine.connect() as conn:
            missing = [t.name for t in (EXECUTIONS, STEPS) if not inspect(conn).has_table(t.name)]
        if missing:
            raise MigrationError(
                f"workflow_engine provider 'sql': table(s) {', '.join(missing)} missing in "
                f"{self.engine.url.render_as_string(hide_password=True)}; run `loader db migrate` first"
            )
        self._checked = True

    # -- writes ---------------------------------------------------------------------------------
    async def create(self, execution: Execution) -> None:
        execution.revision = 1
        rows = [_step_row(execution, s, i) for i, s in enumerate(execution.steps)]

        def work(conn: Connection) -> None:
            conn.execute(insert(EXECUTIONS).values(_execution_row(execution)))
            if rows:
                conn.execute(insert(STEPS), rows)

        try:
            await self._call(work)
        except IntegrityError:
            execution.revision = 0
            raise ExecutionExistsError(f"workflow {execution.workflow!r} already has an execution {execution.transaction_id!r}") from None

    async def save(self, execution: Execution) -> None:
        def build() -> Callable[[Connection], None]:
            progress, rows = _Progress(execution), [_step_row(execution, s, i) for i, s in enumerate(execution.steps)]

            def work(conn: Connection) -> None:
                progress.write(conn)
                conn.execute(delete(STEPS).where(*_key(STEPS, execution.workflow, execution.transaction_id)))
                if rows:
                    conn.execute(insert(STEPS), rows)

            return work

        await self._guarded(execution, build)

    async def checkpoint(self, execution: Execution, step: StepRecord | None = None) -> None:
        def build() -> Callable[[Connection], None]:
            progress, row = _Progress(execution), None if step is None else _step_row(execution, step, _seq(execution, step))

            def work(conn: Connection) -> None:
                progress.write(conn)
                if row is not None:
                    self._upsert_step(conn, row)

            return work

        await self._guarded(execution, build)

    async def _guarded(self, execution: Execution, build: Callable[[], Callable[[Connection], None]]) -> None:
        # Writes of one execution from this process go one at a time (the branches of a
        # ``parallel`` checkpoint the same record): each reads the revision the previous one
        # left. ``build`` snapshots the record on the event loop, under the lock, so the worker
        # thread never reads an object the workflow is changing. The new revision and time go
        # on the record first (they are written with it) and come off if the write is refused.
        key = (execution.workflow, execution.transaction_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            revision, updated_at = execution.revision, execution.updated_at
            execution.revision, execution.updated_at = revision + 1, now()
            try:
                await self._call(build())
            except Exception:  # refused or failed: rolled back, nothing written
                execution.revision, execution.updated_at = revision, updated_at
                raise
            # Cancelled: the worker thread goes on and most likely commits, so the record keeps
            # the new revision; an execution interrupted so is continued from a fresh load anyway.

    def _upsert_step(self, conn: Connection, row: dict[str, Any]) -> None:
        changes = {k: v for k, v in row.items() if k not in _STEP_KEYS}
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            module = sqlite if dialect == "sqlite" else postgresql
            statement = module.insert(STEPS).values(row)
            conn.execute(statement.on_conflict_do_update(index_elements=list(_STEP_KEYS), set_=changes))
            return
        # Any other database: the guarded UPDATE above already holds the execution's row.
        keys = [STEPS.c[k] == row[k] for k in _STEP_KEYS]
        if conn.execute(update(STEPS).where(*keys).values(changes)).rowcount == 0:
            conn.execute(insert(STEPS).values(row))

    async def delete(self, workflow: str, transaction_id: str) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(delete(STEPS).where(STEPS.c.workflow == workflow, STEPS.c.transaction_id == transaction_id))
            gone = conn.execute(delete(EXECUTIONS).where(EXECUTIONS.c.workflow == workflow, EXECUTIONS.c.transaction_id == transaction_id))
            return bool(gone.rowcount)

        return await self._call(work)

    # -- reads ----------------------------------------------------------------------------------
    async def load(self, workflow: str, transaction_id: str) -> Execution | None:
        def work(conn: Connection) -> Execution | None:
            found = self._read(conn, and_(EXECUTIONS.c.workflow == workflow, EXECUTIONS.c.transaction_id == transaction_id))
            return found[0] if found else None

        return await self._call(work)  # one transaction: the row and its steps agree

    async def list(self, workflow: str | None = None, state: ExecutionState | None = None) -> builtins.list[Execution]:
        conditions = []
        if workflow is not None:
            conditions.append(EXECUTIONS.c.workflow == workflow)
        if state is not None:
            conditions.append(EXECUTIONS.c.state == ExecutionState(state).value)

        def work(conn: Connection) -> builtins.list[Execution]:
            return self._read(conn, and_(true(), *conditions))

        return await self._call(work)

    @staticmethod
    def _read(conn: Connection, where: Any) -> builtins.list[Execution]:
        heads = conn.execute(select(EXECUTIONS).where(where).order_by(EXECUTIONS.c.created_at)).all()
        if not heads:
            return []
        joined = select(STEPS).join(
            EXECUTIONS, and_(STEPS.c.workflow == EXECUTIONS.c.workflow, STEPS.c.transaction_id == EXECUTIONS.c.transaction_id)
        )
        steps: dict[tuple[str, str], builtins.list[Any]] = {}
        for row in conn.execute(joined.where(where).order_by(STEPS.c.seq)):
            steps.setdefault((row.workflow, row.transaction_id), []).append(row)
        return [_execution_from(head, steps.get((head.workflow, head.transaction_id), [])) for head in heads]

    def __repr__(self) -> str:
        return f"<SqlWorkflowStorage {self._engine.url.render_as_string(hide_password=True) if self._engine else 'database (not used yet)'}>"


def _key(table: Any, workflow: str, transaction_id: str) -> tuple[Any, Any]:
    return table.c.workflow == workflow, table.c.transaction_id == transaction_id


class _Progress:
    """The guarded UPDATE of one execution row, its values taken when made (on the event loop)."""

    __slots__ = ("workflow", "transaction_id", "values", "read")

    def __init__(self, execution: Execution) -> None:
        self.workflow, self.transaction_id = execution.workflow, execution.transaction_id
        self.values = {**_progress_row(execution), "revision": execution.revision}
        self.read = execution.revision - 1

    def write(self, conn: Connection) -> None:
        """Raises ConcurrentUpdateError when the stored revision is not the one read."""
        key = _key(EXECUTIONS, self.workflow, self.transaction_id)
        if conn.execute(update(EXECUTIONS).where(*key, EXECUTIONS.c.revision == self.read).values(self.values)).rowcount == 1:
            return
        stored = conn.execute(select(EXECUTIONS.c.revision).where(*key)).scalar()
        what = f"execution {self.transaction_id!r} of workflow {self.workflow!r}"
        if stored is None:
            raise ConcurrentUpdateError(f"{what} was deleted meanwhile")
        raise ConcurrentUpdateError(f"{what}: stored revision {stored}, this copy read {self.read}")


def _seq(execution: Execution, step: StepRecord) -> int:
    for index, record in enumerate(execution.steps):
        if record is step:
            return index
    return len(execution.steps)  # a step not (yet) in the list goes after the others
