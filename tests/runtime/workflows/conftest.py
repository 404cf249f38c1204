"""Boot an on-disk project whose workflows the engine tests drive through the public API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from loader import load_project
from loader.db import migrate
from loader.runtime.application import Application

T = TypeVar("T")

Scenario = Callable[[Any, Callable[[str], Any]], Awaitable[T]]


SQL_PROVIDER = """
from loader import define_config
config = define_config(modules={"workflow_engine": {"providers": [{"resolve": "sql", "id": "sql", "is_default": True}]}})
"""


@pytest.fixture(params=["memory", "sql"])
def engine_run(request: pytest.FixtureRequest, make_project: Callable[..., Path]) -> Callable[..., Any]:
    """``engine_run(flows_source, scenario)``: boot a project with ``src/workflows/flows.py``, start
    it, and run ``await scenario(engine, g)`` where ``g(name)`` reads a global of that file.

    Each test runs twice: on the ``memory`` provider, and on ``sql`` (the project's SQLite file,
    migrated first)."""

    def run(source: str, scenario: Scenario[T], extra: dict[str, str] | None = None) -> T:
        files = {"src/workflows/flows.py": source, **(extra or {})}
        if request.param == "sql":
            assert "loader_config.py" not in files, "engine_run writes loader_config.py itself (the sql provider)"
            files["loader_config.py"] = SQL_PROVIDER
        root = make_project(files)
        if request.param == "sql":
            migrate(load_project(root), echo=lambda line: None)

        async def main() -> T:
            app = Application(root).boot()
            assert app.errors == []
            await app.start()
            try:
                engine = app.container.resolve("workflow_engine")
                module_globals = next(iter(app.workflows.values())).fn.__globals__
                return await scenario(engine, module_globals.__getitem__)
            finally:
                await app.stop()

        return asyncio.run(main())

    return run
