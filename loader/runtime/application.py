"""``Application``: the programmatic API — boot, start, stop — that every command is a shell on.

    app = Application("sample_project").boot()   # discover, import, build services, route table
    await app.start()                            # module start hooks, scheduler
    ...                                          # serve app.asgi (uvicorn, or httpx in tests)
    await app.stop()                             # scheduler, event bus, module shutdown hooks

Boot order: config → flags → discovery (:func:`loader.load_project`) → modules and providers
(container, including the built-in ``event_bus`` module) → subscribers → scheduler and jobs →
HTTP route table.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from loader.builtin.modules.event_bus.service import EventBusService
from loader.core.flags import FeatureFlag
from loader.core.registry import ChangeSet, Registry
from loader.runtime.lazy_engine import LazyEngine
from loader.errors import LoaderError
from loader.kinds.workflows import Workflow
from loader.project import Project, load_project
from loader.runtime.container import Container
from loader.runtime.events import Event
from loader.dev.plan import FileChange
from loader.runtime.http import HttpApp, RouteTable, build_route_table
from loader.runtime.modules import ModuleRuntime
from loader.runtime.reloader import Reloader
from loader.runtime.report import ReloadReport
from loader.runtime.scheduler import ScheduledJob, Scheduler
from loader.types import Resource

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
    """

    def __init__(self, project_root: str | Path, *, worker_mode: WorkerMode | None = None, grace_period: float = 10.0) -> None:
        self.root = Path(project_root).resolve()
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

    # -- lifecycle ----------------------------------------------------------------------
    def boot(self) -> Application:
        """Discover and import everything, build services, subscribe, schedule, route."""
        self._project = load_project(self.root)
        snapshot = self.registry.snapshot()
        module_errors = self.modules.build(list(snapshot.of("module")), list(snapshot.of("provider")))
        if module_errors:
            self.registry.apply(ChangeSet(errors=list(module_errors)))
        self.container.register("feature_flags", FeatureFlag, source="loader", replace=True)
        self.container.register("database", LazyEngine(self._make_engine), source="loader", replace=True)
        self.container.register("workflows", self.workflows, source="loader", replace=True)
        for resource in snapshot.of("subscriber"):
            for event in resource.meta["events"]:
                self.event_bus.subscribe(event, self.subscriber_handler(resource), resource.id, source=str(resource.location))
        if self.worker_mode in ("shared", "worker"):
            self.scheduler.reconcile(self.scheduled_job(r) for r in snapshot.of("job"))
        self.http = HttpApp(self._route_table(), on_startup=self.start, on_shutdown=self.stop)
        self.http.state.container = self.container
        self.http.state.application = self
        self._reloader = Reloader(self)
        return self

    def _make_engine(self) -> Engine:
        from loader.db.engine import database_url, make_engine  # SQLAlchemy loads on first use

        return make_engine(database_url(self.project))

    def _route_table(self, changed_paths: set[str] | None = None) -> RouteTable:
        snapshot = self.registry.snapshot()
        routes = list(snapshot.of("route")) if self.worker_mode != "worker" else []
        previous = self.http.table if self.http is not None else None
        return build_route_table(routes, list(snapshot.of("middlewares")), snapshot.version, previous, changed_paths)

    def rebuild_routes(self, changed_paths: set[str] | None = None) -> None:
        """Build a route table from the registry's snapshot and swap it in (one assignment).

        With ``changed_paths``, only the routes at those URL paths are built again.
        """
        self.asgi.swap(self._route_table(changed_paths))

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
        """Run module start hooks, then start the scheduler. Raises ``ModuleStartError``."""
        if self.started:
            return
        await self.modules.start()
        await self.scheduler.start()
        self.started = True

    async def stop(self, grace: float | None = None) -> bool:
        """Stop the scheduler (running jobs get ``grace`` seconds), drain events, shut modules down.

        Returns True when every running job and event delivery finished in time.
        """
        if not self.started:
            return True
        grace = self.grace_period if grace is None else grace
        jobs_done = await self.scheduler.stop(grace)
        events_done = await self.event_bus.drain(grace)
        await self.modules.stop()
        self.container.resolve("database").dispose()
        self.started = False
        return jobs_done and events_done

    # -- adapters from resources to runtime callables -------------------------------------
    def subscriber_handler(self, resource: Resource) -> Callable[[Event], Any]:
        """The event-bus handler of a subscriber resource: ``fn(event, container[, options])``."""
        fn = resource.obj
        wants_options = "options" in inspect.signature(fn).parameters
        options = resource.source.root.options if resource.origin.kind == "plugin" else {}
        container = self.container

        def handle(event: Event) -> Any:
            return fn(event, container, options=options) if wants_options else fn(event, container)

        return handle

    def scheduled_job(self, resource: Resource) -> ScheduledJob:
        """The scheduler's view of a job resource, bound to the container; id = owner key."""
        fn, container = resource.obj, self.container

        async def run() -> Any:
            result = fn(container)
            return await result if inspect.isawaitable(result) else result

        owner = ":".join(resource.owner_key[1:])
        return ScheduledJob(id=owner, name=resource.id, spec=resource.meta["spec"], run=run, source=str(resource.location))

    def __repr__(self) -> str:
        state = "started" if self.started else ("booted" if self._project else "new")
        return f"<Application {str(self.root)!r} {state}>"


T = TypeVar("T")


def _booted(value: T | None) -> T:
    """What ``boot()`` sets up, or a clear error for a caller that forgot to boot."""
    if value is None:
        raise LoaderError("the application is not booted yet; call app.boot() first")
    return value


def _change_for(path: Path) -> FileChange:
    path = path.resolve()
    return FileChange("modified" if path.exists() else "deleted", path)
