"""The storage contract on every storage (memory, SQLite, PostgreSQL), and the ``sql`` provider
in an application: selected by name in config, its tables made by ``loader db migrate``, its
executions read back from a second application on the same database."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from loader import ExecutionState, MigrationError, load_project
from loader.builtin.modules.workflow_engine.providers.sql.migrations.Migration20261206120000 import Migration20261206120000
from loader.builtin.modules.workflow_engine.providers.sql.storage import SqlWorkflowStorage
from loader.cli import cli
from loader.db import make_engine
from loader.runtime.application import Application
from loader.runtime.workflows.errors import WorkflowError
from loader.runtime.workflows.execution import Execution, StepRecord
from loader.runtime.workflows.states import StepState, StepStatus
from loader.runtime.workflows.storage import ConcurrentUpdateError, ExecutionExistsError, MemoryWorkflowStorage, WorkflowStorage
from tests.db.conftest import PG_DSN, pg_database

assert pg_database  # the session's PostgreSQL database (created, dropped after; skipped or failed when missing)


def _empty_pg(url: str) -> None:
    with psycopg.connect(PG_DSN + f" dbname={url.rsplit('/', 1)[1]}", autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkflowStorage]:
    """Each storage, empty; the SQL ones with their tables made by the provider's migration."""
    if request.param == "memory":
        yield MemoryWorkflowStorage()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'loader.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        _empty_pg(url)
    engine = make_engine(make_url(url))
    try:
        with engine.begin() as conn:
            Migration20261206120000().up(conn)
        yield SqlWorkflowStorage(engine=engine)
    finally:
        engine.dispose()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_rows_copies_and_revisions(storage: WorkflowStorage) -> None:
    async def main() -> None:
        assert isinstance(storage, WorkflowStorage)
        execution = Execution("wf", "tx", "v1", input={"a": ["é", 1.5, None]})
        await storage.create(execution)
        assert execution.revision == 1
        with pytest.raises(ExecutionExistsError):
            await storage.create(Execution("wf", "tx"))
        step = StepRecord("save", "0", output={"id": 1})
        execution.steps.append(step)
        await storage.checkpoint(execution, step)
        loaded = await storage.load("wf", "tx")
        assert loaded is not None and loaded.steps == [step] and loaded.revision == execution.revision == 2
        assert loaded == execution  # every field, the timestamps too, reads back as written
        loaded.steps[0].output["id"] = 99  # a loaded copy is the caller's own
        stale = await storage.load("wf", "tx")
        assert stale is not None and stale.steps[0].output == {"id": 1}
        execution.move(ExecutionState.INVOKING)
        await storage.save(execution)
        with pytest.raises(ConcurrentUpdateError, match="stored revision 3, this copy read 2"):
            await storage.save(stale)
        assert stale.revision == 2  # a refused write leaves the copy as it was
        with pytest.raises(ConcurrentUpdateError, match="stored revision 3, this copy read 2"):
            await storage.checkpoint(stale, stale.steps[0])
        assert [e.transaction_id for e in await storage.list("wf", ExecutionState.INVOKING)] == ["tx"]
        assert await storage.list("other") == [] and await storage.list(state=ExecutionState.DONE) == []
        assert await storage.delete("wf", "tx") and not await storage.delete("wf", "tx")
        assert await storage.load("wf", "tx") is None
        with pytest.raises(ConcurrentUpdateError, match="was deleted meanwhile"):
            await storage.checkpoint(execution)

    run(main())


def test_steps_keep_call_order_and_save_replaces_them(storage: WorkflowStorage) -> None:
    async def main() -> None:
        execution = Execution("wf", "tx")
        await storage.create(execution)
        positions = [str(i) for i in range(12)] + ["12.0.0", "12.1.0"]  # "10" sorts before "2" as text
        for position in positions:
            step = StepRecord(f"s{position}", position, output=position)
            execution.steps.append(step)
            await storage.checkpoint(execution, step)
        loaded = await storage.load("wf", "tx")
        assert loaded is not None and [s.position for s in loaded.steps] == positions
        first = execution.steps[0]  # checkpointed again: updated in place, not added
        first.move(StepState.INVOKING, StepStatus.WAITING)
        first.attempts, first.error = 2, "boom"
        await storage.checkpoint(execution, first)
        loaded = await storage.load("wf", "tx")
        assert loaded is not None and loaded.steps == execution.steps
        execution.steps = execution.steps[:2]
        execution.result, execution.errors, execution.cancelled = {"ok": True}, ["e1"], True
        await storage.save(execution)
        assert await storage.load("wf", "tx") == execution

    run(main())


def test_list_filters_and_orders_by_creation(storage: WorkflowStorage) -> None:
    async def main() -> None:
        for index, (workflow, tx) in enumerate([("b", "3"), ("a", "1"), ("a", "2")]):
            execution = Execution(workflow, tx, created_at=1000.0 - index)
            execution.steps.append(StepRecord("only", "0"))
            await storage.create(execution)
        done = await storage.load("a", "1")
        assert done is not None
        done.move(ExecutionState.INVOKING)
        await storage.checkpoint(done)
        assert [(e.workflow, e.transaction_id) for e in await storage.list()] == [("a", "2"), ("a", "1"), ("b", "3")]
        assert [e.transaction_id for e in await storage.list("a")] == ["2", "1"]
        assert [e.transaction_id for e in await storage.list(state=ExecutionState.INVOKING)] == ["1"]
        assert all(len(e.steps) == 1 for e in await storage.list())

    run(main())


def test_two_concurrent_checkpoints_of_one_execution_one_is_refused(storage: WorkflowStorage) -> None:
    async def main() -> None:
        await storage.create(Execution("wf", "tx"))
        first, second = await storage.load("wf", "tx"), await storage.load("wf", "tx")
        assert first is not None and second is not None
        steps = [StepRecord("a", "0", output="first"), StepRecord("a", "0", output="second")]
        first.steps.append(steps[0])
        second.steps.append(steps[1])
        outcomes = await asyncio.gather(
            storage.checkpoint(first, steps[0]), storage.checkpoint(second, steps[1]), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, ConcurrentUpdateError)]
        assert len(refused) == 1 and outcomes.count(None) == 1
        winner = steps[outcomes.index(None)]
        stored = await storage.load("wf", "tx")
        assert stored is not None and stored.revision == 2 and stored.steps == [winner]

    run(main())


def test_branches_checkpointing_one_record_at_once_all_land(storage: WorkflowStorage) -> None:
    """The branches of a ``parallel`` share one record: their checkpoints queue, none is refused."""

    async def main() -> None:
        execution = Execution("wf", "tx")
        await storage.create(execution)
        branches = [StepRecord(f"b{i}", f"0.{i}.0", output=i) for i in range(8)]
        execution.steps.extend(branches)
        await asyncio.gather(*(storage.checkpoint(execution, step) for step in branches))
        stored = await storage.load("wf", "tx")
        assert stored is not None and stored == execution and execution.revision == 9

    run(main())


def test_odd_names_and_long_ids_are_kept_as_given(storage: WorkflowStorage) -> None:
    async def main() -> None:
        workflow, tx = "it's a \"flow\"; DROP TABLE x; -- é", "t" * 2000
        execution = Execution(workflow, tx, input="x" * 100_000)
        execution.steps.append(StepRecord("s" * 500, "0." * 200 + "0"))
        await storage.create(execution)
        assert await storage.load(workflow, tx) == execution
        assert await storage.load(workflow, tx[:-1]) is None

    run(main())


def test_an_in_memory_sqlite_database_is_refused_clearly() -> None:
    engine = make_engine(make_url("sqlite://"))
    with pytest.raises(MigrationError, match="provider 'sql' needs a database file or server, not sqlite://"):
        run(SqlWorkflowStorage(engine=engine).load("wf", "tx"))
    engine.dispose()


def test_an_unreachable_database_is_one_clear_line() -> None:
    engine = make_engine(make_url("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=3"))
    with pytest.raises(WorkflowError, match=r"^workflow_engine provider 'sql': database postgresql\+psycopg://postgres@127.0.0.1:1/nowhere\S*: \S") as info:
        run(SqlWorkflowStorage(engine=engine).load("wf", "tx"))
    assert "\n" not in str(info.value)
    engine.dispose()


# -- the provider in an application -----------------------------------------------------------

FLOWS = """
from loader import create_step, create_workflow

CALLS = []


async def reserve(input, ctx):
    CALLS.append("reserve")
    return {"sku": input}


async def ask(input, ctx):
    CALLS.append("ask")


reserve_stock = create_step("reserve", reserve)
ask_human = create_step("ask", ask, async_=True)


@create_workflow("order")
async def order(input, ctx):
    reserved = await reserve_stock(input)
    answer = await ask_human(reserved)
    return {"reserved": reserved, "answer": answer}
"""

SQL_CONFIG = """
from loader import define_config
config = define_config(modules={"workflow_engine": {"providers": [
    {"resolve": "%s", "id": "sql", "is_default": True},
]}})
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    """The project's database: its default SQLite file, or PostgreSQL through LOADER_DATABASE_URL."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_database")
        _empty_pg(url)
        os.environ["LOADER_DATABASE_URL"] = url  # the hygiene fixture restores the environment
    return str(request.param)


def _in_app(root: Path, scenario: Callable[[Any, Application], Any]) -> Any:
    async def main() -> Any:
        app = Application(root).boot()
        assert app.errors == []
        await app.start()
        try:
            return await scenario(app.container.resolve("workflow_engine"), app)
        finally:
            await app.stop()

    return asyncio.run(main())


def test_an_execution_outlives_its_application(make_project: Callable[..., Path], database: str) -> None:
    root = make_project({"loader_config.py": SQL_CONFIG % "sql", "src/workflows/flows.py": FLOWS})
    migrated = CliRunner().invoke(cli, ["db", "migrate", str(root)])
    assert migrated.exit_code == 0, migrated.output
    assert "applied  workflow_engine/sql:Migration20261206120000" in migrated.output

    async def first(engine: Any, app: Application) -> list[str]:
        assert isinstance(engine.storage, SqlWorkflowStorage)
        result = await engine.run("order", "book", transaction_id="o-1")
        assert result.state is ExecutionState.INVOKING  # waiting for the async step
        return list(next(iter(app.workflows.values())).fn.__globals__["CALLS"])

    assert _in_app(root, first) == ["reserve", "ask"]

    async def second(engine: Any, app: Application) -> Any:
        waiting = await engine.get("order", "o-1")
        assert [(s.name, s.state, s.status) for s in waiting.steps] == [
            ("reserve", StepState.DONE, StepStatus.OK), ("ask", StepState.INVOKING, StepStatus.WAITING),
        ]
        calls = next(iter(app.workflows.values())).fn.__globals__["CALLS"]
        calls.clear()
        result = await engine.set_step_success("order", "o-1", "ask", "yes")
        return result, calls

    result, calls = _in_app(root, second)
    assert result.state is ExecutionState.DONE and result.result == {"reserved": {"sku": "book"}, "answer": "yes"}
    assert calls == []  # the steps done in the first application are replayed, not invoked again

    async def third(engine: Any, app: Application) -> Any:
        return await engine.get("order", "o-1"), await engine.list(state="done")

    stored, done = _in_app(root, third)
    assert stored.state is ExecutionState.DONE and [s.output for s in stored.steps] == [{"sku": "book"}, "yes"]
    assert [e.transaction_id for e in done] == ["o-1"]


def test_without_migrate_the_sql_provider_says_what_to_run(make_project: Callable[..., Path]) -> None:
    root = make_project({"loader_config.py": SQL_CONFIG % "sql", "src/workflows/flows.py": FLOWS})

    async def scenario(engine: Any, app: Application) -> None:
        with pytest.raises(MigrationError, match="loader_workflow_executions, loader_workflow_steps missing in .*; run `loader db migrate` first"):
            await engine.run("order", "book")

    _in_app(root, scenario)


@pytest.mark.parametrize("name", ["sqll", "memory.sql", "Sql", "providers", "", "sql/", "__init__"])
def test_a_wrong_provider_name_lists_the_built_in_ones(make_project: Callable[..., Path], name: str) -> None:
    [error] = load_project(make_project({"loader_config.py": SQL_CONFIG % name})).errors
    assert error.location == "loader_config.py:3"  # the resolve line
    assert f"provider 'sql' of module 'workflow_engine': cannot resolve {name!r}" in error.message
    assert "expected a built-in provider of 'workflow_engine' (memory, sql), a folder path or an importable package" in error.message


def test_memory_is_still_the_default_and_selectable_by_name(make_project: Callable[..., Path]) -> None:
    for config in ({}, {"loader_config.py": SQL_CONFIG % "memory"}):
        root = make_project({**config, "src/workflows/flows.py": FLOWS}, name=f"p{len(config)}")

        async def scenario(engine: Any, app: Application) -> str:
            return type(engine.storage).__name__

        assert _in_app(root, scenario) == "MemoryWorkflowStorage"


def test_two_applications_completing_one_step_at_once_one_is_refused(make_project: Callable[..., Path], database: str) -> None:
    root = make_project({"loader_config.py": SQL_CONFIG % "sql", "src/workflows/flows.py": FLOWS})
    assert CliRunner().invoke(cli, ["db", "migrate", str(root)]).exit_code == 0

    async def main() -> tuple[list[Any], Any]:
        apps = [Application(root).boot() for _ in range(2)]
        for app in apps:
            await app.start()
        try:
            first, second = (app.container.resolve("workflow_engine") for app in apps)
            assert (await first.run("order", "book", transaction_id="o-1")).state is ExecutionState.INVOKING
            outcomes = await asyncio.gather(
                first.set_step_success("order", "o-1", "ask", "first"),
                second.set_step_success("order", "o-1", "ask", "second"),
                return_exceptions=True,
            )
            return outcomes, await second.get("order", "o-1")
        finally:
            for app in apps:
                await app.stop()

    outcomes, stored = asyncio.run(main())
    # The loser read either the same revision (its write is refused) or the winner's (the step
    # is no longer waiting): which one depends on timing; never both succeed.
    refused = [o for o in outcomes if isinstance(o, (ConcurrentUpdateError, WorkflowError))]
    [won] = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(refused) == 1 and won.state is ExecutionState.DONE
    assert stored.state is ExecutionState.DONE and stored.result == won.result  # the winner's answer, not overwritten
