"""The registry: the single source of truth of what is loaded.

It holds, by source file, every resource the file's last good load produced, and the errors
of files that failed. Which resources are *active* is derived from that, by rules that do not
depend on the order in which files were loaded or reloaded, so a running server always holds
what a fresh boot of the same files would hold:

- a file whose latest load failed keeps its last good resources (the old version keeps
  serving) and is marked stale; stale resources lose every conflict to fresh ones;
- files are accepted in order (fresh before stale, then by path); a file is rejected whole
  when one of its enabled resources shares a conflict key with a resource of an accepted file
  of the same origin (or of any origin, for kinds that refuse overrides) — a duplicate error
  naming both places. A rejected file stays in the registry, and becomes active by itself
  when the file it collided with goes away;
- among accepted resources that share a key across origins (routes), the later root wins and
  the override is logged.

Every change is one :class:`ChangeSet`, applied in two steps: :meth:`Registry.prepare`
computes the new state (and the new :class:`Snapshot`) without touching the current one, and
:meth:`Registry.commit` installs it; a prepared change that is dropped leaves no trace. Both
cost in proportion to the files the change touches (and the files that share conflict keys
with them), not to the size of the registry. Readers (the HTTP router, the event bus, the
scheduler) take :meth:`Registry.snapshot`, an immutable view replaced by one assignment.
"""

from __future__ import annotations

import bisect
import builtins
import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from loader.errors import DuplicateResourceError, LoaderError
from loader.types import Resource

__all__ = ["Registry", "ChangeSet", "PreparedChange", "Snapshot", "ConflictPolicy"]

log = logging.getLogger("loader.registry")

OwnerKey = tuple[str, str, str, str]
ConflictKey = tuple[str, object]
#: How two enabled resources of different origins that share a conflict key are treated:
#: "override" lets the later root win (and logs it); "error" refuses the later file.
ConflictPolicy = Literal["override", "error"]
_OrderKey = tuple[int, str, str, str]


class Snapshot:
    """An immutable view of the active resources, by kind, in load order.

    A kind's tuple is made the first time it is asked for: a reload of one route must not pay
    for a 10,000-item tuple nobody reads. The per-kind lists it reads from are never changed
    after the registry made them (each change makes new lists for the kinds it touches).
    """

    __slots__ = ("version", "_order", "_tuples")

    def __init__(self, order: Mapping[str, Sequence[tuple[object, Resource]]], version: int) -> None:
        self.version = version
        self._order = order
        self._tuples: dict[str, tuple[Resource, ...]] = {}

    def of(self, kind: str) -> tuple[Resource, ...]:
        found = self._tuples.get(kind)
        if found is None:
            found = self._tuples[kind] = tuple(map(_second, self._order.get(kind, ())))
        return found

    @property
    def by_kind(self) -> MappingProxyType[str, tuple[Resource, ...]]:
        """Every kind with active resources → its resources in load order."""
        return MappingProxyType({kind: self.of(kind) for kind, items in self._order.items() if items})

    def __repr__(self) -> str:
        return f"<Snapshot v{self.version}: {sum(map(len, self._order.values()))} resources>"


@dataclass
class ChangeSet:
    """One change to the registry, applied together or not at all.

    Attributes:
        remove_sources: Files whose resources go (deleted, or loaded again: their new
            resources are in ``add``). Their previous errors go too.
        add: New resources.
        failed: Files whose load failed now, with the errors: each keeps its last good
            resources (marked stale) and reports these errors instead of its previous ones.
        errors: Errors that belong to no source file (config, plugins, hooks).
    """

    remove_sources: set[str] = field(default_factory=set)
    add: list[Resource] = field(default_factory=list)
    failed: dict[str, list[LoaderError]] = field(default_factory=dict)
    errors: list[LoaderError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Entry:
    """What one source file contributes: its resources, and the keys its enabled ones claim."""

    resources: tuple[Resource, ...]
    keys: tuple[tuple[ConflictKey, Resource], ...]
    stale: bool = False


@dataclass
class PreparedChange:
    """A validated change: the state it leads to, ready for :meth:`Registry.commit`.

    ``activated`` and ``deactivated`` are the resources that become active or stop being
    active (by identity: a file loaded again deactivates its old resources and activates its
    new ones); bindings apply exactly these.
    """

    base_version: int
    entries: dict[str, _Entry | None]
    rejected: dict[str, DuplicateResourceError | None]
    overrides: dict[ConflictKey, list[tuple[Resource, Resource]] | None]
    file_errors: dict[str, list[LoaderError] | None]
    other_errors: list[LoaderError]
    activated: list[Resource]
    deactivated: list[Resource]
    order: dict[str, list[tuple[_OrderKey, Resource]]]
    snapshot: Snapshot
    stale: set[str]

    @property
    def kinds(self) -> set[str]:
        return {r.kind for r in [*self.activated, *self.deactivated]}

    @property
    def duplicates(self) -> list[DuplicateResourceError]:
        """The files this change rejects as duplicates (they are left out, with this error).

        A stale file that loses to a fresh one is only shadowed: it reports its load error.
        """
        return [e for source, e in self.rejected.items() if e is not None and source not in self.stale]


class Registry:
    """Holds every resource (enabled or disabled) and the load errors, by source file.

    Args:
        conflict_keys: kind → function giving the key two resources must not share.
        policies: kind → what happens when resources of different origins share a key.
        load_order: origin → rank; with "override", the higher rank wins; it also orders
            each kind's resources in the snapshot.
    """

    def __init__(
        self,
        conflict_keys: Mapping[str, Callable[[Resource], object]] | None = None,
        policies: Mapping[str, ConflictPolicy] | None = None,
        load_order: Mapping[str, int] | None = None,
    ) -> None:
        self._conflict_keys = dict(conflict_keys or {})
        self._policies = dict(policies or {})
        self.load_order = dict(load_order or {})
        self._entries: dict[str, _Entry] = {}
        self._claims: dict[ConflictKey, set[str]] = {}
        self._rejected: dict[str, DuplicateResourceError] = {}
        self._overrides: dict[ConflictKey, list[tuple[Resource, Resource]]] = {}
        self._file_errors: dict[str, list[LoaderError]] = {}
        self._other_errors: list[LoaderError] = []
        self._active: set[int] = set()  # id() of the active resources
        self._counts: dict[str, int] = {}  # resources per kind of the files not rejected
        self._order: dict[str, list[tuple[_OrderKey, Resource]]] = {}
        self._snapshot = Snapshot({}, 0)

    # -- reading ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def list(self, kind: str | None = None, *, include_disabled: bool = True) -> builtins.list[Resource]:
        """Every resource of the files that are not rejected, in load order of their files."""
        return [
            r
            for source in sorted(self._entries, key=self._source_rank)
            if source not in self._rejected
            for r in self._entries[source].resources
            if (kind is None or r.kind == kind) and (include_disabled or r.enabled)
        ]

    def counts(self) -> dict[str, int]:
        """How many resources of each kind (enabled or not) the registry lists."""
        return {kind: n for kind, n in self._counts.items() if n}

    def state(self, resource: Resource) -> tuple[bool, str | None]:
        """Whether a resource is active, and why not: disabled by its file, or overridden."""
        if resource.enabled and id(resource) not in self._active:
            for pairs in self._overrides.values():
                for winner, loser in pairs:
                    if loser is resource:
                        return False, f"overridden by {winner.location} ({winner.origin})"
        return resource.enabled, resource.disabled_reason

    def is_active(self, resource: Resource) -> bool:
        return id(resource) in self._active

    def describe(self, resource: Resource) -> dict[str, object]:
        """``resource.to_dict()`` with its actual state (what ``loader inspect`` prints)."""
        enabled, reason = self.state(resource)
        described: dict[str, object] = {**resource.to_dict(), "enabled": enabled, "disabled_reason": reason}
        if self.is_stale(resource.source.display):
            described["stale"] = True
        return described

    def by_source(self, path: str) -> builtins.list[Resource]:
        """The resources of one file (its last good load), rejected or not."""
        entry = self._entries.get(path)
        return builtins.list(entry.resources) if entry is not None else []

    def sources(self) -> builtins.list[str]:
        return builtins.list(self._entries)

    def is_stale(self, path: str) -> bool:
        """The file's latest load failed; its last good resources are still held."""
        entry = self._entries.get(path)
        return entry is not None and entry.stale

    def failed_sources(self) -> set[str]:
        """Files whose latest load failed (whether or not they have a last good version)."""
        return set(self._file_errors)

    def errors_for(self, path: str) -> builtins.list[LoaderError]:
        errors = [*self._file_errors.get(path, ()), *(e for e in self._other_errors if e.path == path)]
        if path in self._rejected and not self.is_stale(path):
            errors.append(self._rejected[path])
        return errors

    @property
    def errors(self) -> builtins.list[LoaderError]:
        return [
            *self._other_errors,
            *(e for errs in self._file_errors.values() for e in errs),
            *(e for source, e in self._rejected.items() if not self.is_stale(source)),
        ]

    @property
    def overrides(self) -> builtins.list[tuple[Resource, Resource]]:
        return [pair for pairs in self._overrides.values() for pair in pairs]

    def __len__(self) -> int:
        return sum(self.counts().values())

    def __repr__(self) -> str:
        return f"<Registry {len(self)} resources, {len(self.errors)} errors>"

    # -- writing ----------------------------------------------------------------------
    def apply(self, change: ChangeSet) -> PreparedChange:
        """Prepare and commit in one step; returns what was committed."""
        prepared = self.prepare(change)
        self.commit(prepared)
        return prepared

    def record_error(self, error: LoaderError) -> None:
        self.apply(ChangeSet(errors=[error]))

    def prepare(self, change: ChangeSet) -> PreparedChange:
        """Compute the state ``change`` leads to; the registry itself is not touched."""
        entries: dict[str, _Entry | None] = {}
        for source in change.remove_sources:
            entries[source] = None
        added: dict[str, list[Resource]] = {}
        for resource in change.add:
            added.setdefault(resource.source.display, []).append(resource)
        for source, resources in added.items():
            entries[source] = self._entry(resources)
        for source in change.failed:
            old = self._entries.get(source)
            if source not in added:
                entries[source] = _Entry(old.resources, old.keys, stale=True) if old is not None else None
        file_errors: dict[str, list[LoaderError] | None] = {s: None for s in entries if s in self._file_errors}
        for source, errors in change.failed.items():
            file_errors[source] = builtins.list(errors)

        def entry_of(source: str) -> _Entry | None:
            return entries[source] if source in entries else self._entries.get(source)

        new_claims: dict[ConflictKey, set[str]] = {}  # keys of the touched files, as they will be
        for source, entry in entries.items():
            for key, _ in entry.keys if entry is not None else ():
                new_claims.setdefault(key, set()).add(source)

        def claimants(key: ConflictKey) -> set[str]:
            found = {s for s in self._claims.get(key, ()) if s not in entries}
            return found | new_claims.get(key, set())

        # The component: every file that shares a key, transitively, with a touched file.
        keys: set[ConflictKey] = set()
        for source in entries:
            for entry in (self._entries.get(source), entries[source]):
                if entry is not None:
                    keys.update(k for k, _ in entry.keys)
        component: set[str] = {s for s in entries if entry_of(s) is not None}
        pending = builtins.list(keys)
        while pending:
            key = pending.pop()
            for source in claimants(key):
                if source in component:
                    continue
                component.add(source)
                entry = entry_of(source)
                for other_key, _ in entry.keys if entry is not None else ():
                    if other_key not in keys:
                        keys.add(other_key)
                        pending.append(other_key)

        # Accept files in order; reject one that duplicates an accepted file's resource.
        rejected: dict[str, DuplicateResourceError | None] = {s: None for s in component | set(entries) if s in self._rejected}
        taken: dict[ConflictKey, builtins.list[Resource]] = {}
        for source in sorted(component, key=lambda s: self._acceptance_rank(s, entry_of(s))):
            entry = entry_of(source)
            assert entry is not None  # the component holds only files with an entry
            clash = next(
                ((key, resource, other) for key, resource in entry.keys for other in taken.get(key, ())
                 if other.origin == resource.origin or self._policies.get(resource.kind) != "override"),
                None,
            )
            if clash is not None:
                _, resource, other = clash
                rejected[source] = _duplicate(resource, other)
                continue
            for key, resource in entry.keys:
                taken.setdefault(key, []).append(resource)

        overrides: dict[ConflictKey, builtins.list[tuple[Resource, Resource]] | None] = {
            k: None for k in keys if k in self._overrides
        }
        winners: set[int] = set()
        for key in keys:
            holders = taken.get(key, [])
            if not holders:
                continue
            ranked = sorted(holders, key=self._origin_rank, reverse=True)
            winners.add(id(ranked[0]))
            if len(ranked) > 1:
                overrides[key] = [(ranked[0], loser) for loser in ranked[1:]]

        # What becomes active, and what stops being active.
        activated: builtins.list[Resource] = []
        deactivated: builtins.list[Resource] = []
        involved = component | set(entries)
        for source in involved:
            old = self._entries.get(source)
            if old is not None:
                deactivated.extend(r for r in old.resources if id(r) in self._active)
            new = entry_of(source)
            if new is None or (rejected[source] is not None if source in rejected else source in self._rejected):
                continue
            claimed = {id(r) for _, r in new.keys}
            activated.extend(r for r in new.resources if r.enabled and (id(r) not in claimed or id(r) in winners))
        still = {id(r) for r in activated}
        gone = {id(r) for r in deactivated}
        activated = [r for r in activated if id(r) not in gone]
        deactivated = [r for r in deactivated if id(r) not in still]

        order = self._next_order(activated, deactivated)
        snapshot = Snapshot({**self._order, **order}, self._snapshot.version + 1)
        return PreparedChange(
            self._snapshot.version, entries, rejected, overrides, file_errors,
            [*(e for e in self._other_errors if e.path not in entries), *change.errors],
            activated, deactivated, order, snapshot,
            {s for s in component if (e := entry_of(s)) is not None and e.stale},
        )

    def commit(self, prepared: PreparedChange) -> None:
        """Install a prepared change. Nothing here can fail."""
        if prepared.base_version != self._snapshot.version:
            raise RuntimeError("the registry changed since this change was prepared")  # a bug in loader
        involved = set(prepared.entries) | set(prepared.rejected)
        for source in involved:
            self._count(source, -1)
        for source, entry in prepared.entries.items():
            old = self._entries.pop(source, None)
            for key, _ in old.keys if old is not None else ():
                holders = self._claims.get(key)
                if holders is not None:
                    holders.discard(source)
                    if not holders:
                        del self._claims[key]
            if entry is None:
                continue
            self._entries[source] = entry
            _log_file_state(source, old, entry)
            for key, _ in entry.keys:
                self._claims.setdefault(key, set()).add(source)
        for source, error in prepared.rejected.items():
            if error is None:
                self._rejected.pop(source, None)
            else:
                self._rejected[source] = error
        for key, pairs in prepared.overrides.items():
            if pairs is None:
                self._overrides.pop(key, None)
                continue
            if self._overrides.get(key) != pairs:
                for winner, loser in pairs:
                    log.info("%s %s from %s overrides %s", winner.kind, winner.id, winner.location, loser.location)
            self._overrides[key] = pairs
        for source, errors in prepared.file_errors.items():
            if errors is None:
                self._file_errors.pop(source, None)
            else:
                self._file_errors[source] = errors
        self._other_errors = prepared.other_errors
        self._active.difference_update(id(r) for r in prepared.deactivated)
        self._active.update(id(r) for r in prepared.activated)
        self._order.update(prepared.order)
        self._snapshot = prepared.snapshot
        for source in involved:
            self._count(source, +1)

    def _count(self, source: str, sign: int) -> None:
        entry = self._entries.get(source)
        if entry is None or source in self._rejected:
            return
        for resource in entry.resources:
            self._counts[resource.kind] = self._counts.get(resource.kind, 0) + sign

    # -- helpers ------------------------------------------------------------------------
    def _entry(self, resources: Iterable[Resource]) -> _Entry:
        items = tuple(resources)
        keys: builtins.list[tuple[ConflictKey, Resource]] = []
        for resource in items:
            if not resource.enabled:
                continue
            key_of = self._conflict_keys.get(resource.kind)
            conflict = key_of(resource) if key_of is not None else None
            if conflict is not None:
                keys.append(((resource.kind, conflict), resource))
        return _Entry(items, tuple(keys))

    def _origin_rank(self, resource: Resource) -> int:
        return self.load_order.get(str(resource.origin), 0)

    def _source_rank(self, source: str) -> tuple[int, str]:
        entry = self._entries[source]
        return (self._origin_rank(entry.resources[0]) if entry.resources else 0, source)

    @staticmethod
    def _acceptance_rank(source: str, entry: _Entry | None) -> tuple[bool, str]:
        return (entry is not None and entry.stale, source)

    def _order_key(self, resource: Resource) -> _OrderKey:
        return (self._origin_rank(resource), resource.source.relpath, f"{resource.line or 0:09d}", resource.export)

    def _next_order(
        self, activated: Iterable[Resource], deactivated: Iterable[Resource]
    ) -> dict[str, builtins.list[tuple[_OrderKey, Resource]]]:
        """Each touched kind's active resources in load order, as new lists (the old stay valid)."""
        order: dict[str, builtins.list[tuple[_OrderKey, Resource]]] = {}

        def items(kind: str) -> builtins.list[tuple[_OrderKey, Resource]]:
            if kind not in order:
                order[kind] = builtins.list(self._order.get(kind, ()))
            return order[kind]

        for resource in deactivated:
            listed = items(resource.kind)
            at = bisect.bisect_left(listed, self._order_key(resource), key=lambda item: item[0])
            while at < len(listed) and listed[at][1] is not resource:
                at += 1
            if at < len(listed):
                del listed[at]
        for resource in activated:
            listed = items(resource.kind)
            key = self._order_key(resource)
            listed.insert(bisect.bisect_right(listed, key, key=lambda item: item[0]), (key, resource))
        return order


_second = operator.itemgetter(1)


def _duplicate(resource: Resource, other: Resource) -> DuplicateResourceError:
    origins = "" if other.origin == resource.origin else f" ({other.origin} and {resource.origin})"
    return DuplicateResourceError(
        f"duplicate {resource.kind} {resource.id!r}: defined here and at {other.location}{origins}",
        path=resource.source.display,
        line=resource.line,
    )


def _file_reason(entry: _Entry | None) -> str | None:
    # A file config disables a file's resources together: the first one tells for the file.
    return entry.resources[0].disabled_reason if entry is not None and entry.resources else None


def _log_file_state(source: str, old: _Entry | None, new: _Entry) -> None:
    """Say when a file's config disables its resources, or enables them again (a flag flip)."""
    reason, before = _file_reason(new), _file_reason(old)
    if reason == before:
        return
    if reason is not None:
        log.info("%s disabled: %s", source, reason)
    else:
        log.info("%s enabled again", source)
