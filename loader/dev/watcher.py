"""What the dev server watches, and how raw watchfiles events become ``FileChange``s.

watchfiles (Rust ``notify``: inotify on Linux) does the watching. loader adds the filter — the
folders never worth a reload (``.git``, virtual environments, ``__pycache__``,
``node_modules``, ``.loader/``) — and the list of folders: the project, plus the source folders
of editable-installed plugins the project enables (a plugin installed normally lives in
site-packages and changes only when reinstalled, which restarts anyway).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from watchfiles import Change, DefaultFilter

from loader.config.models import LoaderConfig
from loader.dev.plan import FileChange
from loader.discovery.plugins import installed_plugins

__all__ = ["ProjectFilter", "watch_paths", "to_file_changes"]

_KINDS = {Change.added: "added", Change.modified: "modified", Change.deleted: "deleted"}


class ProjectFilter(DefaultFilter):
    """watchfiles' default filter, plus loader's own state folder and virtual environments."""

    ignore_dirs = (*DefaultFilter.ignore_dirs, ".loader", "venv", "env", ".env.d", "site-packages", "build", "dist")

    def __init__(self, extra_ignore_paths: Iterable[Path] = ()) -> None:
        super().__init__(ignore_paths=[str(p) for p in extra_ignore_paths])

    def __call__(self, change: Change, path: str) -> bool:
        # Any folder holding a pyvenv.cfg is a virtual environment, whatever its name.
        return super().__call__(change, path) and not _inside_venv(path)


def _inside_venv(path: str) -> bool:
    prefix = sys.prefix
    return path.startswith(prefix + "/") and prefix != sys.base_prefix


def watch_paths(project_root: Path, config: LoaderConfig) -> list[Path]:
    """The project folder, and the source folder of each enabled, editable-installed plugin.

    Found from entry points and import specs only: the watcher imports no plugin and boots
    nothing (Medusa's watcher boots a whole container, database pool included, to read a flag).
    """
    paths = [project_root]
    wanted = {entry.resolve for entry in config.plugins}
    for plugin in installed_plugins():
        if plugin.name not in wanted and plugin.distribution not in wanted:
            continue
        entry = plugin._entry
        spec = importlib.util.find_spec(entry.module.partition(".")[0]) if entry is not None else None
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            continue
        folder = Path(locations[0])
        if "site-packages" in folder.parts or folder.is_relative_to(project_root):
            continue
        paths.append(folder.parent)
    return paths


def to_file_changes(raw: Iterable[tuple[Change, str]]) -> list[FileChange]:
    """One change per path. watchfiles hands over a set, so the order of several events on one
    path is lost: the disk decides (gone: deleted; there and once added: added; else modified)."""
    kinds: dict[str, set[str]] = {}
    for change, path in raw:
        kinds.setdefault(path, set()).add(_KINDS[change])
    changes = []
    for path, seen in sorted(kinds.items()):
        if len(seen) == 1:
            kind = next(iter(seen))
        elif not os.path.exists(path):
            kind = "deleted"
        else:
            kind = "added" if "added" in seen else "modified"
        changes.append(FileChange(kind, Path(path)))  # type: ignore[arg-type]
    return changes
