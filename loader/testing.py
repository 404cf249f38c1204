"""Testing a project: boot it on a throwaway database and talk to it over HTTP, in process.

    from loader.testing import run_project

    async with run_project("my_project") as project:       # boot, migrate a temporary SQLite, start
        response = await project.client.get("/store/hello")  # httpx, straight into the ASGI app
        blog = project.container.resolve("blog")
    # stopped; the database removed; env, sys.path, sys.modules and flags as they were

The pytest fixtures built on it (``loader_client``, ``loader_app``…) are in ``loader_pytest``;
``docs/testing.md`` shows both. This module is not imported by ``import loader``: it needs
httpx (``pip install 'loader[testing]'``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

try:
    import httpx
except ImportError as exc:  # pragma: no cover - httpx is installed with the test extras
    raise ImportError("loader.testing needs httpx: pip install 'loader[testing]'") from exc

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from loader.core.flags import FeatureFlag
from loader.db.engine import DATABASE_URL_ENV, database_url
from loader.errors import FeatureFlagError, LoaderError
from loader.project import Project
from loader.runtime.application import Application, WorkerMode

if TYPE_CHECKING:
    from loader.builtin.modules.event_bus.service import EventBusService
    from loader.dev.plan import FileChange
    from loader.kinds.workflows import Workflow
    from loader.runtime.container import Container
    from loader.runtime.report import ReloadReport

__all__ = ["BootError", "RunningProject", "TEMPORARY", "run_project"]

#: ``database=TEMPORARY``: a fresh SQLite file, migrated, removed at the end.
TEMPORARY: Final = "temporary"
BASE_URL: Final = "http://testserver"

#: The root of the project a ``run_project`` block is running (flags and modules are process-wide).
_running: list[Path] = []

FlagValues = Mapping[str, bool | Mapping[str, bool]]


class BootError(LoaderError):
    """The project booted with errors, so it was not started (``allow_errors=True`` starts it anyway).

    The message lists each error as ``path:line: message``; ``errors`` holds them.
    """

    def __init__(self, root: Path, errors: list[LoaderError]) -> None:
        lines = "\n".join(f"  {e.format()}" for e in errors)
        super().__init__(f"{len(errors)} problem(s) in {root}; not running it:\n{lines}")
        self.errors = list(errors)


@dataclass(eq=False)
class RunningProject:
    """What :func:`run_project` yields: the started application and an HTTP client bound to it.

    Attributes:
        app: The started :class:`~loader.Application` (``registry``, ``scheduler``, ``errors``…).
        client: An ``httpx.AsyncClient`` that calls ``app.asgi`` in process (base URL
            ``http://testserver``); no socket, no server.
        database_url: The URL of the database the project runs on while the block lasts.
    """

    app: Application
    client: httpx.AsyncClient
    database_url: str

    @property
    def root(self) -> Path:
        return self.app.root

    @property
    def container(self) -> Container:
        return self.app.container

    @property
    def event_bus(self) -> EventBusService:
        return self.app.event_bus

    @property
    def workflows(self) -> dict[str, Workflow]:
        return self.app.workflows

    async def reload(self, paths: Iterable[str | Path | FileChange]) -> ReloadReport:
        """Reload changed files in place, as ``loader develop`` does on save (``Application.reload``)."""
        return await self.app.reload(paths)

    def __repr__(self) -> str:
        return f"<RunningProject {str(self.root)!r} database={self.database_url!r}>"


@asynccontextmanager
async def run_project(
    root: str | Path,
    *,
    database: str | None = TEMPORARY,
    migrate: bool | None = None,
    env: Mapping[str, str | None] | None = None,
    feature_flags: FlagValues | None = None,
    worker_mode: WorkerMode | None = None,
    allow_errors: bool = False,
) -> AsyncIterator[RunningProject]:
    """Boot the project at ``root``, start it, and yield a :class:`RunningProject`.

    On the way out the application is stopped, the client closed and a temporary database
    removed; the environment, ``sys.path``, the project's modules in ``sys.modules`` and the
    feature flags are put back as they were before the block (``.env`` values included).

    Args:
        root: The project folder (the one with ``loader_config.py``).
        database: ``"temporary"`` (default): a new SQLite file in a temporary folder, whatever
            the project's config says. A URL (``postgresql://…``, ``sqlite:///…``): that
            database, kept afterwards. None: the project's own (``LOADER_DATABASE_URL``,
            ``project.database_url`` or ``.loader/loader.db``), untouched unless ``migrate``.
        migrate: Apply pending migrations and data scripts before starting, as
            ``loader db migrate`` does. Default: yes, unless ``database`` is None.
        env: Environment variables for the block; a None value unsets one. They win over the
            shell and the project's ``.env`` files (``LOADER_FF_CUSTOM_FEATURE="true"``…).
        feature_flags: Flag values laid over the config's ``feature_flags``. A flag whose
            environment variable says otherwise is an error (set it through ``env``).
        worker_mode: ``shared``, ``server`` (no scheduled jobs) or ``worker``; default: config.
        allow_errors: Start even if files failed to load (their errors in ``app.errors``).

    Raises:
        BootError: files failed to load (each ``path:line`` in the message).
        ConfigError: ``loader_config.py`` is invalid, or a flag clashes with its variable.
        MigrationError: a migration or data script failed.
        TypeError, ValueError: an argument of the wrong type or value.
    """
    root = Path(root).resolve()
    _check_arguments(root, database, env, feature_flags, worker_mode)
    if _running:
        raise LoaderError(
            f"run_project({str(root)!r}) inside run_project({str(_running[0])!r}): one project at a time per process "
            "(feature flags and the project's modules are process-wide); leave the first block before entering the next"
        )
    if migrate is None:
        migrate = database is not None
    saved_environ, saved_path, saved_modules = dict(os.environ), list(sys.path), dict(sys.modules)
    saved_flags = FeatureFlag.snapshot()
    folder = Path(tempfile.mkdtemp(prefix="loader-test-db-")) if database == TEMPORARY else None
    app: Application | None = None
    _running.append(root)
    try:
        url = f"sqlite:///{folder / 'loader.db'}" if folder is not None else database
        overrides = {**(env or {}), **({DATABASE_URL_ENV: url} if url is not None else {})}
        _apply_environ(overrides)
        app = Application(root, worker_mode=worker_mode, feature_flags=_plain(feature_flags)).boot()
        if app.errors and not allow_errors:
            raise BootError(root, app.errors)
        _check_flags(feature_flags or {})
        if migrate:
            await _migrate(app)
        await app.start()
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield RunningProject(app, client, _url_of(app))
    finally:
        try:
            if app is not None:
                await app.stop()
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            _restore(saved_environ, saved_path, saved_modules, saved_flags, root, app)
            _running.remove(root)


def _url_of(app: Application) -> str:
    return database_url(app.project).render_as_string(hide_password=False)


def _check_arguments(root: Path, database: object, env: object, feature_flags: object, worker_mode: object) -> None:
    if not root.is_dir():
        raise ValueError(f"run_project: {root} is not a folder")
    if worker_mode not in (None, "shared", "server", "worker"):
        raise ValueError(f"run_project: worker_mode={worker_mode!r}; expected 'shared', 'server', 'worker' or None")
    if database is not None and not isinstance(database, str):
        raise TypeError(f"run_project: database must be 'temporary', a database URL or None, not {type(database).__name__}")
    if isinstance(database, str) and database != TEMPORARY:
        try:
            make_url(database)
        except ArgumentError:
            raise ValueError(f"run_project: database={database!r} is neither 'temporary', None nor a database URL") from None
    if env is not None:
        if not isinstance(env, Mapping):
            raise TypeError(f"run_project: env must be a mapping of names to strings, not {type(env).__name__}")
        for key, value in env.items():
            if not isinstance(key, str) or not key or "=" in key or "\0" in key:
                raise ValueError(f"run_project: env key {key!r} is not an environment variable name")
            if value is not None and not isinstance(value, str):
                raise TypeError(f"run_project: env[{key!r}] must be a string or None, not {value!r}")
            if value is not None and "\0" in value:
                raise ValueError(f"run_project: env[{key!r}] contains a NUL character")
        if DATABASE_URL_ENV in env and database is not None:
            raise ValueError(f"run_project: give the database as database=..., not as env[{DATABASE_URL_ENV!r}] (or pass database=None)")
    if feature_flags is not None:
        if not isinstance(feature_flags, Mapping):
            raise TypeError(f"run_project: feature_flags must be a mapping of flag keys to booleans, not {type(feature_flags).__name__}")
        for key, value in feature_flags.items():
            nested_ok = isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, bool) for k, v in value.items())
            if not isinstance(key, str) or not (isinstance(value, bool) or nested_ok):
                raise TypeError(f"run_project: feature_flags[{key!r}] must be True, False or a mapping of names to booleans, not {value!r}")


def _plain(flags: FlagValues | None) -> dict[str, bool | dict[str, bool]]:
    return {k: v if isinstance(v, bool) else dict(v) for k, v in (flags or {}).items()}


def _check_flags(requested: FlagValues) -> None:
    """A flag asked for in ``feature_flags`` but set otherwise by its variable: say so, loudly.

    The variable wins, as everywhere in loader; a test that silently ran with the other value
    (a stray ``LOADER_FF_…`` in the shell or ``.env``) would test the wrong thing.
    """
    for key, wanted in requested.items():
        found = FeatureFlag.get(key)
        if found is not None and found.source == "env" and found.value != (wanted if isinstance(wanted, bool) else dict(wanted)):
            raise FeatureFlagError(
                f"run_project: feature_flags[{key!r}]={wanted!r}, but the environment variable {found.env_key}="
                f"{os.environ.get(found.env_key or '', '')!r} wins over it; pass env={{{found.env_key!r}: ...}} instead"
            )


async def _migrate(app: Application) -> None:
    """``loader db migrate`` on the booted app, with its container for the data scripts.

    In a worker thread: data scripts run in their own event loop (``asyncio.run``), which
    cannot start inside this one. The engine the scripts used is dropped afterwards, so no
    pooled connection made in that thread is handed to this one.
    """
    from loader.db.operations import migrate

    def run() -> None:
        migrate(app.project, container=lambda: app.container, echo=lambda line: None)

    try:
        await asyncio.to_thread(run)
    finally:
        app.container.resolve("database").dispose()


def _apply_environ(overrides: Mapping[str, str | None]) -> None:
    for key, value in overrides.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _restore(
    environ: dict[str, str], path: list[str], modules: dict[str, ModuleType], flags: Any, root: Path, app: Application | None,
) -> None:
    """Put back what a boot changes process-wide; the ``_hygiene`` fixture of loader's own tests does the same."""
    for key in set(os.environ) - set(environ):
        del os.environ[key]
    for key, value in environ.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    sys.path[:] = path
    project = _project_of(app)
    for name in set(sys.modules) - set(modules):
        if (project is not None and project.is_tracked(name)) or _is_project_file(sys.modules.get(name), root):
            del sys.modules[name]
    FeatureFlag.restore(flags)


def _project_of(app: Application | None) -> Project | None:
    """The loaded project, or None when the boot stopped before loading it (an invalid config)."""
    try:
        return app.project if app is not None else None
    except LoaderError:
        return None


_LIBRARIES = tuple({os.path.join(sys.prefix, ""), os.path.join(sys.base_prefix, "")})


def _is_project_file(module: ModuleType | None, root: Path) -> bool:
    """A module loaded from the project folder (not from a virtual environment inside it)."""
    places = [getattr(module, "__file__", None) or "", *getattr(module, "__path__", [])]
    inside = os.path.join(str(root), "")
    return any(p and os.path.abspath(p).startswith(inside) and not os.path.abspath(p).startswith(_LIBRARIES) for p in places)
