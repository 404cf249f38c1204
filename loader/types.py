"""Small value types shared by every part of loader."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["HTTP_METHODS", "SourceLocation", "Origin", "RootKind", "Root", "SourceFile", "Resource", "caller_location", "shown_relative"]

RootKind = Literal["builtin", "plugin", "project", "module", "provider"]

#: The methods a route file may define handlers for (and the order ``Allow`` lists them in).
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in a file: what error messages and ``loader inspect`` point at."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    @classmethod
    def parse(cls, text: str) -> SourceLocation:
        """``"path:line"`` back into its parts; a text without a line is all path."""
        path, sep, line = text.rpartition(":")
        return cls(path, int(line)) if sep and line.isdigit() else cls(text)


def shown_relative(path: str | Path, base: Path | None) -> str:
    """``path`` as messages show it: POSIX and relative to ``base`` when it lies below it, else as given."""
    if base is not None:
        try:
            return Path(path).relative_to(base).as_posix()
        except ValueError:
            pass
    return str(path)


def caller_location(depth: int = 2) -> tuple[str | None, int | None, str | None]:
    """Where the caller's caller stands: ``(file, line, module name)``.

    Constructors such as ``FlagSettings(...)`` or ``Module(...)`` call this once, so loader can
    point at the line that defined an object without reading the source again.
    """
    try:
        frame = sys._getframe(depth)
    except ValueError:  # pragma: no cover - called from the top of the stack
        return None, None, None
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals.get("__name__")


@dataclass(frozen=True, slots=True)
class Origin:
    """Who a resource belongs to: the framework, a plugin, a module, or the project."""

    kind: Literal["builtin", "plugin", "module", "project"]
    name: str = ""

    def __str__(self) -> str:
        return self.kind if not self.name else f"{self.kind}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Origin:
        kind, _, name = text.partition(":")
        return cls(kind, name)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Root:
    """A folder scanned with the convention rules, and how its files are imported.

    Attributes:
        origin: Who owns the resources found here.
        path: The folder (``<project>/src``, a plugin package folder, a module folder…).
        package: The dotted module name of ``path``; a file ``a/b.py`` below it imports as
            ``<package>.a.b``.
        kind: What sort of root this is; it decides which resource kinds are looked for.
        options: Options the owner was configured with (plugin or provider options).
        display_base: The folder paths are shown relative to (the project root for project
            files), so messages say ``src/api/store/hello/route.py`` rather than an absolute path.
    """

    origin: Origin
    path: Path
    package: str
    kind: RootKind
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    display_base: Path | None = None
    #: ``display`` of the root folder itself plus "/": files below it are shown by string
    #: concatenation, no pathlib work (hot reload shows thousands of paths per reload).
    prefix: str = field(init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        shown = shown_relative(self.path, self.display_base or self.path.parent)
        object.__setattr__(self, "prefix", "" if shown == "." else shown + "/")

    def display(self, path: Path) -> str:
        return shown_relative(path, self.display_base or self.path.parent)

    def __repr__(self) -> str:
        return f"Root({str(self.origin)!r}, {self.kind}, {str(self.path)!r})"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One discovered ``.py`` file of one root, and the kind that claimed it."""

    root: Root
    relpath: str  # POSIX, relative to the root: "api/store/hello/route.py"
    kind: str
    module_name: str

    @property
    def path(self) -> Path:
        # Computed, not stored: building 10,000 Path objects at boot is measurable (benchmarks/boot.py).
        return self.root.path / self.relpath

    @property
    def display(self) -> str:
        return self.root.prefix + self.relpath

    def __repr__(self) -> str:
        return f"SourceFile({self.kind!r}, {self.display!r}, origin={str(self.root.origin)!r})"


@dataclass(frozen=True, slots=True)
class Resource:
    """One thing a file contributes: a route handler, a subscriber, a job…

    ``owner_key`` (origin, path relative to its root, export name) identifies the resource
    across reloads; ``id`` is what users see and what conflicts are checked on.
    """

    kind: str
    id: str
    obj: Any = field(compare=False)
    source: SourceFile = field(compare=False)
    line: int | None
    export: str
    enabled: bool = True
    disabled_reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def origin(self) -> Origin:
        return self.source.root.origin

    @property
    def owner_key(self) -> tuple[str, str, str, str]:
        return (self.kind, str(self.origin), self.source.relpath, self.export)

    @property
    def location(self) -> SourceLocation:
        return SourceLocation(self.source.display, self.line)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "source": str(self.location),
            "origin": str(self.origin),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            **{k: v for k, v in self.meta.items() if isinstance(v, (str, int, float, bool, list, type(None)))},
        }

    def __repr__(self) -> str:
        state = "" if self.enabled else f", disabled={self.disabled_reason!r}"
        return f"Resource(kind={self.kind!r}, id={self.id!r}, source='{self.location}', origin='{self.origin}'{state})"
