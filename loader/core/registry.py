"""The registry: the single source of truth of what is loaded.

Owner key → :class:`~loader.types.Resource`. Every change goes through one :class:`ChangeSet`:
everything is validated first, then committed in one step; a failure leaves the registry
exactly as it was. Readers (the HTTP router, the event bus, the scheduler) take
:meth:`Registry.snapshot`, an immutable view replaced by one reference assignment.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from loader.errors import DuplicateResourceError, LoaderError
from loader.types import Resource

__all__ = ["Registry", "ChangeSet", "Snapshot", "ConflictPolicy"]

log = logging.getLogger("loader.registry")

OwnerKey = tuple[str, str, str, str]
_MISSING = object()
#: How two enabled resources of different origins that share a conflict key are treated:
#: "override" lets the later root win (and logs it); "error" refuses both.
ConflictPolicy = Literal["override", "error"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of the enabled resources, by kind, in load order."""

    by_kind: MappingProxyType[str, tuple[Resource, ...]]
    version: int

    def of(self, kind: str) -> tuple[Resource, ...]:
        return self.by_kind.get(kind, ())


@dataclass
class ChangeSet:
    """Sources to drop and resources to add, applied together or not at all."""

    remove_sources: set[str] = field(default_factory=set)
    add: list[Resource] = field(default_factory=list)
    errors: list[LoaderError] = field(default_factory=list)


class Registry:
    """Holds every resource (enabled or disabled) and the load errors, by source file.

    Args:
        conflict_keys: kind → function giving the key two resources must not share.
        policies: kind → what happens when resources of different origins share a key.
        load_order: origin → rank; with "override", the higher rank wins.
    """

    def __init__(
        self,
        conflict_keys: dict[str, Callable[[Resource], object]] | None = None,
        policies: dict[str, ConflictPolicy] | None = None,
        load_order: dict[str, int] | None = None,
    ) -> None:
        self._resources: dict[OwnerKey, Resource] = {}
        self._errors: dict[str, list[LoaderError]] = {}
        self._conflict_keys = conflict_keys or {}
        self._policies = policies or {}
        self.load_order = load_order or {}
        self._snapshot = Snapshot(MappingProxyType({}), 0)
        self.overrides: builtins.list[tuple[Resource, Resource]] = []
        # conflict keys by resource identity: resources are immutable, so a reload computes
        # the keys of what it adds only (the registry holds every resource it has a key for)
        self._keys: dict[int, object] = {}

    # -- reading ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def list(self, kind: str | None = None, *, include_disabled: bool = True) -> builtins.list[Resource]:
        return [
            r
            for r in self._resources.values()
            if (kind is None or r.kind == kind) and (include_disabled or r.enabled)
        ]

    def counts(self) -> dict[str, int]:
        """How many resources of each kind (enabled or not) the registry holds."""
        found: dict[str, int] = {}
        for resource in self._resources.values():
            found[resource.kind] = found.get(resource.kind, 0) + 1
        return found

    def state(self, resource: Resource) -> tuple[bool, str | None]:
        """Whether a resource is active, and why not: disabled by its file, or overridden."""
        for winner, loser in self.overrides:
            if loser is resource:
                return False, f"overridden by {winner.location} ({winner.origin})"
        return resource.enabled, resource.disabled_reason

    def describe(self, resource: Resource) -> dict[str, object]:
        """``resource.to_dict()`` with its actual state (what ``loader inspect`` prints)."""
        enabled, reason = self.state(resource)
        return {**resource.to_dict(), "enabled": enabled, "disabled_reason": reason}

    def by_source(self, path: str) -> builtins.list[Resource]:
        return [r for r in self._resources.values() if r.source.display == path]

    def errors_for(self, path: str) -> builtins.list[LoaderError]:
        return builtins.list(self._errors.get(path, ()))

    @property
    def errors(self) -> builtins.list[LoaderError]:
        return [e for errs in self._errors.values() for e in errs]

    def __len__(self) -> int:
        return len(self._resources)

    def __repr__(self) -> str:
        return f"<Registry {len(self._resources)} resources, {len(self.errors)} errors>"

    # -- writing ----------------------------------------------------------------------
    def register(self, resources: Iterable[Resource]) -> None:
        self.apply(ChangeSet(add=list(resources)))

    def unregister_source(self, path: str) -> None:
        self.apply(ChangeSet(remove_sources={path}))

    def record_error(self, error: LoaderError) -> None:
        self.apply(ChangeSet(errors=[error]))

    def apply(self, change: ChangeSet, *, drop_conflicting: bool = False) -> None:
        """Validate the whole change set, then commit it.

        Args:
            change: What to remove and add.
            drop_conflicting: At boot, a file whose resource duplicates another is left out
                (its error recorded) so that everything else still loads. A reload passes
                False: the change is all or nothing.

        Raises:
            DuplicateResourceError: two enabled resources of one origin (or of origins whose
                kind refuses overrides) share a conflict key. Nothing is changed.
        """
        kept = {k: r for k, r in self._resources.items() if r.source.display not in change.remove_sources}
        new = dict(kept)
        for resource in change.add:
            new[resource.owner_key] = resource
        extra_errors: list[LoaderError] = []
        keys = dict(self._keys)  # filled by the check; kept only if the change commits
        while True:
            try:
                overrides = self._check_conflicts(new.values(), keys)
                break
            except DuplicateResourceError as dup:
                if not drop_conflicting:
                    raise
                extra_errors.append(dup)
                new = {k: r for k, r in new.items() if r.source.display != dup.path}
        errors = {p: e for p, e in self._errors.items() if p not in change.remove_sources}
        for error in [*change.errors, *extra_errors]:
            errors.setdefault(error.path or "", []).append(error)
        # commit: nothing below can fail
        self._keys = {id(r): keys[id(r)] for r in new.values() if id(r) in keys}
        self._resources = new
        self._errors = errors
        self.overrides = overrides
        for winner, loser in overrides:
            log.info("%s %s from %s overrides %s", winner.kind, winner.id, winner.location, loser.location)
        self._snapshot = self._build_snapshot()

    def _check_conflicts(self, resources: Iterable[Resource], keys: dict[int, object]) -> builtins.list[tuple[Resource, Resource]]:
        seen: dict[tuple[str, object], Resource] = {}
        overrides: list[tuple[Resource, Resource]] = []
        for resource in resources:
            if not resource.enabled:
                continue
            conflict = keys.get(id(resource), _MISSING)
            if conflict is _MISSING:
                key_of = self._conflict_keys.get(resource.kind)
                conflict = keys[id(resource)] = key_of(resource) if key_of is not None else None
            if conflict is None:
                continue
            key = (resource.kind, conflict)
            other = seen.get(key)
            if other is None:
                seen[key] = resource
                continue
            if other.origin != resource.origin and self._policies.get(resource.kind) == "override":
                winner, loser = sorted((other, resource), key=self._rank, reverse=True)
                seen[key] = winner
                overrides.append((winner, loser))
                continue
            first, second = sorted((other, resource), key=lambda r: str(r.location))
            raise DuplicateResourceError(
                f"duplicate {resource.kind} {resource.id!r}: defined here and at {first.location}"
                + ("" if first.origin == second.origin else f" ({first.origin} and {second.origin})"),
                path=second.source.display,
                line=second.line,
            )
        return overrides

    def _rank(self, resource: Resource) -> int:
        return self.load_order.get(str(resource.origin), 0)

    def _build_snapshot(self) -> Snapshot:
        losers = {id(loser) for _, loser in self.overrides}
        by_kind: dict[str, list[Resource]] = {}
        for resource in self._resources.values():
            if resource.enabled and id(resource) not in losers:
                by_kind.setdefault(resource.kind, []).append(resource)
        frozen = {kind: tuple(items) for kind, items in by_kind.items()}
        return Snapshot(MappingProxyType(frozen), self._snapshot.version + 1)
