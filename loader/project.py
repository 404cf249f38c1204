"""Loading a project: config → plugins → flags → discovery → import → registry.

:func:`load_project` is the whole boot of discovery; the runtime builds on the
:class:`Project` it returns. A broken file, plugin or flag is recorded in the registry's
errors and everything else still loads; only an unreadable config stops the boot.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
import pluggy

from loader.config.loading import CONFIG_FILE, is_project, load_config, load_env, locate_config_line
from loader.config.models import LoaderConfig
from loader.core import file_config
from loader.core.flags import FeatureFlag, FlagRouter, FlagSettings
from loader.core.importer import describe_import_failure, ensure_on_sys_path, import_source
from loader.core.registry import ChangeSet, Registry
from loader.discovery.plugins import PluginInfo, installed_plugins, load_plugin, new_plugin_manager
from loader.discovery.roots import builtin_root, module_roots, project_root
from loader.discovery.scan import scan_root
from loader.errors import ConfigError, LoaderError, PluginLoadError
from loader.kinds import ResourceKind, builtin_kinds
from loader.types import Origin, Resource, Root, SourceFile

__all__ = ["Project", "load_project"]


@dataclass
class Project:
    """A loaded project: what ``loader inspect`` shows and the runtime serves."""

    root: Path
    config: LoaderConfig
    config_path: Path | None
    registry: Registry
    plugins: list[PluginInfo]
    plugin_manager: pluggy.PluginManager
    kinds: list[ResourceKind]
    roots: list[Root]
    files: list[SourceFile]
    flags: FlagRouter = field(default_factory=lambda: FeatureFlag)
    env_added: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[LoaderError]:
        return self.registry.errors

    def kind(self, name: str) -> ResourceKind:
        return next(k for k in self.kinds if k.name == name)

    def display(self, filename: str) -> str:
        """A file's name as messages show it: relative to its root's display folder."""
        path = Path(filename)
        for root in self.roots:
            if path.is_relative_to(root.path):
                return root.display(path)
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return filename

    def __repr__(self) -> str:
        return f"<Project {str(self.root)!r}: {len(self.registry)} resources, {len(self.errors)} errors>"


def load_project(root: str | Path, *, safe_mode: bool | None = None) -> Project:
    """Discover, import and register everything a project and its enabled plugins define.

    Raises:
        ConfigError: the folder is not a project, or ``loader_config.py`` is invalid.
    """
    root = Path(root).resolve()
    if not root.is_dir() or not is_project(root):
        raise ConfigError(f"{root} is not a loader project: expected a {CONFIG_FILE} or a src/ folder in it")
    env_added = load_env(root)
    config, config_path = load_config(root)
    ensure_on_sys_path(root)
    FeatureFlag.clear()
    if safe_mode is None:
        safe_mode = os.environ.get("LOADER_SAFE_MODE", "").strip().lower() in {"1", "true", "yes", "on"}

    errors: list[LoaderError] = []
    pm = new_plugin_manager()
    plugins, plugin_roots = _enable_plugins(config, config_path, pm, safe_mode, errors)
    try:
        pm.hook.loader_configure(config=config, project_root=root)
    except LoaderError as exc:
        errors.append(exc)
    except Exception as exc:
        path, line, text = describe_import_failure(exc, str)
        errors.append(PluginLoadError(f"a plugin's loader_configure hook raised {type(exc).__name__}: {exc}", path=path, line=line, source_line=text))
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
    project = Project(root, config, config_path, registry, plugins, pm, kinds, roots, files, env_added=env_added)
    by_kind = {k.name: [f for f in files if f.kind == k.name] for k in kinds}
    resources = _load_flags(project, by_kind.pop("flag", []), errors)
    for kind in kinds:
        for source in by_kind.get(kind.name, []):
            resources.extend(_load_file(project, kind, source, errors))
    registry.apply(ChangeSet(add=resources, errors=errors), drop_conflicting=True)
    for resource in registry.list():
        pm.hook.loader_resource_loaded(resource=resource)
    pm.hook.loader_project_loaded(registry=registry)
    return project


def _enable_plugins(
    config: LoaderConfig, config_path: Path | None, pm: pluggy.PluginManager, safe_mode: bool, errors: list[LoaderError]
) -> tuple[list[PluginInfo], list[Root]]:
    plugins = installed_plugins()
    roots: list[Root] = []
    for index, entry in enumerate(config.plugins):
        line = locate_config_line(str(config_path), None, ["plugins", index]) if config_path else None
        matches = [p for p in plugins if p.matches(entry.resolve)]
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
        if safe_mode:
            continue
        try:
            module = load_plugin(info, pm) if info._entry is not None else None
        except PluginLoadError as exc:
            info.error = exc
            errors.append(exc)
            continue
        info.enabled = True
        folder = info.root
        if folder is None:  # pragma: no cover - load_plugin always sets it
            continue
        package = module.__name__ if module is not None else folder.name
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
    return PluginInfo(folder.name, "(local)", "-", resolve, root=folder)


def _all_kinds(pm: pluggy.PluginManager, errors: list[LoaderError]) -> list[ResourceKind]:
    kinds = builtin_kinds()
    for plugin_kinds in pm.hook.loader_register_kinds():
        for kind in plugin_kinds or []:
            taken = {k.name for k in kinds} | {k.folder for k in kinds if k.folder}
            if not isinstance(kind, ResourceKind) or kind.name in taken or kind.folder in taken:
                errors.append(PluginLoadError(f"resource kind {kind!r} from a plugin is invalid or reuses a kind name or folder already taken"))
                continue
            kinds.append(kind)
    return kinds


def _load_flags(project: Project, sources: Iterable[SourceFile], errors: list[LoaderError]) -> list[Resource]:
    """Import every flag file and register its flags before any other file is imported."""
    resources: list[Resource] = []
    kind = project.kind("flag")
    for source in sources:
        for resource in _load_file(project, kind, source, errors, honour_file_config=False):
            settings: FlagSettings = resource.obj
            try:
                FeatureFlag.register(settings, project.config.feature_flags, display_path=source.display)
            except LoaderError as exc:
                errors.append(exc)
                continue
            resources.append(resource)
    for key, value in project.config.feature_flags.items():
        FeatureFlag.set_config_only(key, value)
    return resources


def _load_file(
    project: Project, kind: ResourceKind, source: SourceFile, errors: list[LoaderError], *, honour_file_config: bool = True
) -> list[Resource]:
    """Import one file and collect its resources, disabled (with the reason) if its file config says so."""
    try:
        module = import_source(source, project.display)
        reason = file_config.evaluate(module, source.display) if honour_file_config else None
        resources = kind.collect(module, source)
    except LoaderError as exc:
        errors.append(exc)
        return []
    except Exception as exc:  # a plugin kind's collect() is not ours to trust
        errors.append(LoaderError(f"{kind.name} collection failed: {type(exc).__name__}: {exc}", path=source.display))
        return []
    if reason is not None:
        resources = [dataclasses.replace(r, enabled=False, disabled_reason=reason) for r in resources]
    return resources

