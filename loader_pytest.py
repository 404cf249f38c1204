"""pytest fixtures for testing a loader project: ``loader_client``, ``loader_app`` and their parts.

Installing loader registers this module with pytest (entry point ``pytest11``, name
``loader``; ``-p no:loader`` turns it off). Nothing happens until a test asks for one of the
fixtures: this module adds the ``--loader-project`` option and the ``loader_project`` ini key
and imports neither loader nor httpx, so a pytest run that uses none of it is unchanged (and
pays nothing). It is a top-level module for that reason: importing ``loader.anything`` would
import the whole ``loader`` package first.

The asynchronous fixtures run on anyio's pytest plugin (installed with Starlette): mark the
tests ``@pytest.mark.anyio``. loader runs on asyncio; see ``docs/testing.md``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from loader.runtime.application import Application
    from loader.testing import RunningProject

CONFIG_FILE = "loader_config.py"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "loader_project",
        "the loader project folder the loader_* fixtures boot, relative to this file (default: the rootdir, if it holds loader_config.py)",
        default="",
    )
    parser.getgroup("loader").addoption(
        "--loader-project", dest="loader_project", default=None, metavar="PATH",
        help="the loader project folder the loader_* fixtures boot (overrides the loader_project ini key)",
    )


@pytest.fixture(scope="session")
def loader_project(request: pytest.FixtureRequest) -> Path:
    """The project folder: ``--loader-project``, else the ``loader_project`` ini key, else the rootdir.

    Session-scoped, so that a user's own module- or session-scoped fixture can boot it once.
    """
    config = request.config
    option = str(config.getoption("loader_project", default=None) or "")
    ini = str(config.getini("loader_project") or "")
    root: Path
    if option:
        root, source = config.invocation_params.dir / option, f"--loader-project {option}"
    elif ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        root, source = base / ini, f"loader_project = {ini} in {config.inipath}"
    else:
        root, source = config.rootpath, f"the rootdir {config.rootpath}"
        if not (root / CONFIG_FILE).is_file():
            pytest.fail(
                f"loader: no project to boot: the rootdir {root} holds no {CONFIG_FILE}; set `loader_project = <folder>` "
                "in the pytest config or pass --loader-project", pytrace=False,
            )
    if not root.is_dir():
        pytest.fail(f"loader: {source}: {root} is not a folder", pytrace=False)
    return root.resolve()


@pytest.fixture
def loader_options() -> dict[str, Any]:
    """Keyword arguments of ``loader.testing.run_project`` for ``loader_running``; override it.

    For example, in a ``conftest.py`` or a test module::

        @pytest.fixture
        def loader_options():
            return {"env": {"LOADER_FF_CUSTOM_FEATURE": "true"}}
    """
    return {}


@pytest.fixture
async def loader_running(loader_project: Path, loader_options: dict[str, Any], anyio_backend: Any) -> AsyncIterator[RunningProject]:
    """The project booted on a temporary migrated database and started; stopped afterwards."""
    backend = anyio_backend if isinstance(anyio_backend, str) else anyio_backend[0]
    if backend != "asyncio":
        pytest.fail(
            f"loader: the project runs on asyncio, not {backend}; define an `anyio_backend` fixture returning \"asyncio\"",
            pytrace=False,
        )
    from loader.errors import LoaderError
    from loader.testing import run_project

    block = run_project(loader_project, **loader_options)
    failure = None
    try:
        running = await block.__aenter__()
    except LoaderError as exc:  # the project's mistake: its path:line lines, not loader's traceback
        failure = f"loader: {exc.format()}"
    if failure is not None:  # outside the except: no "during handling of the above exception"
        pytest.fail(failure, pytrace=False)
    try:
        yield running
    finally:
        await block.__aexit__(None, None, None)


@pytest.fixture
def loader_app(loader_running: RunningProject) -> Application:
    """The started ``Application``: ``container``, ``event_bus``, ``workflows``, ``reload``…"""
    return loader_running.app


@pytest.fixture
def loader_client(loader_running: RunningProject) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` bound to the running project (``http://testserver``)."""
    return loader_running.client
