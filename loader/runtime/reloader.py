"""Hot reload of a running application: plan, build beside the old, then swap.

1. **Plan** (:func:`loader.dev.plan.plan_reload`, pure): which modules to import again, in
   dependency order, which files' resources to collect, what to unload — or restart.
2. **Build**: the new versions are imported from source beside the old ones (the old module
   objects are kept aside), their resources collected, their file config evaluated, and the
   whole change validated by the registry. Any error (syntax, import, validation, duplicate)
   puts every old module back: the old version keeps serving, and the report carries the error
   with ``path:line`` and the offending source line.
3. **Swap**: the registry change is committed in one step, then each affected kind is
   switched: a new route table (one assignment), subscribers by id, jobs reconciled by id,
   workflows rebound, modules shut down, rebuilt and rebound. Requests, job runs and workflow
   executions already running finish on the code they started with.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from loader.core import file_config
from loader.core.flags import FeatureFlag, FlagSettings
from loader.core.import_graph import ImportGraph
from loader.core.importer import import_fresh
from loader.core.registry import ChangeSet
from loader.dev.plan import FileChange, ProjectIndex, ReloadPlan, plan_reload
from loader.errors import LoaderError
from loader.runtime.report import ReloadReport
from loader.types import Resource, SourceFile

if TYPE_CHECKING:
    from loader.runtime.application import Application

__all__ = ["Reloader"]

log = logging.getLogger("loader.reload")


class Reloader:
    """Applies reloads to one booted application, one at a time."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self._lock = asyncio.Lock()
        project = app.project
        self.sources: dict[Path, SourceFile] = {s.path: s for s in project.files}
        self.failed: set[Path] = {s.path for s in project.files if project.registry.errors_for(s.display)}
        self._modules: dict[str, Path] = {}
        self._modules_seen = -1  # len(sys.modules) when _modules was built

    # -- the index the planner reads ----------------------------------------------------
    def index(self) -> ProjectIndex:
        project = self.app.project
        # Which tracked module is which file: rebuilt only when modules came or went (a reload
        # replaces module objects under the same names and files).
        if len(sys.modules) != self._modules_seen:
            self._modules = {
                name: Path(file)
                for name, module in list(sys.modules.items())
                if project.is_tracked(name) and (file := getattr(module, "__file__", None))
            }
            self._modules_seen = len(sys.modules)
        return ProjectIndex(project.root, project.roots, project.kinds, dict(self.sources), frozenset(self.failed), project.import_graph, dict(self._modules))

    # -- entry points ---------------------------------------------------------------------
    async def reload(self, changes: Iterable[FileChange]) -> ReloadReport:
        async with self._lock:  # one reload at a time; callers queue here
            started = time.perf_counter()
            index = self.index()
            plan = plan_reload(list(changes), index)
            report = ReloadReport.from_plan(plan)
            if not plan.restart and not plan.empty:
                try:
                    await self._apply(plan, report, index)
                except LoaderError as exc:
                    report.errors.append(exc)
                except Exception as exc:  # a bug while swapping: state may be inconsistent
                    log.exception("unexpected error while swapping in a reload")
                    report.restart_reason = f"unexpected error while swapping ({type(exc).__name__}: {exc}); state may be inconsistent"
            report.duration_ms = (time.perf_counter() - started) * 1000
            return report

    # -- build ----------------------------------------------------------------------------
    async def _apply(self, plan: ReloadPlan, report: ReloadReport, index: ProjectIndex) -> None:
        project = self.app.project
        graph = project.import_graph
        names = [m for group in plan.import_groups for m in group]
        doomed = [s.module_name for s in plan.unload] + plan.deleted_modules
        saved: dict[str, ModuleType | None] = {m: sys.modules.get(m) for m in [*names, *doomed]}
        saved_edges = {m: graph.imports(m) for m in saved}
        for module in saved:
            sys.modules.pop(module, None)
            graph.forget(module)
        files_by_module = {s.module_name: s.path for s in plan.resource_files}
        flags = FeatureFlag.snapshot()
        try:
            with graph.recording():
                for module in names:
                    path = files_by_module.get(module) or index.modules.get(module) or _file_of(saved.get(module))
                    if path is None or not path.is_file():
                        continue
                    import_fresh(module, path, project.display)
                change = self._collect(plan)
            old = {r.owner_key: r for r in project.registry.list() if r.source.display in change.remove_sources}
            project.registry.apply(change)  # validates everything (duplicates…), then commits
        except LoaderError as exc:
            _restore(saved, saved_edges, graph)
            FeatureFlag.restore(flags)
            failed_file = next((s.path for s in plan.resource_files if s.display == exc.path), None)
            if failed_file is not None:
                self.failed.add(failed_file)
            raise
        except BaseException:
            _restore(saved, saved_edges, graph)
            FeatureFlag.restore(flags)
            raise
        for source in plan.unload:
            self.sources.pop(source.path, None)
        for source in plan.resource_files:
            self.sources[source.path] = source
            self.failed.discard(source.path)
        new = [r for r in project.registry.list() if r.source.display in change.remove_sources]
        report.record(list(old.values()), new, project.registry.counts())
        await self._swap(list(old.values()), new, report)

    def _collect(self, plan: ReloadPlan) -> ChangeSet:
        project = self.app.project
        remove = {s.display for s in [*plan.unload, *plan.resource_files]}
        remove |= {e.path for e in project.registry.errors if e.path in plan.why}
        added: list[Resource] = []
        flag_sources = [s for s in plan.resource_files if s.kind == "flag"]
        if flag_sources:
            added += self._reload_flags(flag_sources)
        for source in plan.resource_files:
            if source.kind == "flag":
                continue
            module = sys.modules.get(source.module_name)
            if module is None:  # its import was skipped: the file is gone
                continue
            reason = file_config.evaluate(module, source.display)
            resources = project.kind(source.kind).collect(module, source)
            added += [dataclasses.replace(r, enabled=False, disabled_reason=reason) for r in resources] if reason else resources
        if plan.flags_changed:  # a flag's value may have changed: every file's is_disabled again
            extra_remove, extra_add = self._reevaluate_file_configs(exclude=remove)
            remove |= extra_remove
            added += extra_add
        return ChangeSet(remove_sources=remove, add=added)

    def _reload_flags(self, sources: list[SourceFile]) -> list[Resource]:
        project = self.app.project
        resources: list[Resource] = []
        for source in sources:
            for old in project.registry.by_source(source.display):
                FeatureFlag.unregister(old.id)
            module = sys.modules.get(source.module_name)
            if module is None:
                continue
            for resource in project.kind("flag").collect(module, source):
                settings: FlagSettings = resource.obj
                FeatureFlag.register(settings, project.config.feature_flags, display_path=source.display)
                resources.append(resource)
        return resources

    def _reevaluate_file_configs(self, exclude: set[str]) -> tuple[set[str], list[Resource]]:
        registry = self.app.project.registry
        remove: set[str] = set()
        added: list[Resource] = []
        for display in sorted({r.source.display for r in registry.list()} - exclude):
            current = registry.by_source(display)
            module = sys.modules.get(current[0].source.module_name)
            if module is None or current[0].kind == "flag":
                continue
            reason = file_config.evaluate(module, display)
            if all((r.disabled_reason == reason) and (r.enabled == (reason is None)) for r in current):
                continue
            remove.add(display)
            added += [dataclasses.replace(r, enabled=reason is None, disabled_reason=reason) for r in current]
        return remove, added

    # -- swap ------------------------------------------------------------------------------
    async def _swap(self, old: list[Resource], new: list[Resource], report: ReloadReport) -> None:
        app = self.app
        snapshot = app.registry.snapshot()
        touched = report.kinds_touched
        if "middlewares" in touched:
            app.rebuild_routes()
        elif "route" in touched:
            app.rebuild_routes({r.meta["path"] for r in [*old, *new] if r.kind == "route"})
        # Subscribers: out by id, then in by id, with no await between: never two copies.
        for resource in old:
            if resource.kind == "subscriber":
                for event in resource.meta["events"]:
                    app.event_bus.unsubscribe(event, resource.id)
        for resource in new:
            if resource.kind == "subscriber" and resource.enabled:
                for event in resource.meta["events"]:
                    app.event_bus.subscribe(event, app.subscriber_handler(resource), resource.id, source=str(resource.location), replace=True)
        if "job" in touched and app.worker_mode in ("shared", "worker"):
            app.scheduler.reconcile(app.scheduled_job(r) for r in snapshot.of("job"))
        if "workflow" in touched:
            app.container.register("workflows", app.workflows, source="loader", replace=True)
        if touched & {"module", "provider"}:
            await self._swap_modules(old)

    async def _swap_modules(self, old: Iterable[Resource]) -> None:
        app = self.app
        snapshot = app.registry.snapshot()
        modules = {r.id: r for r in snapshot.of("module")}
        affected = {r.id if r.kind == "module" else r.meta["module"] for r in old if r.kind in ("module", "provider")}
        affected |= {r.id for r in modules.values() if r.source.display in {o.source.display for o in old}}
        for module_id in sorted(affected):
            resource = modules.get(module_id)
            if resource is None:
                await app.modules.remove(module_id)
                continue
            providers = [p for p in snapshot.of("provider") if p.meta["module"] == module_id]
            await app.modules.replace(resource, providers, start=app.started)


def _file_of(module: ModuleType | None) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file) if file else None


def _restore(saved: Mapping[str, ModuleType | None], edges: Mapping[str, set[str]], graph: ImportGraph) -> None:
    """Put every old module back, as if the reload had never started."""
    for name, module in saved.items():
        graph.forget(name)
        for imported in edges.get(name, set()):
            graph.add(name, imported)
        if module is None:
            sys.modules.pop(name, None)
            continue
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, module)
