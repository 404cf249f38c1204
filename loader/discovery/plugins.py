"""Plugins: installed distributions with a ``loader.plugins`` entry point.

An entry point names the plugin's root package, scanned like a project's ``src/``; the package
may also define pluggy hook implementations. Only plugins listed in config load. A plugin
declares the loader versions it supports the standard way, as a requirement on ``loader`` in
its distribution metadata (``dependencies = ["loader>=0.1,<0.2"]``); that is checked before
the plugin is imported.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from loader import hookspecs
from loader.core.importer import describe_import_failure
from loader.errors import LoaderError, PluginLoadError

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "installed_plugins", "loader_version", "new_plugin_manager", "load_plugin"]

ENTRY_POINT_GROUP = "loader.plugins"


def loader_version() -> str:
    try:
        return md.version("loader")
    except md.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


@dataclass
class PluginInfo:
    """One installed plugin, as ``loader plugins`` and ``loader inspect`` show it."""

    name: str
    distribution: str
    version: str
    entry_point: str
    requirement: str | None = None  # e.g. "loader>=0.1,<0.2"
    compatible: bool | None = None  # None: the plugin does not say
    enabled: bool = False
    options: dict[str, object] | None = None
    root: Path | None = None
    error: LoaderError | None = None
    _entry: md.EntryPoint | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.entry_point,
            "requires_loader": self.requirement,
            "compatible": self.compatible,
            "enabled": self.enabled,
            "root": str(self.root) if self.root else None,
            "error": self.error.format() if self.error else None,
        }

    def matches(self, resolve: str) -> bool:
        return resolve == self.name or canonicalize_name(resolve) == canonicalize_name(self.distribution)

    def __repr__(self) -> str:
        return f"<plugin {self.name!r} {self.distribution} {self.version} enabled={self.enabled}>"


def installed_plugins() -> list[PluginInfo]:
    """Every installed ``loader.plugins`` entry point, sorted by name; nothing is imported."""
    current = Version(loader_version())
    found = []
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        requirement = _loader_requirement(dist)
        compatible = None if requirement is None else requirement.specifier.contains(current, prereleases=True)
        found.append(
            PluginInfo(
                name=ep.name,
                distribution=dist.name if dist else "?",
                version=dist.version if dist else "?",
                entry_point=f"{ep.name} = {ep.value}",
                requirement=str(requirement) if requirement else None,
                compatible=compatible,
                _entry=ep,
            )
        )
    return sorted(found, key=lambda p: p.name)


def _loader_requirement(dist: md.Distribution | None) -> Requirement | None:
    for line in (dist.requires or []) if dist else []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) == "loader" and req.marker is None:
            return req
    return None


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugin(info: PluginInfo, pm: pluggy.PluginManager) -> ModuleType:
    """Check compatibility, import the plugin's root package and register its hooks.

    Raises:
        PluginLoadError: incompatible, or the import raised; names distribution, version and
            entry point, and the plugin's ``path:line`` when the error is in its code.
    """
    label = f"plugin {info.name!r} ({info.distribution} {info.version}, entry point '{info.entry_point}')"
    if info.compatible is False:
        raise PluginLoadError(
            f"{label} supports {info.requirement}, but loader {loader_version()} is installed; "
            "upgrade the plugin or install a loader version it supports"
        )
    entry = info._entry
    if entry is None:
        raise PluginLoadError(f"{label} has no entry point to load")
    try:
        loaded = entry.load()
    except Exception as exc:
        path, line, source_line = describe_import_failure(exc, _relative_to_package_parent(entry.module))
        raise PluginLoadError(
            f"{label} failed to import: {type(exc).__name__}: {exc}", path=path, line=line, source_line=source_line
        ) from exc
    module = loaded if isinstance(loaded, ModuleType) else importlib.import_module(entry.module)
    try:
        pm.register(loaded, name=info.name)
        pm.check_pending()
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginLoadError(f"{label} has invalid hooks: {exc}") from exc
    info.root = _package_dir(module)
    return module


def _relative_to_package_parent(module_name: str) -> Callable[[str], str]:
    """Show a plugin's files as ``loader_plugin_x/__init__.py``, like every other path."""
    spec = importlib.util.find_spec(module_name.partition(".")[0])
    locations = list(spec.submodule_search_locations or []) if spec else []
    base = Path(locations[0]).parent if locations else None

    def display(filename: str) -> str:
        path = Path(filename)
        if base is not None and path.is_relative_to(base):
            return path.relative_to(base).as_posix()
        return filename

    return display


def _package_dir(module: ModuleType) -> Path:
    paths = list(getattr(module, "__path__", []) or [])
    if paths:
        return Path(paths[0])
    return Path(os.path.dirname(module.__file__ or "."))
