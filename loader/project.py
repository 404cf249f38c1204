"""Loading a project: config → plugins → flags → discovery → import → registry.

:func:`load_project` is the whole boot of discovery; the runtime builds on the
:class:`Project` it returns. A broken file, plugin or flag is recorded in the registry's
errors and everything else still loads; only an unreadable config stops the boot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from loader.config.env import env_bool
from loader.config.loading import CONFIG_FILE, load_config, load_env, locate_config_line, require_project
from loader.config.models import LoaderConfig
from loader.core.flags import FeatureFlag, FlagRouter
from loader.core.gc_pause import gc_paused
from loader.core.import_graph import ImportGraph
from loader.core.import_limit import ImportClock, import_timeout, run_limited
from loader.core.importer import describe_import_failure, ensure_on_sys_path, import_source
from loader.core.pipeline import GetModule, LoadResult, load_files
from loader.core.registry import ChangeSet, Registry
from loader.discovery.hooks import call_hook, call_hook_error
from loader.discovery.plugins import PluginInfo, installed_plugins, load_plugin, new_plugin_manager
from loader.discovery.roots import builtin_root, module_roots, project_root
from loader.discovery.scan import scan_root
from loader.errors import ImportTimeoutError, LoaderError, PluginLoadError
from loader.kinds import ResourceKind, builtin_kinds
from loader.logs import apply_requested
from loader.types import Origin, Root, SourceFile, shown_relative

__all__ = ["Project", "load_project"]


@dataclass
class Project:
    """A loaded project: what ``loader inspect`` shows and the runtime serves."""

    root: Path
    config: LoaderConfig
    config_path: Path | None
    registry: Registry
    plugin_infos: list[PluginInfo] | None
    plugin_manager: pluggy.PluginManager
    kinds: list[ResourceKind]
    roots: list[Root]
    files: list[SourceFile]
    flags: FlagRouter = field(default_factory=lambda: FeatureFlag)
    env_added: dict[str, str] = field(default_factory=dict)
    import_graph: ImportGraph = field(default_factory=lambda: ImportGraph(lambda name: False))
    #: Display paths of the loaded files that call ``define_file_config``: what a flag change
    #: evaluates again (no scan of every file).
    with_file_config: set[str] = field(default_factory=set)
    #: Display paths of the files set aside because their import hung (``loader develop``):
    #: listed as errors, retried only when saved again.
    set_aside: set[str] = field(default_factory=set)
    #: Loaded with ``LOADER_SAFE_MODE=1`` (or ``safe_mode=True``): no plugin was loaded.
    safe_mode: bool = False
    _tracked_cache: tuple[frozenset[str], tuple[str, ...]] | None = field(default=None, repr=False)

    def is_tracked(self, module_name: str) -> bool:
        """Whether a module is project or plugin code (what hot reload tracks and reloads)."""
        packages, prefixes = self._tracked
        return module_name in packages or module_name.startswith(prefixes)

    @property
    def _tracked(self) -> tuple[frozenset[str], tuple[str, ...]]:
        if self._tracked_cache is None:  # the roots are fixed once the project is loaded
            packages = frozenset(r.package for r in self.roots if r.kind != "builtin")
            self._tracked_cache = (packages, tuple(p + "." for p in packages))
        return self._tracked_cache

    @property
    def plugins(self) -> list[PluginInfo]:
        """Every installed plugin, with the enabled ones marked (and any load error)."""
        if self.plugin_infos is None:
            self.plugin_infos = installed_plugins()
        return self.plugin_infos

    @property
    def errors(self) -> list[LoaderError]:
        return self.registry.errors

    def kind(self, name: str) -> ResourceKind:
        return next(k for k in self.kinds if k.name == name)

    @property
    def kinds_by_name(self) -> dict[str, ResourceKind]:
        return {k.name: k for k in self.kinds}

    def load(self, sources: Sequence[SourceFile], get_module: GetModule) -> LoadResult:
        """The load pipeline (:func:`loader.core.pipeline.load_files`) on this project's kinds."""
        result = load_files(sources, self.kinds_by_name, self.registry, self.config.feature_flags, get_module)
        self.with_file_config -= result.loaded
        self.with_file_config |= result.with_file_config
        return result

    def display(self, filename: str) -> str:
        """A file's name as messages show it: relative to its root's display folder."""
        path = Path(filename)
        for root in self.roots:
            if path.is_relative_to(root.path):
                return root.display(path)
        return shown_relative(filename, self.root)

    def inspect_data(self) -> dict[str, Any]:
        """What ``loader inspect --json`` prints (and ``GET /_loader/inspect`` in develop)."""
        return {
            "project": str(self.root),
            "safe_mode": self.safe_mode,
            "resources": [self.registry.describe(r) for r in self.registry.list()],
            "flags": [f.to_dict() for f in self.flags.list()],
            "plugins": [p.to_dict() for p in self.plugins],
            "errors": [e.to_dict() for e in self.errors],
        }

    def __repr__(self) -> str:
        return f"<Project {str(self.root)!r}: {len(self.registry)} resources, {len(self.errors)} errors>"


def load_project(
    root: str | Path, *, safe_mode: bool | None = None, set_aside: Mapping[Path, ImportTimeoutError] | None = None,
    feature_flags: Mapping[str, bool | dict[str, bool]] | None = None,
) -> Project:
    """Discover, import and register everything a project and its enabled plugins define.

    The imports run in a worker thread within the time limit (``LOADER_IMPORT_TIMEOUT``,
    :mod:`loader.core.import_limit`). ``set_aside`` files are not imported: each is recorded
    with its error (``loader develop`` passes the files whose import hung). ``feature_flags``
    are laid over the config's ``feature_flags`` (the same precedence: a flag's environment
    variable still wins); :mod:`loader.testing` passes its ``feature_flags=``.

    Raises:
        ConfigError: the folder is not a project, or ``loader_config.py`` is invalid.
        ImportTimeoutError: a file was still importing when the time limit ran out.
    """
    path = Path(root).resolve()
    require_project(path)
    limit = import_timeout()
    clock = ImportClock()

    def work() -> Project:
        with gc_paused():
            return _load(path, safe_mode, clock, dict(set_aside or {}), feature_flags)

    return run_limited(work, clock, limit, lambda filename: shown_relative(filename, path))


def _load(
    root: Path, safe_mode: bool | None, clock: ImportClock, set_aside: dict[Path, ImportTimeoutError],
    feature_flags: Mapping[str, bool | dict[str, bool]] | None = None,
) -> Project:
    env_added = load_env(root)
    with clock.importing(CONFIG_FILE, root / CONFIG_FILE):
        config, config_path = load_config(root)
    if feature_flags:
        config = config.model_copy(update={"feature_flags": {**config.feature_flags, **feature_flags}})
    apply_requested(config.project.logging)  # a server's logging, set up before anything loads
    ensure_on_sys_path(root)
    FeatureFlag.clear()
    if safe_mode is None:
        safe_mode = env_bool("LOADER_SAFE_MODE")

    errors: list[LoaderError] = []
    pm = new_plugin_manager()
    plugins, plugin_roots = _enable_plugins(config, config_path, pm, safe_mode, errors, clock)
    for exc in call_hook(pm, "loader_configure", str, config=config, project_root=root):
        if exc.path is None and config_path is not None:  # a plugin refusing its options
            exc.path, exc.line = CONFIG_FILE, locate_config_line(str(config_path), None, ["plugins"])
        errors.append(exc)
    kinds = _all_kinds(pm, errors)
    resource_roots = [builtin_root(), *plugin_roots, project_root(root)]
    extra_roots, root_errors = module_roots(root, config, resource_roots, config_path)
    errors.extend(root_errors)
    roots = [*resource_roots, *extra_roots]
    files = [f for r in roots for f in scan_root(r, kinds)]

    registry = Registry(
        conflict_keys={k.name: k.conflict_key for k in kinds},
        policies={k.name: k.conflict_policy for k in kinds},
        load_order={str(r.origin): i for i, r in enumerate(roots)},
    )
    project = Project(root, config, config_path, registry, plugins, pm, kinds, roots, files, env_added=env_added, safe_mode=safe_mode)
    project.import_graph = ImportGraph(project.is_tracked)
    rank = {k.name: i for i, k in enumerate(kinds)}
    ordered = sorted(files, key=lambda f: rank[f.kind])  # stable: roots, then paths, within a kind
    project.set_aside = {f.display for f in files if f.path in set_aside}

    def get_module(source: SourceFile) -> ModuleType:
        if source.path in set_aside:
            hung = set_aside[source.path]
            raise ImportTimeoutError(
                f"{hung.message}; set aside: save it to retry", path=hung.path, line=hung.line,
                source_path=source.path, source_display=source.display,
            )
        with clock.importing(source.display, source.path):
            return import_source(source, project.display)

    with project.import_graph.recording():
        loaded = project.load(ordered, get_module)
    change = loaded.change()
    change.errors = errors
    registry.apply(change)
    hook_errors = [e for r in registry.list() for e in call_hook(pm, "loader_resource_loaded", project.display, resource=r)]
    hook_errors += call_hook(pm, "loader_project_loaded", project.display, registry=registry)
    if hook_errors:
        registry.apply(ChangeSet(errors=hook_errors))
    return project


def _enable_plugins(
    config: LoaderConfig, config_path: Path | None, pm: pluggy.PluginManager, safe_mode: bool, errors: list[LoaderError],
    clock: ImportClock,
) -> tuple[list[PluginInfo] | None, list[Root]]:
    if not config.plugins or safe_mode:
        # Safe mode is for telling whether a plugin is the problem: nothing of any plugin runs,
        # not even a path plugin's folder goes on sys.path (its croniter.py would shadow the
        # real one), and a listed plugin that is missing is no error.
        return None, []  # listed lazily by Project.plugins: reading metadata costs ~10 ms
    plugins = installed_plugins()
    roots: list[Root] = []
    for index, entry in enumerate(config.plugins):
        line = locate_config_line(str(config_path), None, ["plugins", index]) if config_path else None
        # entry point names first: comparing distribution names reads each one's metadata
        matches = [p for p in plugins if p.name == entry.resolve] or [p for p in plugins if p.matches(entry.resolve)]
        if not matches:
            local = _local_plugin(config_path, entry.resolve)
            if local is not None:
                plugins.append(local)
                matches = [local]
        if not matches:
            names = ", ".join(p.name for p in plugins) or "none"
            errors.append(
                PluginLoadError(
                    f"plugin {entry.resolve!r} is listed in {CONFIG_FILE} but not installed (installed plugins: {names}); "
                    f"install it with `pip install {entry.resolve}` or fix the name",
                    path=CONFIG_FILE if config_path else None, line=line,
                )
            )
            continue
        info = matches[0]
        info.options = entry.options
        try:
            with clock.importing(f"plugin {info.name}", info.root or Path(info.name)):
                module = load_plugin(info, pm)
        except PluginLoadError as exc:
            info.error = exc
            errors.append(exc)
            continue
        info.enabled = True
        folder = info.root
        if folder is None:  # pragma: no cover - load_plugin always sets it
            continue
        package = module.__name__
        roots.append(Root(Origin("plugin", info.name), folder, package, "plugin", options=entry.options, display_base=folder.parent))
    return plugins, roots


def _local_plugin(config_path: Path | None, resolve: str) -> PluginInfo | None:
    """A plugin given as a folder path: a package folder scanned like ``src/``."""
    if config_path is None or not resolve.startswith((".", "/")):
        return None
    folder = (config_path.parent / resolve).resolve()
    if not (folder / "__init__.py").is_file():
        return None
    ensure_on_sys_path(folder.parent)
    return PluginInfo(folder.name, resolve, distribution="(local folder)", version="-", root=folder)


def _all_kinds(pm: pluggy.PluginManager, errors: list[LoaderError]) -> list[ResourceKind]:
    kinds = builtin_kinds()
    try:
        contributed = pm.hook.loader_register_kinds()
    except Exception as exc:
        errors.extend(call_hook_error("loader_register_kinds", exc))
        return kinds
    for plugin_kinds in contributed:
        for kind in plugin_kinds or []:
            taken = {k.name for k in kinds} | {k.folder for k in kinds if k.folder}
            if not isinstance(kind, ResourceKind) or kind.name in taken or kind.folder in taken:
                errors.append(PluginLoadError(f"resource kind {kind!r} from a plugin is invalid or reuses a kind name or folder already taken"))
                continue
            kinds.append(kind)
    return kinds
