"""Modules and their providers.

A module is a folder ``modules/<name>/`` whose ``__init__.py`` exports a :class:`Module`.
Project and plugin modules are found without being listed in config; config adds options,
external modules (``resolve``) and providers. A provider is a folder or package whose
``__init__.py`` exports a :class:`ModuleProvider`, listed under its module in config::

    modules={"notification": {"providers": [
        {"resolve": "./src/providers/console", "id": "console", "is_default": True},
    ]}}

Each module and provider folder is also a root for its own ``migrations/`` and
``feature_flags/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, ClassVar

from loader.errors import LoaderError
from loader.kinds.base import BaseBinding, BaseKind, KindChange, Runtime, defined_in
from loader.types import Resource, RootKind, SourceFile, caller_location

__all__ = ["Module", "ModuleProvider", "ModuleKind", "ProviderKind"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Module:
    """Declares a module: its name, its service class, and loaders run when it starts.

    Example (``sample_project/src/modules/blog/__init__.py``)::

        module = Module("blog", service=BlogService)
    """

    def __init__(self, name: str, service: type, loaders: Sequence[Callable[..., Any]] = ()) -> None:
        self.name, self.service, self.loaders = name, service, list(loaders)
        _, self.line, self.defined_in = caller_location()

    def __repr__(self) -> str:
        return f"Module({self.name!r}, service={getattr(self.service, '__name__', self.service)!r})"


class ModuleProvider:
    """Declares a provider of a module (a notification channel, a cache backend…)."""

    def __init__(self, service: type, loaders: Sequence[Callable[..., Any]] = ()) -> None:
        self.service, self.loaders = service, list(loaders)
        _, self.line, self.defined_in = caller_location()

    def __repr__(self) -> str:
        return f"ModuleProvider(service={getattr(self.service, '__name__', self.service)!r})"


class _RootInitKind(BaseKind):
    """A kind defined by its root's own ``__init__.py``, which exports exactly one ``declares``."""

    folder = ""
    declares: ClassVar[type]

    def claims(self, relpath: str) -> bool:
        return relpath == "__init__.py"

    def single(self, module: ModuleType, source: SourceFile) -> tuple[str, Any]:
        cls = self.declares
        found = list(defined_in(module, lambda o: isinstance(o, cls)))
        if len(found) != 1:
            raise self.invalid(
                source, 1, f"a {self.name}'s __init__.py must export exactly one {cls.__name__}(...); found {len(found)}"
            )
        return found[0]


class ModuleBinding(BaseBinding):
    """Modules and providers → built (and started) service instances in the container.

    A module is built again when it or one of its providers changed. New instances are built
    and, in a running application, started in ``prepare``, while the old ones keep serving;
    ``commit`` binds them; ``release`` shuts the old ones down. If one new instance fails to
    build or start during a reload, the new ones are shut down and the reload is refused.
    """

    kinds = frozenset({"module", "provider"})

    async def prepare(self, runtime: Runtime, change: KindChange) -> list[LoaderError]:
        snapshot = change.snapshot
        modules = {r.id: r for r in snapshot.of("module")}
        if change.boot:
            affected = list(modules)
        else:
            touched = {r.id if r.kind == "module" else r.meta["module"] for r in (*change.removed, *change.added)}
            affected = sorted(touched)
        built: dict[str, Any] = {}
        change.state = (affected, built, {})
        errors: list[LoaderError] = []
        for module_id in affected:
            resource = modules.get(module_id)
            if resource is None:
                continue  # gone: uninstalled on commit
            providers = [p for p in snapshot.of("provider") if p.meta["module"] == module_id]
            try:
                instance = runtime.modules.build_instance(resource, providers)
                if runtime.started:
                    await runtime.modules.start_instance(instance)
            except LoaderError as exc:
                errors.append(exc)
                if not change.boot:
                    break
                continue
            built[module_id] = instance
        return errors

    def commit(self, runtime: Runtime, change: KindChange) -> None:
        affected, built, old = change.state
        for module_id in affected:
            previous = runtime.modules.uninstall(module_id) if module_id not in built else runtime.modules.modules.get(module_id)
            if previous is not None:
                old[module_id] = previous
            if module_id in built:
                runtime.modules.install(built[module_id])

    async def discard(self, runtime: Runtime, change: KindChange) -> None:
        _, built, _ = change.state
        for instance in reversed(list(built.values())):
            await runtime.modules.shutdown_instance(instance)

    async def release(self, runtime: Runtime, change: KindChange) -> None:
        _, _, old = change.state
        for instance in reversed(list(old.values())):
            await runtime.modules.shutdown_instance(instance)


class ModuleKind(_RootInitKind):
    name = "module"
    binding = ModuleBinding()
    declares = Module
    root_kinds: ClassVar[frozenset[RootKind]] = frozenset({"module"})

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        export, declared = self.single(module, source)
        if not isinstance(declared.name, str) or not _NAME.match(declared.name):
            raise self.invalid(source, declared.line, f"module name {declared.name!r} must be a Python identifier")
        expected = source.root.origin.name
        if declared.name != expected:
            raise self.invalid(source, declared.line, f"module folder or config key {expected!r} declares Module({declared.name!r}); expected the same name")
        if not isinstance(declared.service, type):
            raise self.invalid(source, declared.line, f"module {declared.name!r}: service must be a class, got {declared.service!r}")
        return [
            self.resource(
                source, declared.name, declared, export, declared.line,
                service=declared.service.__name__, options=source.root.options.get("options", {}),
            )
        ]


class ProviderKind(_RootInitKind):
    name = "provider"
    binding = ModuleKind.binding  # a provider change builds its module again
    declares = ModuleProvider
    root_kinds: ClassVar[frozenset[RootKind]] = frozenset({"provider"})

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        export, declared = self.single(module, source)
        settings = source.root.options
        owner = settings["module"]
        return [
            self.resource(
                source, f"{owner}/{settings['id']}", declared, export, declared.line,
                module=owner, provider_id=settings["id"], is_default=settings["is_default"],
                service=getattr(declared.service, "__name__", repr(declared.service)),
            )
        ]
