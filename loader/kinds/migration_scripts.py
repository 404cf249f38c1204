"""Data scripts: ``migration_scripts/<name>.py`` in any root, each with ``async def run(container)``.

Example (``sample_project/src/migration_scripts/seed_welcome_post.py``)::

    async def run(container):
        container.resolve("blog").create("Welcome", "The first post")

``loader db migrate`` runs each one once, after the schema migrations, and records it in
``loader_migration_scripts``. They are not reloaded in place: an edit restarts the dev server.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import ClassVar

from loader.kinds.base import BaseKind, line_of
from loader.types import Resource, RootKind, SourceFile

__all__ = ["MigrationScriptKind", "script_id"]


def script_id(source: SourceFile) -> str:
    """``<origin>:<path below migration_scripts/ without .py>``, e.g. ``project:seed_posts``."""
    name = source.relpath.removeprefix(MigrationScriptKind.folder + "/").removesuffix(".py")
    return f"{source.root.origin}:{name}"


class MigrationScriptKind(BaseKind):
    name = "migration_script"
    folder = "migration_scripts"
    root_kinds: ClassVar[frozenset[RootKind]] = frozenset({"builtin", "plugin", "project", "module"})
    reloadable = False

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        run = module.__dict__.get("run")
        if run is None:
            raise self.invalid(source, 1, "a migration script must define `async def run(container)`; found no run")
        if not inspect.iscoroutinefunction(run):
            raise self.invalid(
                source, line_of(run) or 1, f"run must be an async function (async def run(container)), got {run!r}"
            )
        return [self.resource(source, script_id(source), run, "run", line_of(run), origin=str(source.root.origin))]
