"""What the dev server watches, and how raw watchfiles events become ``FileChange``s.

watchfiles (Rust ``notify``: inotify on Linux) does the watching. loader adds the filter — the
folders never worth a reload (``.git``, virtual environments, ``__pycache__``,
``node_modules``, ``.loader/``) — and the list of folders: the project, plus the source folders
of editable-installed plugins the project enables (a plugin installed normally lives in
site-packages and changes only when reinstalled, which restarts anyway).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from watchfiles import Change, DefaultFilter

from loader.config.models import LoaderConfig
from loader.dev.plan import FileChange
from loader.discovery.plugins import installed_plugins, package_folder
from loader.discovery.scan import loops_back
from loader.errors import warn

__all__ = ["ProjectFilter", "watch_paths", "to_file_changes"]

_KINDS = {Change.added: "added", Change.modified: "modified", Change.deleted: "deleted"}


class ProjectFilter(DefaultFilter):
    """watchfiles' default filter, plus loader's own state folder and virtual environments.

    Folder names are matched below the watched folders only: a project that lives in
    ``~/build/shop`` or a route folder named ``api/dist/`` is still watched.
    """

    ignore_dirs = (*DefaultFilter.ignore_dirs, ".loader")
    #: Ignored only right below a watched folder: a project's build output or virtual
    #: environment, while ``src/api/dist/route.py`` is still a route.
    top_level_ignores = frozenset({"venv", "env", "site-packages", "build", "dist"})

    def __init__(self, roots: Iterable[Path] = ()) -> None:
        super().__init__()
        # deepest first, so a plugin folder inside the project is matched before the project
        self.roots = sorted((str(r) for r in roots), key=len, reverse=True)

    def __call__(self, change: Change, path: str) -> bool:
        if _inside_venv(path):
            return False
        for root in self.roots:
            if path.startswith(root + os.sep):
                relative = path[len(root) :]
                if relative.lstrip(os.sep).split(os.sep, 1)[0] in self.top_level_ignores:
                    return False
                return super().__call__(change, relative)
        return super().__call__(change, path)


def _shown(path: str, watch_filter: ProjectFilter | None) -> str:
    """``path`` relative to the folder it was found in (the project, or a plugin's)."""
    for root in watch_filter.roots if watch_filter is not None else ():
        if path.startswith(root + os.sep):
            return path[len(root) + 1 :]
    return path


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
        folder = package_folder(entry.module.partition(".")[0]) if entry is not None else None
        if folder is None or "site-packages" in folder.parts or folder.is_relative_to(project_root):
            continue
        paths.append(folder.parent)
    return paths


def to_file_changes(raw: Iterable[tuple[Change, str]], watch_filter: ProjectFilter | None = None) -> list[FileChange]:
    """One change per path. watchfiles hands over a set, so the order of several events on one
    path is lost: the disk decides (gone: deleted; there and once added: added; else modified).

    A folder that arrives with files in it (moved in, checked out) is reported as one event for
    the folder: it becomes one ``added`` change per file inside. A folder that goes is passed on
    as it is; the planner knows which files were below it.
    """
    kinds: dict[str, set[str]] = {}
    for change, path in raw:
        if change == Change.added and os.path.isdir(path):
            if loops_back(path):
                # Like the boot's scan: its files are not files of the project a second time.
                warn(f"symbolic link loop (-> {os.readlink(path)}, a folder above it); skipped", path=_shown(path, watch_filter))
                continue
            for folder, _, files in os.walk(path):
                for name in files:
                    inner = os.path.join(folder, name)
                    if watch_filter is None or watch_filter(Change.added, inner):
                        kinds.setdefault(inner, set()).add("added")
            continue
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
