"""The protocol every resource kind implements, and the helpers kind modules share.

A kind says which folder it owns, which roots it is looked for in, how to collect its
resources from an imported module, what two resources must not share, whether it can be
reloaded in place, and — through its :class:`Binding` — how a change of its active resources
is applied to the running application. Boot applies "nothing → everything", a reload
"these old → these new", through the same binding. Plugins add kinds through the
``loader_register_kinds`` hook with the same protocol, binding included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from loader.core.registry import ConflictPolicy, Snapshot
from loader.errors import LoaderError, ResourceValidationError
from loader.types import Resource, RootKind, SourceFile

if TYPE_CHECKING:
    from loader.builtin.modules.event_bus.service import EventBusService
    from loader.runtime.container import Container
    from loader.runtime.http import HttpApp
    from loader.runtime.modules import ModuleRuntime
    from loader.runtime.scheduler import Scheduler

__all__ = ["ResourceKind", "BaseKind", "Binding", "BaseBinding", "KindChange", "Runtime", "defined_in", "line_of", "RESOURCE_ROOTS"]

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

    # Optional: ``binding: Binding | None`` — how its resources reach the running application
    # (absent or None: being in the registry is enough, as for migrations). Read with getattr,
    # so a plugin kind written against the older protocol stays valid.


class Runtime(Protocol):
    """What a binding may touch: the running application's services."""

    @property
    def container(self) -> Container: ...
    @property
    def event_bus(self) -> EventBusService: ...
    @property
    def scheduler(self) -> Scheduler: ...
    @property
    def modules(self) -> ModuleRuntime: ...
    @property
    def asgi(self) -> HttpApp: ...
    @property
    def started(self) -> bool:
        """Whether the application is running (module start hooks have run)."""
        ...
    @property
    def runs_jobs(self) -> bool:
        """``worker_mode`` is ``shared`` or ``worker``: this process schedules jobs."""
        ...
    @property
    def serves_routes(self) -> bool:
        """``worker_mode`` is ``shared`` or ``server``: this process serves the project's routes."""
        ...


@dataclass
class KindChange:
    """One binding's share of a change: its active resources that go, and those that come.

    A file loaded again shows as its old resources in ``removed`` and its new ones in
    ``added``; ``snapshot`` is the registry's view once the change is committed. At boot,
    ``removed`` is empty and ``added`` is everything. ``state`` carries what ``prepare`` built
    for ``commit``, ``discard`` and ``release``.
    """

    kinds: frozenset[str]
    removed: tuple[Resource, ...]
    added: tuple[Resource, ...]
    snapshot: Snapshot
    boot: bool
    state: Any = None

    def ids(self, kind: str | None = None) -> set[str]:
        return {r.id for r in (*self.removed, *self.added) if kind is None or r.kind == kind}


class Binding(Protocol):
    """Applies a change of some kinds' active resources to the running application.

    Phases, for every binding a change touches: ``prepare`` (all of them) → the registry
    commits → ``commit`` (all) → ``release`` (all). If any ``prepare`` fails during a reload,
    the prepared ones are ``discard``-ed and nothing is committed: a reload applies
    completely or not at all. At boot, a binding's errors are recorded and the boot goes on.
    """

    #: The kinds whose changes this binding receives (together, in one ``KindChange``).
    kinds: frozenset[str]

    async def prepare(self, runtime: Runtime, change: KindChange) -> list[LoaderError]:
        """Build (and, when the app is running, start) what is new; make nothing visible yet."""
        ...

    def commit(self, runtime: Runtime, change: KindChange) -> None:
        """Make the change visible: reference swaps and dictionary updates that cannot fail."""
        ...

    async def discard(self, runtime: Runtime, change: KindChange) -> None:
        """Undo ``prepare``: the change is not applied."""
        ...

    async def release(self, runtime: Runtime, change: KindChange) -> None:
        """After ``commit``: shut down what the removed resources held."""
        ...


class BaseBinding:
    """No-op phases: a binding overrides what it needs."""

    kinds: frozenset[str] = frozenset()

    async def prepare(self, runtime: Runtime, change: KindChange) -> list[LoaderError]:
        return []

    def commit(self, runtime: Runtime, change: KindChange) -> None:
        return None

    async def discard(self, runtime: Runtime, change: KindChange) -> None:
        return None

    async def release(self, runtime: Runtime, change: KindChange) -> None:
        return None

    def __repr__(self) -> str:
        return f"<binding of {', '.join(sorted(self.kinds))}>"


class BaseKind:
    """Defaults for kind modules: claim every file below ``folder``; conflicts on ``id``."""

    name: ClassVar[str]
    folder: ClassVar[str]
    root_kinds: ClassVar[frozenset[RootKind]] = RESOURCE_ROOTS
    reloadable: ClassVar[bool] = True
    conflict_policy: ClassVar[ConflictPolicy] = "error"
    binding: ClassVar[Binding | None] = None

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
