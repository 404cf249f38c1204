"""One module per resource kind; :func:`builtin_kinds` lists them in activation order."""

from __future__ import annotations

from loader.kinds.base import BaseKind, ResourceKind
from loader.kinds.flags import FlagKind
from loader.kinds.jobs import JobKind
from loader.kinds.middlewares import MiddlewaresKind
from loader.kinds.migration_scripts import MigrationScriptKind
from loader.kinds.migrations import MigrationKind
from loader.kinds.modules import ModuleKind, ProviderKind
from loader.kinds.routes import RouteKind
from loader.kinds.subscribers import SubscriberKind
from loader.kinds.workflows import WorkflowKind

__all__ = ["BaseKind", "ResourceKind", "builtin_kinds"]


def builtin_kinds() -> list[ResourceKind]:
    """Fresh instances of the built-in kinds: flags first, then modules, then the rest."""
    return [
        FlagKind(),
        ModuleKind(),
        ProviderKind(),
        MigrationKind(),
        MigrationScriptKind(),
        WorkflowKind(),
        SubscriberKind(),
        JobKind(),
        MiddlewaresKind(),
        RouteKind(),
    ]
