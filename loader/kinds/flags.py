"""Feature flag files: ``FlagSettings`` objects in any ``feature_flags/`` folder of any root.

Flag files are imported in a first pass, before any other file, so every ``is_disabled``
predicate and every import-time check sees the final values.
"""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

from loader.core.flags import FlagSettings
from loader.kinds.base import BaseKind, defined_in
from loader.types import Resource, RootKind, SourceFile

__all__ = ["FlagKind"]


class FlagKind(BaseKind):
    name = "flag"
    folder = "feature_flags"
    root_kinds: ClassVar[frozenset[RootKind]] = frozenset({"builtin", "plugin", "project", "module", "provider"})

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        return [
            self.resource(source, settings.key, settings, export, settings.line, env_key=settings.env_key)
            for export, settings in defined_in(module, lambda o: isinstance(o, FlagSettings))
        ]

    def conflict_key(self, resource: Resource) -> object:
        return None  # the FeatureFlag registry checks clashing definitions itself
