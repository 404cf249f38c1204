"""``Application``: the programmatic API — boot, start, stop — that every command is a shell on.

    app = Application("sample_project").boot()   # discover, import, build services, route table
    await app.start()                            # module start hooks, scheduler
    ...                                          # serve app.asgi (uvicorn, or httpx in tests)
    await app.stop()                             # scheduler, event bus, module shutdown hooks

Boot: config → flags → discovery and the load pipeline (:func:`loader.load_project`) → every
kind's binding applies "nothing → everything" (:class:`~loader.runtime.binder.Binder`): modules
and providers (the container, the built-in ``event_bus`` module included), workflows,
subscribers, jobs, the HTTP route table. A reload applies "old → new" through the same
bindings. ``Application`` knows no kind by name.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loader.builtin.modules.event_bus.service import EventBusService
from loader.core.flags import FeatureFlag
from loader.core.gc_pause import freeze_boot_heap, gc_paused, thaw_heap
from loader.core.registry import ChangeSet, Registry
from loader.dev.plan import FileChange
from loader.errors import ImportTimeoutError, LoaderError
from loader.kinds.workflows import Workflow
from loader.project import Project, load_project
from loader.runtime.binder import Binder
from loader.runtime.container import Container
from loader.runtime.handlers import error_response
from loader.runtime.http import HttpApp, build_route_table
from loader.runtime.lazy_engine import LazyEngine
from loader.runtime.modules import ModuleRuntime
from loader.runtime.reloader import Reloader
from loader.runtime.report import ReloadReport
from loader.runtime.scheduler import Scheduler

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["Application"]

log = logging.getLogger("loader.app")

WorkerMode = Literal["shared", "server", "worker"]


class Application:
    """One project, booted and (once started) running.

    Args:
        project_root: The project folder.
        worker_mode: Overrides ``project.worker_mode`` from config: ``server`` serves HTTP
            and no jobs, ``worker`` runs jobs and serves only ``/health``, ``shared`` does both.
        grace_period: Seconds ``stop()`` waits for running jobs and event deliveries.
        set_aside: Files not to import, each listed with its error instead (``loader develop``
            passes the files whose import hung, until they are saved again).
        feature_flags: Flag values laid over the config's ``feature_flags`` (a flag's
            environment variable still wins); what ``loader.testing`` passes.
        openapi_default: Whether ``/openapi.json`` and ``/docs`` are served when
            ``project.http.openapi`` is not set: True for in-process applications and
            ``loader develop``; ``loader start`` passes False.
    """

    def __init__(
        self, project_root: str | Path, *, worker_mode: WorkerMode | None = None, grace_period: float = 10.0,
        set_aside: Mapping[Path, ImportTimeoutError] | None = None, openapi_default: bool = True,
        feature_flags: Mapping[str, bool | dict[str, bool]] | None = None,
    ) -> None:
        self.root = Path(project_root).resolve()
        self.openapi_default = openapi_default
        self.set_aside = dict(set_aside or {})
        self.feature_flags = dict(feature_flags or {})
        self._worker_mode = worker_mode
        self.grace_period = grace_period
        self.container = Container()
        self.modules = ModuleRuntime(self.container)
        self.scheduler = Scheduler()
        self.http: HttpApp | None = None
        self._project: Project | None = None
        self._reloader: Reloader | None = None
        self.started = False

    # -- state --------------------------------------------------------------------------
    @property
    def project(self) -> Project:
        return _booted(self._project)

    @property
    def registry(self) -> Registry:
        return self.project.registry

    @property
    def errors(self) -> list[LoaderError]:
        return self.project.errors

    @property
    def worker_mode(self) -> WorkerMode:
        return self._worker_mode or self.project.config.project.worker_mode

    @property
    def asgi(self) -> HttpApp:
        """The ASGI application to serve (uvicorn) or to call (httpx in tests)."""
        return _booted(self.http)

    @property
    def event_bus(self) -> EventBusService:
        """The built-in ``event_bus`` module's service (its default provider: in-process)."""
        bus: EventBusService = self.container.resolve("event_bus")
        return bus

    @property
    def workflows(self) -> dict[str, Workflow]:
        return {r.id: r.obj for r in self.registry.snapshot().of("workflow")}

    @property
    def runs_jobs(self) -> bool:
        return self.worker_mode in ("shared", "worker")

    @property
    def serves_routes(self) -> bool:
        return self.worker_mode in ("shared", "server")

    # -- lifecycle ----------------------------------------------------------------------
    def boot(self) -> Application:
        """Discover and import everything, then bind it: services, subscriptions, schedule, routes."""
        with gc_paused():  # the bindings' objects (route table, instances) live on, as the imports do
            project = self._project = load_project(self.root, set_aside=self.set_aside, feature_flags=self.feature_flags)
            self.container.register("feature_flags", FeatureFlag, source="loader", replace=True)
            self.container.register("database", LazyEngine(self._make_engine), source="loader", replace=True)
            self.http = HttpApp(
                build_route_table([], []), on_startup=self.start, on_shutdown=self.stop,
                max_body_size=project.config.project.http.max_body_size, cors=project.config.project.http.cors,
            )
            self.http.state.container = self.container
            self.http.state.application = self
            self._serve_api_docs()
            binder = Binder(self, project.registry, project.kinds, project.plugin_manager, project.display)
            errors = _run_to_completion(binder.boot())
            if errors:
                project.registry.apply(ChangeSet(errors=errors))
            self._reloader = Reloader(project, binder)
        return self

    def serve_dev_inspect(self) -> None:
        """Answer ``GET /_loader/inspect`` with ``loader inspect --json`` of the live registry.

        For ``loader develop`` only, and only to clients on the loopback address: it shows
        source paths and errors, which are nobody else's business.
        """

        async def inspect_endpoint(request: Request) -> Response:
            client = request.client.host if request.client else ""
            if request.method != "GET" or not _is_loopback(client):
                return error_response(404, "not_found", "Not Found")
            return JSONResponse(json.loads(json.dumps(self.project.inspect_data(), default=str)))

        self.asgi.internal["/_loader/inspect"] = inspect_endpoint

    def _serve_api_docs(self) -> None:
        """``/openapi.json`` and ``/docs`` as ``project.http`` says (see :mod:`loader.runtime.api_docs`)."""
        http = self.project.config.project.http
        # ``docs=True`` alone (under ``loader start``) asks for the page, so for the document it shows.
        document = http.openapi if http.openapi is not None else (http.docs or self.openapi_default)
        if not document or not self.serves_routes:
            return
        from loader.runtime.api_docs import ApiDocs

        docs = ApiDocs(self.asgi, self.root.name, self.root)
        self.asgi.fallback.update(docs.endpoints(page=document if http.docs is None else http.docs))

    def _make_engine(self) -> Engine:
        from loader.db.engine import database_url, make_engine  # SQLAlchemy loads on first use

        return make_engine(database_url(self.project))

    # -- hot reload ---------------------------------------------------------------------
    async def reload(self, paths: Iterable[str | Path | FileChange]) -> ReloadReport:
        """Reload what the given files touch, in place; see ``docs/reload.md``.

        ``paths`` are files that changed (added, modified or deleted: loader looks at the disk),
        or ``FileChange`` objects. Returns the report; never raises for a user error — a broken
        file leaves the previous version serving and is in ``report.errors``.
        """
        changes = [p if isinstance(p, FileChange) else _change_for(Path(p)) for p in paths]
        return await self._require_reloader().reload(changes)

    async def unload(self, path: str | Path) -> ReloadReport:
        """Take a file's resources out of the running application (the file stays on disk)."""
        return await self._require_reloader().reload([FileChange("deleted", Path(path).resolve())])

    def _require_reloader(self) -> Reloader:
        return _booted(self._reloader)

    async def start(self) -> None:
        """Run module start hooks, then start the scheduler. Raises ``ModuleStartError``.

        The booted heap is then frozen out of the cyclic GC's sight until ``stop()``
        (:func:`~loader.core.gc_pause.freeze_boot_heap`: no collection walks the whole
        application while it serves, and a reload's cost does not grow with the project).
        """
        if self.started:
            return
        await self.modules.start()
        await self.scheduler.start()
        self.started = True
        freeze_boot_heap()

    async def stop(self, grace: float | None = None) -> bool:
        """Stop the scheduler (running jobs get ``grace`` seconds), drain events, shut modules down.

        Returns True when every running job and event delivery finished in time.
        """
        if not self.started:
            return True
        grace = self.grace_period if grace is None else grace
        thaw_heap()
        jobs_done = await self.scheduler.stop(grace)
        events_done = await self.event_bus.drain(grace)
        await self.modules.stop()
        self.container.resolve("database").dispose()
        self.started = False
        return jobs_done and events_done

    def __repr__(self) -> str:
        state = "started" if self.started else ("booted" if self._project else "new")
        return f"<Application {str(self.root)!r} {state}>"


T = TypeVar("T")


def _booted(value: T | None) -> T:
    """What ``boot()`` sets up, or a clear error for a caller that forgot to boot."""
    if value is None:
        raise LoaderError("the application is not booted yet; call app.boot() first")
    return value


def _run_to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends — the boot's bindings, before anything runs.

    ``boot()`` is synchronous (and may be called inside a running event loop), and binding at
    boot builds objects without waiting on anything: asynchronous work belongs in a module's
    ``on_start``, which ``start()`` awaits.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise LoaderError("a binding awaited something while the application booted; do asynchronous work in a module's on_start")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _change_for(path: Path) -> FileChange:
    path = path.resolve()
    return FileChange("modified" if path.exists() else "deleted", path)
