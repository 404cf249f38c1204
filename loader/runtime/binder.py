"""Applying a registry change to the running application, kind by kind, all or nothing.

Each kind's :class:`~loader.kinds.base.Binding` receives its share of the change (the active
resources that go and those that come). The phases run across every binding the change
touches: ``prepare`` all → the registry commits → ``commit`` all → ``release`` all. During a
reload, one failing ``prepare`` discards those already prepared and nothing is committed. Boot
is the same call with nothing before and everything after; there its errors are recorded and
the rest goes on. After either, the ``loader_resources_swapped`` hook tells plugins what
changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pluggy

from loader.core.registry import PreparedChange, Registry, Snapshot
from loader.discovery.hooks import call_hook
from loader.errors import LoaderError
from loader.kinds.base import Binding, KindChange, ResourceKind, Runtime
from loader.types import Resource

__all__ = ["Binder", "bindings_of"]

log = logging.getLogger("loader.bind")


def bindings_of(kinds: Sequence[ResourceKind]) -> list[tuple[Binding, frozenset[str]]]:
    """Each binding once, with the kinds it serves, in kind order (modules before subscribers)."""
    found: dict[int, tuple[Binding, set[str]]] = {}
    for kind in kinds:
        binding: Binding | None = getattr(kind, "binding", None)
        if binding is None:
            continue
        found.setdefault(id(binding), (binding, set()))[1].add(kind.name)
    return [(binding, frozenset(names)) for binding, names in found.values()]


class Binder:
    """Applies changes of one registry to one runtime through the kinds' bindings."""

    def __init__(
        self, runtime: Runtime, registry: Registry, kinds: Sequence[ResourceKind],
        hooks: pluggy.PluginManager, display: Callable[[str], str],
    ) -> None:
        self.runtime, self.registry, self.hooks, self.display = runtime, registry, hooks, display
        self.bindings = bindings_of(kinds)

    async def boot(self) -> list[LoaderError]:
        """Bind everything the registry holds (already committed by the boot); errors per binding."""
        snapshot = self.registry.snapshot()
        added = [r for kind in snapshot.by_kind for r in snapshot.of(kind)]
        changes = self._split((), added, snapshot, boot=True)
        errors = await self._prepare(changes, boot=True)
        self._commit(changes)
        await self._release(changes)
        errors += self._notify(added, [], boot=True)
        return errors

    async def apply(self, prepared: PreparedChange) -> list[LoaderError]:
        """Apply a prepared registry change completely, or not at all (then its errors)."""
        changes = self._split(prepared.deactivated, prepared.activated, prepared.snapshot, boot=False)
        errors = await self._prepare(changes, boot=False)
        if errors:
            return errors
        self.registry.commit(prepared)
        self._commit(changes)
        await self._release(changes)
        if prepared.activated or prepared.deactivated:
            self._notify(prepared.activated, prepared.deactivated, boot=False)
        return []

    # -- phases --------------------------------------------------------------------------
    def _split(
        self, removed: Sequence[Resource], added: Sequence[Resource], snapshot: Snapshot, *, boot: bool
    ) -> list[tuple[Binding, KindChange]]:
        changes = []
        for binding, kinds in self.bindings:
            gone = tuple(r for r in removed if r.kind in kinds)
            new = tuple(r for r in added if r.kind in kinds)
            if gone or new or boot:
                changes.append((binding, KindChange(kinds, gone, new, snapshot, boot)))
        return changes

    async def _prepare(self, changes: list[tuple[Binding, KindChange]], *, boot: bool) -> list[LoaderError]:
        errors: list[LoaderError] = []
        done: list[tuple[Binding, KindChange]] = []
        for binding, change in changes:
            try:
                found = list(await binding.prepare(self.runtime, change))
            except Exception as exc:  # a plugin's binding is not ours to trust
                log.exception("binding of %s failed to prepare", ", ".join(sorted(change.kinds)))
                found = [LoaderError(f"binding of {', '.join(sorted(change.kinds))} failed: {type(exc).__name__}: {exc}")]
            done.append((binding, change))
            errors += found
            if found and not boot:
                for prepared_binding, prepared_change in reversed(done):
                    try:
                        await prepared_binding.discard(self.runtime, prepared_change)
                    except Exception:
                        log.exception("binding of %s failed to discard", ", ".join(sorted(prepared_change.kinds)))
                return errors
        return errors

    def _commit(self, changes: list[tuple[Binding, KindChange]]) -> None:
        for binding, change in changes:
            try:
                binding.commit(self.runtime, change)
            except Exception:  # commit must not fail; a plugin's might: the others still commit
                log.exception("binding of %s failed to commit", ", ".join(sorted(change.kinds)))

    async def _release(self, changes: list[tuple[Binding, KindChange]]) -> None:
        for binding, change in changes:
            try:
                await binding.release(self.runtime, change)
            except Exception:
                log.exception("binding of %s failed to release", ", ".join(sorted(change.kinds)))

    def _notify(self, added: Sequence[Resource], removed: Sequence[Resource], *, boot: bool) -> list[LoaderError]:
        return call_hook(
            self.hooks, "loader_resources_swapped", self.display,
            added=list(added), removed=list(removed), boot=boot, registry=self.registry,
        )
