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
from functools import cache, cached_property
from pathlib import Path
from types import ModuleType

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from loader import hookspecs
from loader.core.importer import describe_import_failure, is_user_failure
from loader.errors import LoaderError, PluginLoadError
from loader.types import shown_relative

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "installed_plugins", "package_folder", "loader_version", "new_plugin_manager", "load_plugin"]

ENTRY_POINT_GROUP = "loader.plugins"


def loader_version() -> str:
    """This loader's version (``loader.__version__``, which pyproject.toml reads too)."""
    from loader import __version__

    return __version__


class PluginInfo:
    """One installed plugin, as ``loader plugins`` and ``loader inspect`` show it.

    Listing plugins imports nothing and reads a distribution's metadata (name, version,
    the loader versions it requires) only when asked: at boot, only for the plugins the
    config enables.
    """

    def __init__(
        self,
        name: str,
        entry_point: str,
        entry: md.EntryPoint | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
        root: Path | None = None,
    ) -> None:
        self.name, self.entry_point, self._entry, self.root = name, entry_point, entry, root
        self._distribution, self._version = distribution, version
        self.enabled = False
        self.options: dict[str, object] | None = None
        self.error: LoaderError | None = None

    @cached_property
    def distribution(self) -> str:
        dist = self._entry.dist if self._entry else None
        return self._distribution or (dist.name if dist else "?")

    @cached_property
    def version(self) -> str:
        dist = self._entry.dist if self._entry else None
        return self._version or (dist.version if dist else "?")

    @cached_property
    def _requirement(self) -> Requirement | None:
        return _loader_requirement(self._entry.dist if self._entry else None)

    @property
    def requirement(self) -> str | None:
        """The loader versions the plugin declares it supports, e.g. ``loader<0.2,>=0.1``."""
        return str(self._requirement) if self._requirement else None

    @property
    def compatible(self) -> bool | None:
        """Whether the installed loader is in that range; None when the plugin does not say."""
        req = self._requirement
        return None if req is None else req.specifier.contains(Version(loader_version()), prereleases=True)

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
    found = [PluginInfo(ep.name, f"{ep.name} = {ep.value}", ep) for ep in md.entry_points(group=ENTRY_POINT_GROUP)]
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
    # An installed plugin loads through its entry point; a local folder by its package name.
    module_name = entry.module if entry is not None else (info.root.name if info.root else info.name)
    try:
        loaded = entry.load() if entry is not None else importlib.import_module(module_name)
    except BaseException as exc:
        if not is_user_failure(exc):
            raise
        path, line, source_line = describe_import_failure(exc, _relative_to_package_parent(module_name))
        raise PluginLoadError(
            f"{label} failed to import: {type(exc).__name__}: {exc}", path=path, line=line, source_line=source_line
        ) from exc
    module = loaded if isinstance(loaded, ModuleType) else importlib.import_module(module_name)
    try:
        pm.register(loaded, name=info.name)
        pm.check_pending()
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginLoadError(f"{label} has invalid hooks: {exc}") from exc
    info.root = _package_dir(module)
    return module


def package_folder(name: str) -> Path | None:
    """The folder of the package ``name`` from its import spec, or None when it is not a package.

    Nothing is imported for a top-level name (a plugin's package): the watcher and error
    messages find a plugin's folder without running its code.
    """
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _relative_to_package_parent(module_name: str) -> Callable[[str], str]:
    """Show a plugin's files as ``loader_plugin_x/__init__.py``, like every other path."""
    folder = package_folder(module_name.partition(".")[0])
    base = folder.parent if folder is not None else None
    return lambda filename: shown_relative(filename, base)


def _package_dir(module: ModuleType) -> Path:
    paths = list(getattr(module, "__path__", []) or [])
    if paths:
        return Path(paths[0])
    return Path(os.path.dirname(module.__file__ or "."))
