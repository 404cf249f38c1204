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

from loader.kinds.base import BaseKind, defined_in
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


class ModuleKind(_RootInitKind):
    name = "module"
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
