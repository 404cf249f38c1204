"""Who imports whom, recorded while project and plugin files are imported.

While loader imports files (at boot and during a reload) it wraps ``builtins.__import__``;
each import statement executed by a tracked module (project or plugin code) records an edge
importer → imported. Nothing is scanned: neither ``sys.modules`` nor the files' text. Outside
those windows the hook is not installed, so serving requests costs nothing.

The graph answers the question hot reload asks: "this file changed — which modules depend on
it, transitively, and in which order must they be imported again?" Cycles are strongly
connected components, reloaded as one group.
"""

from __future__ import annotations

import builtins
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import ModuleType

__all__ = ["ImportGraph"]

_lock = threading.RLock()
_recording: list[ImportGraph] = []  # the graphs recording now (usually one)
_original_import = builtins.__import__


def _tracking_import(
    name: str,
    globals: Mapping[str, object] | None = None,
    locals: Mapping[str, object] | None = None,
    fromlist: Sequence[str] | None = (),
    level: int = 0,
) -> ModuleType:
    module = _original_import(name, globals, locals, fromlist, level)
    importer = globals.get("__name__") if globals else None
    if isinstance(importer, str):
        for graph in list(_recording):
            if graph.is_tracked(importer):
                graph._record(importer, name, globals, fromlist or (), level)
    return module


def _install() -> None:
    global _original_import
    _original_import = builtins.__import__
    builtins.__import__ = _tracking_import


def _uninstall() -> None:
    if builtins.__import__ is _tracking_import:
        builtins.__import__ = _original_import


class ImportGraph:
    """Edges between tracked modules (dotted names), with reverse lookups.

    Args:
        is_tracked: Tells project and plugin modules (recorded) from everything else
            (the stdlib, installed libraries, loader itself: ignored).
    """

    def __init__(self, is_tracked: Callable[[str], bool]) -> None:
        self.is_tracked = is_tracked
        self._imports: dict[str, set[str]] = {}  # importer -> imported
        self._importers: dict[str, set[str]] = {}  # imported -> importers

    # -- recording ----------------------------------------------------------------------
    def add(self, importer: str, imported: str) -> None:
        if importer == imported:
            return
        self._imports.setdefault(importer, set()).add(imported)
        self._importers.setdefault(imported, set()).add(importer)

    def forget(self, module: str) -> None:
        """Drop what ``module`` imports (it is about to be imported again and re-recorded)."""
        for imported in self._imports.pop(module, set()):
            importers = self._importers.get(imported)
            if importers is not None:
                importers.discard(module)

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Record the imports executed inside the block (thread-safe, re-entrant).

        The lock is held only to install or remove the hook, never while importing: a file
        whose import hangs (and is abandoned) must not block the next load.
        """
        with _lock:
            _recording.append(self)
            if len(_recording) == 1:
                _install()
        try:
            yield
        finally:
            with _lock:
                _recording.remove(self)
                if not _recording:
                    _uninstall()

    def _record(self, importer: str, name: str, globals: Mapping[str, object] | None, fromlist: Sequence[str], level: int) -> None:
        if level:
            package = str((globals or {}).get("__package__") or importer.rpartition(".")[0])
            try:
                name = importlib.util.resolve_name("." * level + name, package)
            except ImportError:
                return
        targets = [name]
        for item in fromlist or ():
            if item != "*" and f"{name}.{item}" in sys.modules:  # `from pkg import submodule`
                targets.append(f"{name}.{item}")
        for target in targets:
            if self.is_tracked(target) and getattr(sys.modules.get(target), "__file__", None):
                self.add(importer, target)

    # -- questions ----------------------------------------------------------------------
    def imports(self, module: str) -> set[str]:
        return set(self._imports.get(module, ()))

    def importers(self, module: str) -> set[str]:
        return set(self._importers.get(module, ()))

    def dependents(self, modules: Iterable[str]) -> dict[str, list[str]]:
        """Every module that imports one of ``modules``, directly or not.

        Returns ``{dependent: chain}``, where ``chain`` is the shortest import path from the
        changed module to the dependent (``[changed, ..., dependent]``): the "why" of a reload.
        """
        chains: dict[str, list[str]] = {m: [m] for m in modules}
        queue = list(chains)
        while queue:
            current = queue.pop(0)
            for importer in sorted(self._importers.get(current, ())):
                if importer not in chains:
                    chains[importer] = [*chains[current], importer]
                    queue.append(importer)
        return {m: c for m, c in chains.items() if len(c) > 1}

    def reload_order(self, modules: Iterable[str]) -> list[list[str]]:
        """``modules`` grouped into strongly connected components, dependencies first."""
        wanted = set(modules)
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups: list[list[str]] = []

        def visit(node: str) -> None:  # Tarjan; emits components in reverse topological order
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            for dep in sorted(self._imports.get(node, set()) & wanted):
                if dep not in index:
                    visit(dep)
                    low[node] = min(low[node], low[dep])
                elif dep in on_stack:
                    low[node] = min(low[node], index[dep])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    group.append(top)
                    if top == node:
                        break
                groups.append(sorted(group))

        for node in sorted(wanted):
            if node not in index:
                visit(node)
        return groups  # a dependency's component is emitted before its importers'

    def __len__(self) -> int:
        return sum(len(v) for v in self._imports.values())

    def __repr__(self) -> str:
        return f"<ImportGraph {len(self._imports)} importers, {len(self)} edges>"
