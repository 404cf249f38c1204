"""The one load pipeline: source files → resources, the same at boot and on reload.

For each file: get its module (boot imports it; a reload has just imported it again), then
— for flag files — register its flags, or — for every other kind — evaluate its file config
and collect its resources, disabled with the reason when the file config says so. Flag files
go first, so every ``is_disabled`` predicate sees every flag. A file that fails is reported
with ``path:line`` and fails alone: the others load. Boot is ``load_files(every file)``, a
reload ``load_files(the changed files and their dependents)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from loader.core import file_config
from loader.core.flags import FeatureFlag, FlagSettings
from loader.core.registry import ChangeSet, Registry
from loader.errors import LoaderError
from loader.types import Resource, SourceFile

if TYPE_CHECKING:
    from loader.kinds.base import ResourceKind

__all__ = ["GetModule", "LoadResult", "load_files", "reevaluate_file_configs"]

GetModule = Callable[[SourceFile], ModuleType]


@dataclass
class LoadResult:
    """What loading some files gave: their resources, and the files that failed (with why)."""

    resources: list[Resource] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)  # display paths of the files that loaded
    failed: dict[str, list[LoaderError]] = field(default_factory=dict)
    with_file_config: set[str] = field(default_factory=set)  # loaded files that call define_file_config

    def change(self, remove: Iterable[str] = ()) -> ChangeSet:
        """The registry change: loaded files replace their resources; failed files keep theirs."""
        return ChangeSet(remove_sources={*self.loaded, *remove}, add=list(self.resources), failed=dict(self.failed))


def load_files(
    sources: Sequence[SourceFile],
    kinds: Mapping[str, ResourceKind],
    registry: Registry,
    config_flags: Mapping[str, bool | dict[str, bool]],
    get_module: GetModule,
) -> LoadResult:
    """Load ``sources`` (flag files first, then the rest in the order given)."""
    result = LoadResult()
    flag_sources = [s for s in sources if s.kind == "flag"]
    for source in flag_sources:
        _load_flag_file(source, kinds["flag"], registry, config_flags, get_module, result)
    if flag_sources:
        for key, value in config_flags.items():
            FeatureFlag.set_config_only(key, value)
    for source in sources:
        if source.kind != "flag":
            _load_file(source, kinds[source.kind], get_module, result)
    return result


def reevaluate_file_configs(
    sources: Iterable[SourceFile], registry: Registry, get_module: Callable[[SourceFile], ModuleType | None]
) -> LoadResult:
    """Flags changed: run again the ``is_disabled`` of the given files (those that have one).

    Only files whose state changed are in the result; the others are left alone.
    """
    result = LoadResult()
    for source in sources:
        current = registry.by_source(source.display)
        module = get_module(source)
        if not current or module is None or registry.is_stale(source.display):
            continue
        try:
            reason = file_config.evaluate(module, source.display)
        except LoaderError as exc:
            result.failed[source.display] = [exc]
            continue
        if all(r.disabled_reason == reason and r.enabled == (reason is None) for r in current):
            continue
        result.loaded.add(source.display)
        result.with_file_config.add(source.display)
        result.resources += [dataclasses.replace(r, enabled=reason is None, disabled_reason=reason) for r in current]
    return result


def _collect(kind: ResourceKind, module: ModuleType, source: SourceFile) -> list[Resource]:
    try:
        return kind.collect(module, source)
    except LoaderError:
        raise
    except Exception as exc:  # a plugin kind's collect() is not ours to trust
        raise LoaderError(f"{kind.name} collection failed: {type(exc).__name__}: {exc}", path=source.display) from exc


def _load_file(source: SourceFile, kind: ResourceKind, get_module: GetModule, result: LoadResult) -> None:
    try:
        module = get_module(source)
        reason = file_config.evaluate(module, source.display)
        resources = _collect(kind, module, source)
    except LoaderError as exc:
        result.failed[source.display] = [exc]
        return
    if file_config.file_config_of(module) is not None:
        result.with_file_config.add(source.display)
    if reason is not None:
        resources = [dataclasses.replace(r, enabled=False, disabled_reason=reason) for r in resources]
    result.loaded.add(source.display)
    result.resources.extend(resources)


def _load_flag_file(
    source: SourceFile,
    kind: ResourceKind,
    registry: Registry,
    config_flags: Mapping[str, bool | dict[str, bool]],
    get_module: GetModule,
    result: LoadResult,
) -> None:
    """Register a flag file's flags in place of its previous ones (kept if this load fails)."""
    try:
        resources = _collect(kind, get_module(source), source)
    except LoaderError as exc:
        result.failed[source.display] = [exc]
        return
    previous = [r for r in registry.by_source(source.display) if r.kind == "flag"]
    saved = FeatureFlag.snapshot()
    for old in previous:
        FeatureFlag.unregister(old.id)
    try:
        for resource in resources:
            settings: FlagSettings = resource.obj
            FeatureFlag.register(settings, config_flags, display_path=source.display)
    except LoaderError as exc:
        FeatureFlag.restore(saved)
        result.failed[source.display] = [exc]
        return
    result.loaded.add(source.display)
    result.resources.extend(resources)
