"""The roots of a project, in load order: built-ins, enabled plugins, ``src/``, then modules
and their providers.

Project and plugin modules (``modules/<name>/__init__.py``) are found without config; config
adds options, external modules (``resolve``) and providers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import loader.builtin
from loader.config.loading import CONFIG_FILE, locate_config_line
from loader.config.models import LoaderConfig, ModuleConfig
from loader.core.importer import module_segment
from loader.discovery.plugins import package_folder
from loader.discovery.scan import module_folders
from loader.errors import ConfigError, LoaderError
from loader.types import Origin, Root

__all__ = ["builtin_root", "project_root", "module_roots"]


def builtin_root() -> Root:
    path = Path(loader.builtin.__file__).parent
    return Root(Origin("builtin"), path, "loader.builtin", "builtin", display_base=path.parent.parent)


def project_root(root: Path) -> Root:
    return Root(Origin("project"), root / "src", "src", "project", display_base=root)


class _Errors:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self.items: list[LoaderError] = []

    def add(self, message: str, loc: list[Any]) -> None:
        line = locate_config_line(str(self.config_path), None, loc) if self.config_path else None
        self.items.append(ConfigError(message, path=CONFIG_FILE if self.config_path else None, line=line))


def module_roots(
    project: Path, config: LoaderConfig, resource_roots: list[Root], config_path: Path | None
) -> tuple[list[Root], list[LoaderError]]:
    """Module roots (found, then from config) followed by their provider roots."""
    errors = _Errors(config_path)
    found: dict[str, Root] = {}
    for parent in resource_roots:
        for folder in module_folders(parent):
            options = dict(parent.options) if parent.kind == "plugin" else {}
            found[folder.name] = Root(
                Origin("module", folder.name), folder, f"{parent.package}.modules.{module_segment(folder.name)}", "module",
                options={"options": options, "owner": str(parent.origin)}, display_base=parent.display_base or parent.path.parent,
            )
    modules: dict[str, Root] = {}
    for name, root in found.items():
        settings = config.modules.get(name)
        if settings is None:
            modules[name] = root
        elif not settings.disable and settings.resolve is None:
            modules[name] = _with_options(root, settings)
    for name, settings in config.modules.items():
        if settings.disable or name in modules:
            continue
        if settings.resolve is None:
            errors.add(
                f"module {name!r} is configured but no modules/{name}/__init__.py was found in src/ or an enabled plugin; "
                "expected a folder, or 'resolve' naming one",
                ["modules", name],
            )
            continue
        located = _resolve_folder(project, settings.resolve)
        if located is None:
            errors.add(f"module {name!r}: cannot resolve {settings.resolve!r}; expected a folder path like './x' or an importable package", ["modules", name, "resolve"])
            continue
        path, package = located
        modules[name] = Root(Origin("module", name), path, package, "module", options={"options": settings.options}, display_base=project)
    providers = _provider_roots(project, config, modules, errors)
    return [*modules.values(), *providers], errors.items


def _with_options(root: Root, settings: ModuleConfig) -> Root:
    merged = {**root.options.get("options", {}), **settings.options}
    return Root(root.origin, root.path, root.package, root.kind, options={**root.options, "options": merged}, display_base=root.display_base)


def _provider_roots(project: Path, config: LoaderConfig, modules: dict[str, Root], errors: _Errors) -> list[Root]:
    roots = []
    for name, settings in config.modules.items():
        if not settings.providers or name not in modules:
            continue
        defaults = [p.id for p in settings.providers if p.is_default]
        if len(defaults) > 1:
            errors.add(f"module {name!r} has {len(defaults)} default providers ({', '.join(defaults)}); expected at most one", ["modules", name, "providers"])
            continue
        ids = [p.id for p in settings.providers]
        if len(set(ids)) != len(ids):
            errors.add(f"module {name!r} lists a provider id twice ({ids}); expected unique ids", ["modules", name, "providers"])
            continue
        module = modules[name]
        named = _builtin_providers(module)
        for index, provider in enumerate(settings.providers):
            # A built-in module's providers are named bare ("sql"), before any package of that name.
            located = named.get(provider.resolve) or _resolve_folder(project, provider.resolve)
            expected = "expected a folder path like './src/providers/x' or an importable package"
            if named:
                expected = f"expected a built-in provider of {name!r} ({', '.join(sorted(named))}), a folder path or an importable package"
            if located is None:
                errors.add(
                    f"provider {provider.id!r} of module {name!r}: cannot resolve {provider.resolve!r}; {expected}",
                    ["modules", name, "providers", index, "resolve"],
                )
                continue
            path, package = located
            is_default = provider.is_default or (len(settings.providers) == 1)
            roots.append(
                Root(
                    Origin("module", f"{name}/{provider.id}"), path, package, "provider",
                    options={"module": name, "id": provider.id, "is_default": is_default, "options": provider.options},
                    display_base=project if path.is_relative_to(project) else module.display_base if path.is_relative_to(module.path) else path.parent,
                )
            )
    return roots


def _builtin_providers(module: Root) -> dict[str, tuple[Path, str]]:
    """``{name: (folder, package)}`` of a built-in module's ``providers/<name>/``; empty for other modules."""
    if module.options.get("owner") != str(Origin("builtin")):
        return {}
    folder = module.path / "providers"
    if not folder.is_dir():
        return {}
    return {
        child.name: (child, f"{module.package}.providers.{child.name}")
        for child in sorted(folder.iterdir())
        if child.name.isidentifier() and (child / "__init__.py").is_file()
    }


def _resolve_folder(project: Path, resolve: str) -> tuple[Path, str] | None:
    """A folder path (relative to the project) or a dotted package → (folder, dotted name)."""
    if resolve.startswith((".", "/")) or "/" in resolve:
        path = (project / resolve).resolve()
        if not (path / "__init__.py").is_file():
            return None
        if path.is_relative_to(project):
            return path, ".".join(map(module_segment, path.relative_to(project).parts))
        return None
    folder = package_folder(resolve)
    return (folder, resolve) if folder is not None else None
