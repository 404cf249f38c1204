"""Hot reload of a running application: plan, build beside the old, then swap.

1. **Plan** (:func:`loader.dev.plan.plan_reload`, pure): which modules to import again, in
   dependency order, which files' resources to collect, what to unload — or restart.
2. **Build**: the new versions are imported from source beside the old ones (the old module
   objects are kept aside), then loaded by the same pipeline as the boot
   (:func:`loader.core.pipeline.load_files`). A file that fails (syntax, import, validation)
   fails alone: it keeps its last good resources (the previous version keeps serving) and
   reports the error with ``path:line``, as a fresh boot of the same files would; its module
   stays out of ``sys.modules``, as after any failed import; the rest of the batch goes on.
3. **Swap**, all or nothing (:class:`loader.runtime.binder.Binder`): the registry prepares
   the change, every binding it touches prepares its part (new module instances are built and
   started, a new route table is built), and only then is everything committed. If one part
   fails, the prepared parts are discarded, every old module object is put back, and the
   report says the reload was refused: nothing changed. Requests, job runs and workflow
   executions already running finish on the code they started with.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from types import ModuleType

from loader.core.flags import FeatureFlag
from loader.core.gc_pause import gc_paused
from loader.core.import_graph import ImportGraph
from loader.core.import_limit import ImportClock, import_timeout, run_limited_async
from loader.core.importer import import_fresh
from loader.core.pipeline import reevaluate_file_configs
from loader.core.registry import ChangeSet, PreparedChange
from loader.dev.plan import FileChange, ProjectIndex, ReloadPlan, plan_reload
from loader.errors import ImportTimeoutError, LoaderError, ResourceImportError
from loader.project import Project
from loader.runtime.binder import Binder
from loader.runtime.report import ReloadReport
from loader.types import Resource, SourceFile

__all__ = ["Reloader"]

log = logging.getLogger("loader.reload")


class Reloader:
    """Applies reloads to one booted project through its binder, one at a time."""

    def __init__(self, project: Project, binder: Binder) -> None:
        self.project, self.binder = project, binder
        self._lock = asyncio.Lock()
        self.limit = import_timeout()
        # Every resource file found at boot or loaded since, whether it loaded or failed.
        self.sources: dict[Path, SourceFile] = {s.path: s for s in project.files}
        self._by_display: dict[str, SourceFile] = {s.display: s for s in project.files}
        self._by_module: dict[str, SourceFile] = {s.module_name: s for s in project.files}
        self._modules: dict[str, Path] = {}
        self._module_of_file: dict[Path, str] = {}
        self._modules_seen = -1  # len(sys.modules) when _modules was built

    # -- the index the planner reads ----------------------------------------------------
    def index(self) -> ProjectIndex:
        project = self.project
        # Which tracked module is which file: rebuilt only when modules came or went (a reload
        # replaces module objects under the same names and files).
        if len(sys.modules) != self._modules_seen:
            self._modules = {
                name: Path(file)
                for name, module in list(sys.modules.items())
                if project.is_tracked(name) and (file := getattr(module, "__file__", None))
            }
            self._module_of_file = {file: name for name, file in self._modules.items()}
            self._modules_seen = len(sys.modules)
        # A set-aside file (its import hung) is retried only when it is saved again.
        failed = frozenset(
            self._by_display[d].path for d in project.registry.failed_sources()
            if d in self._by_display and d not in project.set_aside
        )
        return ProjectIndex(
            project.root, project.roots, project.kinds, self.sources, failed, project.import_graph, self._modules,
            self._by_module, self._module_of_file,
        )

    # -- entry points ---------------------------------------------------------------------
    async def reload(self, changes: Iterable[FileChange]) -> ReloadReport:
        async with self._lock:  # one reload at a time; callers queue here
            started = time.perf_counter()
            changes = list(changes)
            changed = {c.path for c in changes}
            if self.project.set_aside:  # a set-aside file saved again is tried again
                self.project.set_aside -= {d for d in self.project.set_aside if self._by_display[d].path in changed}
            index = self.index()
            plan = plan_reload(changes, index)
            report = ReloadReport.from_plan(plan)
            if not plan.restart and not plan.empty:
                try:
                    await self._apply(plan, report, index, changed)
                except ImportTimeoutError as exc:
                    # The import goes on in its worker thread, or was stopped mid-way: this
                    # process can no longer be trusted to equal a boot. Restart without the file.
                    report.errors = [exc]
                    report.set_aside = [str(exc.source_path)] if exc.source_path else []
                    report.restart_reason = f"{exc.format()}; set aside until it is saved again"
                except Exception as exc:  # a bug in loader: say so, and restart to be safe
                    log.exception("unexpected error during a reload")
                    report.restart_reason = f"unexpected error during the reload ({type(exc).__name__}: {exc})"
            report.duration_ms = (time.perf_counter() - started) * 1000
            return report

    # -- build, then swap -----------------------------------------------------------------
    async def _apply(self, plan: ReloadPlan, report: ReloadReport, index: ProjectIndex, changed: set[Path]) -> None:
        project = self.project
        registry = project.registry
        graph = project.import_graph
        names = [m for group in plan.import_groups for m in group]
        doomed = [s.module_name for s in plan.unload] + plan.deleted_modules
        saved: dict[str, ModuleType | None] = {m: sys.modules.get(m) for m in [*names, *doomed]}
        saved_edges = {m: graph.imports(m) for m in saved}
        saved_flags = FeatureFlag.snapshot()
        saved_file_configs = set(project.with_file_config)
        for module in saved:
            sys.modules.pop(module, None)
            graph.forget(module)
        files_by_module = {s.module_name: s.path for s in plan.resource_files}
        import_errors: dict[str, LoaderError] = {}
        for source in plan.unload:  # a deleted flag file's flags go with it
            if source.kind == "flag":
                for resource in registry.by_source(source.display):
                    FeatureFlag.unregister(resource.id)
        if any(s.kind == "flag" for s in plan.unload):
            for key, value in project.config.feature_flags.items():
                FeatureFlag.set_config_only(key, value)

        def get_module(source: SourceFile) -> ModuleType:
            if source.module_name in import_errors:
                raise import_errors[source.module_name]
            module = sys.modules.get(source.module_name)
            if module is None:  # pragma: no cover - every resource file of the plan was imported
                raise ResourceImportError(f"{source.display} was not imported", path=source.display)
            return module

        def build() -> tuple[ChangeSet, list[Resource], PreparedChange]:
            # Runs in a worker thread (the event loop goes on serving) within the time limit,
            # with the cyclic GC paused as at boot: everything made here lives on.
            with gc_paused():
                with graph.recording():
                    for name in names:
                        path = files_by_module.get(name) or index.modules.get(name) or _file_of(saved.get(name))
                        if path is None or not path.is_file():
                            continue
                        try:
                            with clock.importing(partial(project.display, str(path)), path):
                                import_fresh(name, path, project.display, changed=path in changed)
                        except LoaderError as exc:
                            import_errors[name] = exc
                    result = project.load(plan.resource_files, get_module)
                change = result.change(remove={s.display for s in plan.unload})
                if plan.flags_changed:  # a flag's value may have changed: the file configs again
                    others = [
                        self._by_display[d] for d in sorted(project.with_file_config)
                        if d not in change.remove_sources and d not in change.failed and d in self._by_display
                    ]
                    again = reevaluate_file_configs(others, registry, lambda s: sys.modules.get(s.module_name))
                    change.remove_sources |= again.loaded
                    change.add += again.resources
                    change.failed.update(again.failed)
                # A module that failed stays out of sys.modules, as after a failed import at boot:
                # the next file that imports it tries again (and fails the same way), never
                # binding to the old version. The stale resources hold what they need themselves.
                old = [r for display in change.remove_sources for r in registry.by_source(display)]
                return change, old, registry.prepare(change)

        clock = ImportClock()
        try:
            change, old, prepared = await run_limited_async(build, clock, self.limit, project.display)
            with gc_paused():  # the route table and instances are long-lived too
                refused = await self.binder.apply(prepared)
        except BaseException:
            _restore(saved, saved_edges, graph)
            FeatureFlag.restore(saved_flags)
            project.with_file_config = saved_file_configs
            raise
        if refused:
            _restore(saved, saved_edges, graph)
            FeatureFlag.restore(saved_flags)
            project.with_file_config = saved_file_configs
            report.refused = True
            report.errors = refused
            return
        for source in plan.unload:
            self.sources.pop(source.path, None)
            self._by_display.pop(source.display, None)
            self._by_module.pop(source.module_name, None)
        for source in plan.resource_files:
            self.sources[source.path] = source
            self._by_display[source.display] = source
            self._by_module[source.module_name] = source
        report.errors = [*(e for errors in change.failed.values() for e in errors), *prepared.duplicates]
        report.record(old, change.add, registry.counts())


def _file_of(module: ModuleType | None) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file) if file else None


def _restore(saved: Mapping[str, ModuleType | None], edges: Mapping[str, set[str]], graph: ImportGraph) -> None:
    """Put old modules back (and what they imported), as if they had never been reloaded."""
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
