"""``ReloadReport``: what one reload did, per kind, and why — what ``app.reload`` returns and the
dev server prints as one line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loader.dev.plan import ReloadPlan
from loader.errors import LoaderError
from loader.types import Resource

__all__ = ["ReloadReport"]


@dataclass
class ReloadReport:
    """The outcome of ``app.reload(paths)``.

    Attributes:
        changes: The changed files that mattered, as shown in messages (``ignored`` has the rest).
        why: Every file the reload touched and why: ``changed``, ``added``, ``deleted``, or the
            import chain that pulled it in (``imports src/lib/pricing.py``).
        ignored: Changed files that needed nothing, and why.
        reloaded / loaded / unloaded: Resource ids per kind: replaced by a new version, new,
            gone.
        left_alone: Per kind, how many resources were not touched (they keep their state).
        errors: Syntax, import or validation errors, with ``path:line``. Each file that failed
            keeps its previous version serving (a fresh boot would report the same error);
            the rest of the batch was applied — unless ``refused``.
        refused: The change as a whole could not be applied (a new module instance failed to
            build or start, a binding refused it): nothing at all was swapped, and
            ``errors`` says why.
        restart_reason: Set when the change cannot be applied in place.
        set_aside: Files whose import ran past the time limit: the dev server restarts without
            them (they are listed as errors) until they are saved again.
        duration_ms: Wall time of the reload.
    """

    changes: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    reloaded: dict[str, list[str]] = field(default_factory=dict)
    loaded: dict[str, list[str]] = field(default_factory=dict)
    unloaded: dict[str, list[str]] = field(default_factory=dict)
    left_alone: dict[str, int] = field(default_factory=dict)
    errors: list[LoaderError] = field(default_factory=list)
    restart_reason: str | None = None
    refused: bool = False
    set_aside: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    dependents: int = 0

    @classmethod
    def from_plan(cls, plan: ReloadPlan) -> ReloadReport:
        return cls(
            changes=[c for c in plan.changed if c not in plan.ignored], why=dict(plan.why), ignored=dict(plan.ignored),
            restart_reason=plan.restart_reason, dependents=plan.dependents,
        )

    def record(self, old: list[Resource], new: list[Resource], counts: dict[str, int] | None = None) -> None:
        """Fill the per-kind lists from the resources before and after the swap.

        ``counts`` is the number of resources per kind after the swap; what the reload did not
        touch is the rest.
        """
        before = {r.owner_key: r for r in old}
        after = {r.owner_key: r for r in new}
        for key, resource in after.items():
            target = self.reloaded if key in before else self.loaded
            target.setdefault(resource.kind, []).append(resource.id)
        for key, resource in before.items():
            if key not in after:
                self.unloaded.setdefault(resource.kind, []).append(resource.id)
        for kind, count in (counts or {}).items():
            rest = count - sum(1 for r in after.values() if r.kind == kind)
            if rest > 0:
                self.left_alone[kind] = rest

    @property
    def ok(self) -> bool:
        return not self.errors and self.restart_reason is None

    @property
    def restart_required(self) -> bool:
        return self.restart_reason is not None

    @property
    def kinds_touched(self) -> set[str]:
        return set(self.reloaded) | set(self.loaded) | set(self.unloaded)

    def summary(self) -> str:
        """One line for the console, as ``loader develop`` prints it."""
        files = ", ".join(self.changes) or "nothing"
        if self.restart_reason:
            return f"restarting: {self.restart_reason}"
        if self.errors:
            first = self.errors[0].format()
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            if self.refused:
                return f"reload of {files} refused, nothing was swapped: {first}{more}"
            applied = sum(len(ids) for group in (self.reloaded, self.loaded, self.unloaded) for ids in group.values())
            rest = f"; the rest was applied ({applied} resource{'' if applied == 1 else 's'})" if applied else ""
            return f"reload of {files} failed, the previous version keeps serving: {first}{more}{rest}"
        counts: dict[str, int] = {}
        for group in (self.reloaded, self.loaded):
            for kind, ids in group.items():
                counts[kind] = counts.get(kind, 0) + len(ids)
        if not counts and not self.unloaded:
            reasons = "; ".join(f"{path}: {why}" for path, why in self.ignored.items())
            return f"nothing to reload for {files}" + (f" ({reasons})" if reasons else "")
        parts = [f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in sorted(counts.items())]
        parts += [f"{len(ids)} {kind}{'' if len(ids) == 1 else 's'} removed" for kind, ids in sorted(self.unloaded.items())]
        dependents = f"{self.dependents} dependent{'' if self.dependents == 1 else 's'}"
        return f"reloaded {files} ({', '.join(parts)}; {dependents}) in {self.duration_ms:.0f} ms"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changes": self.changes,
            "why": self.why,
            "ignored": self.ignored,
            "reloaded": self.reloaded,
            "loaded": self.loaded,
            "unloaded": self.unloaded,
            "left_alone": self.left_alone,
            "errors": [e.to_dict() | {"source_line": e.source_line} for e in self.errors],
            "refused": self.refused,
            "restart_required": self.restart_required,
            "restart_reason": self.restart_reason,
            "set_aside": self.set_aside,
            "duration_ms": round(self.duration_ms, 3),
            "summary": self.summary(),
        }

    def __repr__(self) -> str:
        return f"<ReloadReport {self.summary()!r}>"
