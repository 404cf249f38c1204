"""Migrations: ``modules/<name>/migrations/<Name><timestamp>.py``, one ``Migration`` subclass each.

Example (``sample_project/src/modules/blog/migrations/Migration20250822135845.py``)::

    class Migration20250822135845(Migration):
        def up(self, db): db.execute(text("CREATE TABLE blog_post (...)"))
        def down(self, db): db.execute(text("DROP TABLE blog_post"))

Within a module they are ordered by the timestamp in the name. They are not reloaded in place:
a change restarts the dev server (and says migrations may need running).
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any, ClassVar

from loader.kinds.base import BaseKind, defined_in
from loader.types import Resource, RootKind, SourceFile

__all__ = ["Migration", "MigrationKind", "migration_timestamp"]

_TIMESTAMP = re.compile(r"(\d{8,})")


class Migration:
    """Base class of schema migrations. Override ``up`` and ``down``; both receive the connection."""

    def up(self, db: Any) -> None:
        raise NotImplementedError

    def down(self, db: Any) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Migration {type(self).__name__}>"


def migration_timestamp(name: str) -> str | None:
    found = _TIMESTAMP.search(name)
    return found.group(1) if found else None


class MigrationKind(BaseKind):
    name = "migration"
    folder = "migrations"
    root_kinds: ClassVar[frozenset[RootKind]] = frozenset({"module", "provider"})
    reloadable = False

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        classes = list(
            defined_in(module, lambda o: isinstance(o, type) and issubclass(o, Migration) and o is not Migration)
        )
        if len(classes) != 1:
            found = ", ".join(name for name, _ in classes) or "none"
            raise self.invalid(source, 1, f"a migration file must define exactly one Migration subclass; found {found}")
        export, cls = classes[0]
        stamp = migration_timestamp(export) or migration_timestamp(source.path.stem)
        if stamp is None:
            raise self.invalid(
                source, 1, f"migration {export} has no timestamp in its name; expected e.g. Migration20250822135845"
            )
        owner = source.root.origin.name
        return [self.resource(source, f"{owner}:{export}", cls, export, _class_line(module, export), module=owner, timestamp=stamp)]


def _class_line(module: ModuleType, name: str) -> int | None:
    # Classes carry no line number before Python 3.13; one pass over the file is cheap here.
    path = getattr(module, "__file__", None)
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if text.startswith(f"class {name}"):
                return number
    return None
