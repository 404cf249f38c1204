"""The reload planner: file changes → what to reload, load, unload — or restart, and why.

Pure: it reads a :class:`ProjectIndex` (roots, kinds, known files, the import graph) and
touches neither the disk nor ``sys.modules``, so every rule is unit-tested
(``tests/dev/test_plan.py``). Paths are classified relative to the roots with the same scan
rules the boot used — never by substrings of an absolute path.

Rules, in order, for each changed path:

1. ``loader_config.py`` or a ``.env*`` file of the project, or any ``pyproject.toml`` → restart.
2. Not a ``.py`` file, outside every root, or in loader's own root → ignored.
3. A new ``modules/<name>/__init__.py`` (a module folder loader has not seen) → restart.
4. A resource file whose kind cannot reload in place (a migration) → restart, saying that
   migrations may need running.
5. A resource file: modified → reload it and every module that imports it, transitively;
   added → load it; deleted → unload its resources and reload what imported it.
6. Any other module (a helper such as ``src/lib/pricing.py``) that is loaded: reload it and
   its dependents; one nothing has imported is ignored.
7. A changed feature-flag file also re-evaluates every file's ``define_file_config``.
8. While some files are failed, any Python change in a root retries them (each fails or
   loads alone): a fix may be in a file they import, or a file they were missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from loader.core.import_graph import ImportGraph
from loader.discovery.scan import module_name_of, source_for
from loader.kinds.base import ResourceKind
from loader.types import Root, SourceFile, shown_relative

__all__ = ["FileChange", "ProjectIndex", "ReloadPlan", "plan_reload"]

ChangeKind = Literal["added", "modified", "deleted"]


@dataclass(frozen=True, slots=True)
class FileChange:
    """One change the watcher saw (or a caller passed to ``app.reload``)."""

    kind: ChangeKind
    path: Path

    def __repr__(self) -> str:
        return f"FileChange({self.kind!r}, {str(self.path)!r})"


@dataclass(frozen=True)
class ProjectIndex:
    """What the planner knows about a running project."""

    root: Path
    roots: Sequence[Root]
    kinds: Sequence[ResourceKind]
    sources: Mapping[Path, SourceFile]  # every resource file found at boot or loaded since
    failed: frozenset[Path]  # resource files whose last load failed
    graph: ImportGraph
    modules: Mapping[str, Path] = field(default_factory=dict)  # loaded tracked module → file
    # Reverse maps; the reloader keeps them up to date so that planning one change costs
    # nothing per file of the project. Built here when not given.
    by_module: Mapping[str, SourceFile] | None = None  # module name → resource file
    module_of_file: Mapping[Path, str] | None = None  # file → loaded tracked module

    def __post_init__(self) -> None:
        if self.by_module is None:  # frozen: set once, here
            object.__setattr__(self, "by_module", {s.module_name: s for s in self.sources.values()})
        if self.module_of_file is None:
            object.__setattr__(self, "module_of_file", {file: name for name, file in self.modules.items()})

    def display(self, path: Path) -> str:
        root = self.root_of(path)
        if root is not None:
            return root.display(path)
        return shown_relative(path, self.root)

    def root_of(self, path: Path) -> Root | None:
        """The deepest root holding ``path`` (a module folder inside ``src/`` wins)."""
        holding = [r for r in self.roots if path.is_relative_to(r.path)]
        return max(holding, key=lambda r: len(r.path.parts)) if holding else None


@dataclass
class ReloadPlan:
    """What to do about a batch of changes. Empty when nothing needs doing."""

    restart_reason: str | None = None
    import_groups: list[list[str]] = field(default_factory=list)  # module names, dependencies first
    resource_files: list[SourceFile] = field(default_factory=list)  # re-collect after importing
    unload: list[SourceFile] = field(default_factory=list)  # deleted resource files
    deleted_modules: list[str] = field(default_factory=list)  # helpers gone from disk
    flags_changed: bool = False
    why: dict[str, str] = field(default_factory=dict)  # display path → reason
    ignored: dict[str, str] = field(default_factory=dict)  # display path → reason
    changed: list[str] = field(default_factory=list)  # display paths of the changes

    @property
    def restart(self) -> bool:
        return self.restart_reason is not None

    @property
    def empty(self) -> bool:
        return not (self.restart or self.import_groups or self.resource_files or self.unload or self.deleted_modules)

    @property
    def dependents(self) -> int:
        return sum(1 for reason in self.why.values() if reason.startswith("imports "))


def plan_reload(changes: Iterable[FileChange], index: ProjectIndex) -> ReloadPlan:
    """Turn a batch of changes into one plan (a burst of changes becomes one reload or one restart)."""
    plan = ReloadPlan()
    changed_modules: dict[str, Path] = {}
    load: dict[str, SourceFile] = {}  # by module name: cheaper than by Path for 100s of dependents
    retry_failed = False
    by_module = index.by_module or {}
    known_files = index.module_of_file or {}
    for change in _last_change_per_path(_expand_deleted_folders(changes, index)):
        path = change.path
        if change.kind == "modified" and path not in index.sources and path not in known_files:
            change = FileChange("added", path)  # a file loader has not seen is new to it
        elif change.kind == "added" and (path in index.sources or path in known_files):
            change = FileChange("modified", path)  # a save by rename-over shows as "added"
        shown = index.display(path)
        plan.changed.append(shown)
        reason = _restart_reason(path, index)
        if reason is not None:
            plan.restart_reason = reason
            return plan
        root = index.root_of(path)
        if path.suffix != ".py":
            plan.ignored[shown] = "not a Python file"
            continue
        if root is None or root.kind == "builtin":
            plan.ignored[shown] = "outside src/ and the enabled plugins"
            continue
        # A file that failed may have failed because of this one (an import of a helper that
        # raised, a name it wanted): while any file is failed, every change retries them, so
        # what the server holds never depends on the order in which things were fixed.
        retry_failed |= bool(index.failed)
        if _is_new_module_folder(path, root, index):
            plan.restart_reason = f"{shown}: a new module folder (its root is set up at boot)"
            return plan
        source = index.sources.get(path) or source_for(root, path, index.kinds)
        if source is not None:
            kind = next(k for k in index.kinds if k.name == source.kind)
            if not kind.reloadable:
                extra = "; migrations may need running: loader db migrate" if kind.name == "migration" else ""
                plan.restart_reason = f"{shown} changed: {kind.name} files are not reloaded in place{extra}"
                return plan
            plan.flags_changed |= source.kind == "flag"
            if change.kind == "deleted":
                plan.unload.append(source)
                plan.why[shown] = "deleted"
                changed_modules[source.module_name] = path
            elif change.kind == "added" and path not in index.sources:
                load[source.module_name] = source
                plan.why[shown] = "added"
                retry_failed = True
            else:
                load[source.module_name] = source
                plan.why[shown] = "changed"
                changed_modules[source.module_name] = path
            continue
        module = _module_name(path, root, index)
        if change.kind == "added":
            retry_failed = True
            plan.ignored[shown] = "new file that nothing imports yet"
            continue
        if module not in index.modules and not index.graph.importers(module) and not index.failed:
            plan.ignored[shown] = "nothing imports it"
            continue
        if change.kind == "deleted":
            plan.deleted_modules.append(module)
        plan.why[shown] = "deleted" if change.kind == "deleted" else "changed"
        changed_modules[module] = path

    unloaded = {s.module_name for s in plan.unload}
    to_import = {m for m in changed_modules if m not in plan.deleted_modules and m not in unloaded}
    for dependent, chain in index.graph.dependents(changed_modules).items():
        to_import.add(dependent)
        source = by_module.get(dependent)
        shown = source.display if source else index.display(index.modules.get(dependent, Path(dependent)))
        plan.why.setdefault(shown, "imports " + " → ".join(_shown_module(m, index, by_module) for m in reversed(chain[:-1])))
        if source is not None and dependent not in load and dependent not in unloaded:
            load[dependent] = source
    if retry_failed:
        for path in sorted(index.failed):
            source = index.sources[path]
            if source.module_name in load or source.module_name in unloaded:
                continue
            load[source.module_name] = source
            to_import.add(source.module_name)
            plan.why.setdefault(source.display, "retried: it failed to load before")
    to_import |= set(load)
    plan.import_groups = index.graph.reload_order(to_import)
    plan.resource_files = sorted(load.values(), key=lambda s: (s.root.prefix, s.relpath))
    return plan


def _expand_deleted_folders(changes: Iterable[FileChange], index: ProjectIndex) -> list[FileChange]:
    """A folder that went away (moved out, removed) stands for every known file below it."""
    out: list[FileChange] = []
    for change in changes:
        if change.kind == "deleted" and change.path.suffix != ".py":
            known = [*index.sources, *index.modules.values()]
            inside = sorted({p for p in known if p.is_relative_to(change.path)})
            out.extend(FileChange("deleted", p) for p in inside)
            if inside:
                continue
        out.append(change)
    return out


def _last_change_per_path(changes: Iterable[FileChange]) -> list[FileChange]:
    # A burst (an editor's save-as-rename, a checkout) may report one path several times.
    last: dict[Path, FileChange] = {}
    for change in changes:
        previous = last.get(change.path)
        if previous is not None and previous.kind == "added" and change.kind == "modified":
            change = FileChange("added", change.path)
        last[change.path] = change
    return [last[p] for p in sorted(last)]


def _restart_reason(path: Path, index: ProjectIndex) -> str | None:
    shown = index.display(path)
    if path.name == "pyproject.toml":
        return f"{shown} changed (dependencies or installed plugins may have changed)"
    if path.parent == index.root and (path.name == "loader_config.py" or path.name.startswith(".env")):
        return f"{shown} changed"
    return None


def _is_new_module_folder(path: Path, root: Root, index: ProjectIndex) -> bool:
    relpath = path.relative_to(root.path).parts
    if root.kind not in ("project", "plugin") or len(relpath) != 3 or relpath[0] != "modules" or relpath[2] != "__init__.py":
        return False
    return not any(r.path == path.parent for r in index.roots)


def _module_name(path: Path, root: Root, index: ProjectIndex) -> str:
    name = (index.module_of_file or {}).get(path)
    return name if name is not None else module_name_of(root, path.relative_to(root.path).as_posix())


def _shown_module(module: str, index: ProjectIndex, by_module: Mapping[str, SourceFile]) -> str:
    source = by_module.get(module)
    if source is not None:
        return source.display
    path = index.modules.get(module)
    return index.display(path) if path else module
