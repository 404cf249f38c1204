"""The protocol every resource kind implements, and the helpers kind modules share.

A kind says which folder it owns, which roots it is looked for in, how to collect its
resources from an imported module, what two resources must not share, and whether it can be
reloaded in place. Plugins add kinds through the ``loader_register_kinds`` hook with the same
protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, ClassVar, Protocol, runtime_checkable

from loader.core.registry import ConflictPolicy
from loader.errors import ResourceValidationError
from loader.types import Resource, RootKind, SourceFile

__all__ = ["ResourceKind", "BaseKind", "defined_in", "line_of", "RESOURCE_ROOTS"]

#: Roots that hold the convention folders (api/, subscribers/, jobs/…).
RESOURCE_ROOTS: frozenset[RootKind] = frozenset({"builtin", "plugin", "project"})


@runtime_checkable
class ResourceKind(Protocol):
    """What loader needs to know about one kind of resource."""

    @property
    def name(self) -> str:
        """Singular, e.g. "route": the ``kind`` of its resources."""
        ...

    @property
    def folder(self) -> str:
        """The folder below a root it owns, e.g. "api" ("" for a root's own ``__init__.py``)."""
        ...

    @property
    def root_kinds(self) -> frozenset[RootKind]:
        """Which roots it is looked for in."""
        ...

    @property
    def reloadable(self) -> bool:
        """False: a change to one of its files restarts the dev server."""
        ...

    @property
    def conflict_policy(self) -> ConflictPolicy:
        """Between origins: the later root overrides, or it is an error."""
        ...

    def claims(self, relpath: str) -> bool:
        """Whether a file (POSIX path relative to its root) belongs to this kind."""
        ...

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        """The resources a freshly imported module defines; raise ResourceValidationError."""
        ...

    def conflict_key(self, resource: Resource) -> object:
        """What two enabled resources must not share."""
        ...


class BaseKind:
    """Defaults for kind modules: claim every file below ``folder``; conflicts on ``id``."""

    name: ClassVar[str]
    folder: ClassVar[str]
    root_kinds: ClassVar[frozenset[RootKind]] = RESOURCE_ROOTS
    reloadable: ClassVar[bool] = True
    conflict_policy: ClassVar[ConflictPolicy] = "error"

    def claims(self, relpath: str) -> bool:
        return relpath.startswith(self.folder + "/")

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:  # pragma: no cover
        raise NotImplementedError

    def conflict_key(self, resource: Resource) -> object:
        return resource.id

    def resource(
        self, source: SourceFile, id: str, obj: Any, export: str, line: int | None, **meta: Any
    ) -> Resource:
        return Resource(kind=self.name, id=id, obj=obj, source=source, line=line, export=export, meta=meta)

    def invalid(self, source: SourceFile, line: int | None, message: str) -> ResourceValidationError:
        return ResourceValidationError(message, path=source.display, line=line)

    def __repr__(self) -> str:
        return f"<kind {self.name!r} folder={self.folder!r}>"


def defined_in(module: ModuleType, accept: Callable[[Any], bool]) -> Iterator[tuple[str, Any]]:
    """``(export name, object)`` for each accepted object that this module itself defined.

    Objects imported from another file are skipped, so a workflow imported by a route is
    collected once, from its own file. Our constructors record ``defined_in``; functions and
    classes carry ``__module__``.
    """
    name = module.__name__
    for export, obj in list(module.__dict__.items()):
        if not accept(obj):
            continue
        owner = getattr(obj, "defined_in", None) or getattr(obj, "__module__", None)
        if owner == name:
            yield export, obj


def line_of(obj: Any) -> int | None:
    """First line of a function (its first decorator) without reading the file."""
    code = getattr(getattr(obj, "__wrapped__", obj), "__code__", None)
    return code.co_firstlineno if code is not None else None
