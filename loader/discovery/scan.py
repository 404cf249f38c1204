"""The scan rules: which files of a root are looked at, and which kind claims each.

Pure apart from listing folders. Rules (DESIGN §2): only ``.py``; skip any path segment that
starts with ``_`` or ``.`` (a module folder's ``__init__.py`` is its definition and is kept),
``__pycache__``, ``tests/``, ``test_*.py``, ``*_test.py``, ``conftest.py``. Only the folders a
kind owns are walked, so helpers in ``lib/`` cost nothing at boot. Order is sorted paths.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from loader.core.importer import module_segment
from loader.errors import warn
from loader.kinds.base import ResourceKind
from loader.types import Root, SourceFile

__all__ = ["is_scanned_name", "scan_root", "source_for", "module_folders", "module_name_of", "loops_back"]

_SKIP_DIRS = frozenset({"__pycache__", "tests", "node_modules"})
_SKIP_FILES = frozenset({"conftest.py"})


def is_scanned_dir(name: str) -> bool:
    return not (name.startswith(("_", ".")) or name in _SKIP_DIRS)


def is_scanned_name(name: str) -> bool:
    """Whether a file name passes the rules (the folder rules are applied while walking)."""
    return (
        name.endswith(".py")
        and not name.startswith(("_", "."))
        and name not in _SKIP_FILES
        and not name.startswith("test_")
        and not name.endswith("_test.py")
    )


def module_name_of(root: Root, relpath: str) -> str:
    """The dotted name a file of ``root`` imports under; odd folder names are encoded
    (:func:`~loader.core.importer.module_segment`: ``api/v1.0/ping/route.py`` imports)."""
    parts = relpath.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([root.package, *map(module_segment, parts)]) if parts else root.package


def scan_root(root: Root, kinds: Sequence[ResourceKind]) -> list[SourceFile]:
    """Every file of ``root`` some kind claims, sorted by path.

    A folder that cannot be listed (no permission) or a symbolic link that loops is skipped
    with one :class:`~loader.errors.LoaderWarning` naming it; the rest of the root is scanned.
    """
    applicable = [k for k in kinds if root.kind in k.root_kinds]
    found: list[SourceFile] = []
    # A kind with folder "" claims files at the root itself (a module's __init__.py).
    if any(k.folder == "" for k in applicable) and (root.path / "__init__.py").is_file():
        _claim(root, "__init__.py", applicable, found)
    base = os.path.realpath(root.path)
    for folder in sorted({k.folder for k in applicable if k.folder}):
        path = os.path.join(str(root.path), folder)
        # The kind folder itself may be a link; it is walked from where it really is.
        real = os.path.realpath(path) if os.path.islink(path) else os.path.join(base, folder)
        _walk(root, path, folder, applicable, found, (base, real))
    found.sort(key=lambda f: f.relpath)
    return found


def _walk(
    root: Root, folder: str, rel: str, kinds: Sequence[ResourceKind], found: list[SourceFile], ancestors: tuple[str, ...]
) -> None:
    # os.scandir with DirEntry.is_dir() (no extra stat) and string paths: this runs once per
    # folder of the project, and at 1,000 routes it is most of what boot adds to the imports.
    # ``ancestors`` are the real paths of the folders above and of this one: a child's real path
    # is its parent's plus its name unless it is a link, so only links cost a realpath().
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:  # PermissionError, EIO...: one folder lost, not the boot
        _skipped(root, folder, f"cannot list this folder ({exc.strerror or exc}); skipped")
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError as exc:  # ELOOP: a link to a link to itself
            _skipped(root, entry.path, f"cannot follow this link ({exc.strerror or exc}); skipped")
            continue
        if is_dir:
            if not is_scanned_dir(entry.name):
                continue
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                # A link to a folder above (or to one holding a folder above) walks back into
                # itself; a link elsewhere (a shared folder) is followed as before.
                if any(a == real or a.startswith(real.rstrip(os.sep) + os.sep) for a in ancestors):
                    _skipped(root, entry.path, f"symbolic link loop (-> {os.readlink(entry.path)}, a folder above it); skipped")
                    continue
            else:
                real = os.path.join(ancestors[-1], entry.name)
            _walk(root, entry.path, f"{rel}/{entry.name}", kinds, found, (*ancestors, real))
        elif is_scanned_name(entry.name):
            _claim(root, f"{rel}/{entry.name}", kinds, found)


def loops_back(path: str) -> bool:
    """Whether ``path`` is a link to its own folder or one above it: walking it never ends.

    The watcher asks this of a folder that appears while ``loader develop`` runs, so that a
    loop made then is skipped as the boot's scan skips it.
    """
    if not os.path.islink(path):
        return False
    real = os.path.realpath(path)
    parent = os.path.realpath(os.path.dirname(path))
    return parent == real or parent.startswith(real.rstrip(os.sep) + os.sep)


def _skipped(root: Root, path: str, message: str) -> None:
    warn(message, path=root.display(Path(path)))


def _claim(root: Root, relpath: str, kinds: Sequence[ResourceKind], found: list[SourceFile]) -> None:
    for kind in kinds:
        if kind.claims(relpath):
            found.append(SourceFile(root, relpath, kind.name, module_name_of(root, relpath)))
            return


def source_for(root: Root, path: Path, kinds: Sequence[ResourceKind]) -> SourceFile | None:
    """The ``SourceFile`` a scan of ``root`` would give for ``path`` (which may not exist any
    more), or None when the rules skip it or no kind claims it. Hot reload classifies a
    changed file with exactly the rules the boot used."""
    try:
        relpath = path.relative_to(root.path).as_posix()
    except ValueError:
        return None
    *folders, name = relpath.split("/")
    if relpath != "__init__.py" and (not is_scanned_name(name) or not all(is_scanned_dir(f) for f in folders)):
        return None
    found: list[SourceFile] = []
    _claim(root, relpath, [k for k in kinds if root.kind in k.root_kinds], found)
    return found[0] if found else None


def module_folders(root: Root) -> list[Path]:
    """``modules/<name>/`` folders of a resource root that have an ``__init__.py``."""
    base = root.path / "modules"
    if not base.is_dir():
        return []
    try:
        children = sorted(base.iterdir())
    except OSError as exc:
        _skipped(root, str(base), f"cannot list this folder ({exc.strerror or exc}); skipped")
        return []
    found = []
    for p in children:
        try:
            if p.is_dir() and is_scanned_dir(p.name) and (p / "__init__.py").is_file():
                found.append(p)
        except OSError as exc:  # a module folder that cannot be entered
            _skipped(root, str(p), f"cannot read this folder ({exc.strerror or exc}); skipped")
    return found
