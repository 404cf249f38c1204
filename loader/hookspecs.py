"""The pluggy hooks a plugin may implement (all named ``loader_*``).

A plugin implements them as module-level functions of its root package (the package its
``loader.plugins`` entry point names), decorated with ``loader.hookimpl``::

    from loader import hookimpl

    @hookimpl
    def loader_register_kinds():
        return [CommandKind()]

Hooks run only for plugins enabled in ``loader_config.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from loader.config.models import LoaderConfig
    from loader.core.registry import Registry
    from loader.kinds.base import ResourceKind
    from loader.types import Resource

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "loader"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def loader_configure(config: LoaderConfig, project_root: Path) -> None:
    """Called once the config is loaded, before any flag or resource file is imported.

    A plugin checks its own options here (``config.plugins`` holds each entry's ``resolve``
    and ``options``); raise ``loader.ConfigError`` to refuse them.
    """


@hookspec
def loader_register_kinds() -> list[ResourceKind]:  # type: ignore[empty-body]
    """Return new resource kinds; each owns a folder and is scanned in every root like the built-ins.

    A kind implements ``loader.ResourceKind`` (subclass ``loader.BaseKind``): ``name``,
    ``folder``, ``claims(relpath)``, ``collect(module, source)``, ``conflict_key(resource)``,
    ``reloadable`` and ``conflict_policy``.
    """


@hookspec
def loader_resource_loaded(resource: Resource) -> None:
    """Called for every resource registered at boot (enabled or disabled), in load order."""


@hookspec
def loader_project_loaded(registry: Registry) -> None:
    """Called once discovery is complete; ``registry`` holds every resource and every error."""


@hookspec
def loader_resources_swapped(added: list[Resource], removed: list[Resource], boot: bool, registry: Registry) -> None:
    """Called once the running application serves a change: after the boot binds everything
    (``boot=True``, ``added`` = every active resource) and after every reload that changed
    something (the active resources that came and went; a file loaded again is in both).

    Not called for ``loader inspect`` or ``loader db`` (nothing runs there), nor for a reload
    that was refused (nothing changed).
    """
