from __future__ import annotations

from pathlib import Path

import pytest

from loader import DuplicateResourceError, Origin, Resource, Root, SourceFile
from loader.core.registry import ChangeSet, Registry
from loader.errors import ResourceImportError


def res(kind: str, id: str, rel: str, origin: str = "project", export: str = "GET", line: int = 1) -> Resource:
    o = Origin.parse(origin)
    root = Root(o, Path("/p/src"), "src", "project" if o.kind == "project" else "plugin", display_base=Path("/p"))
    source = SourceFile(root, rel, kind, "src." + rel)
    return Resource(kind=kind, id=id, obj=object(), source=source, line=line, export=export)


def registry() -> Registry:
    return Registry(
        conflict_keys={"route": lambda r: r.id, "job": lambda r: r.id},
        policies={"route": "override", "job": "error"},
        load_order={"plugin:greetings": 1, "project": 2},
    )


def test_duplicate_within_one_origin_names_both_places() -> None:
    reg = registry()
    reg.register([res("job", "nightly", "jobs/a.py", line=3)])
    with pytest.raises(DuplicateResourceError) as info:
        reg.register([res("job", "nightly", "jobs/b.py", line=7)])
    assert info.value.location == "src/jobs/b.py:7"
    assert "src/jobs/a.py:3" in info.value.message


def test_failed_change_set_leaves_the_registry_as_it_was() -> None:
    reg = registry()
    reg.register([res("job", "nightly", "jobs/a.py")])
    before = reg.snapshot()
    with pytest.raises(DuplicateResourceError):
        reg.apply(ChangeSet(add=[res("job", "other", "jobs/c.py"), res("job", "nightly", "jobs/b.py")]))
    assert reg.snapshot() is before
    assert [r.id for r in reg.list()] == ["nightly"]


def test_project_route_overrides_plugin_route_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    reg = registry()
    plugin = res("route", "GET /hello", "api/hello/route.py", origin="plugin:greetings")
    project = res("route", "GET /hello", "api/hello/route.py", origin="project")
    with caplog.at_level("INFO", logger="loader.registry"):
        reg.register([plugin, project])
    assert reg.snapshot().of("route") == (project,)
    assert "overrides" in caplog.text


def test_unregister_source_removes_its_resources_and_errors() -> None:
    reg = registry()
    reg.register([res("route", "GET /a", "api/a/route.py"), res("route", "GET /b", "api/b/route.py")])
    reg.record_error(ResourceImportError("boom", path="src/api/a/route.py", line=2))
    reg.unregister_source("src/api/a/route.py")
    assert [r.id for r in reg.list()] == ["GET /b"]
    assert reg.errors == []


def test_snapshot_is_immutable_and_replaced_on_change() -> None:
    reg = registry()
    first = reg.snapshot()
    reg.register([res("route", "GET /a", "api/a/route.py")])
    second = reg.snapshot()
    assert first is not second and second.version == first.version + 1
    with pytest.raises(TypeError):
        second.by_kind["route"] = ()  # type: ignore[index]


def test_disabled_resources_are_listed_but_not_served_and_never_conflict() -> None:
    import dataclasses

    reg = registry()
    enabled = res("route", "GET /a", "api/a/route.py")
    disabled = dataclasses.replace(res("route", "GET /a", "api/a2/route.py"), enabled=False, disabled_reason="off")
    reg.register([enabled, disabled])
    assert len(reg.list()) == 2
    assert reg.snapshot().of("route") == (enabled,)
