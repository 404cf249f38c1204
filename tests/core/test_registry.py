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


def test_duplicate_within_one_origin_rejects_the_later_file_and_names_both_places() -> None:
    reg = registry()
    reg.apply(ChangeSet(add=[res("job", "nightly", "jobs/a.py", line=3)]))
    reg.apply(ChangeSet(add=[res("job", "nightly", "jobs/b.py", line=7)]))
    [error] = reg.errors
    assert isinstance(error, DuplicateResourceError)
    assert error.location == "src/jobs/b.py:7"
    assert "src/jobs/a.py:3" in error.message
    assert [r.source.relpath for r in reg.list()] == ["jobs/a.py"]
    assert [r.source.relpath for r in reg.snapshot().of("job")] == ["jobs/a.py"]


def test_the_winner_is_the_first_file_whatever_the_order_of_loading() -> None:
    later, earlier = registry(), registry()
    later.apply(ChangeSet(add=[res("job", "nightly", "jobs/b.py")]))
    later.apply(ChangeSet(add=[res("job", "nightly", "jobs/a.py")]))
    earlier.apply(ChangeSet(add=[res("job", "nightly", "jobs/a.py"), res("job", "nightly", "jobs/b.py")]))
    for reg in (later, earlier):
        assert [r.source.relpath for r in reg.snapshot().of("job")] == ["jobs/a.py"]
        assert [e.path for e in reg.errors] == ["src/jobs/b.py"]


def test_a_rejected_file_becomes_active_when_the_file_it_duplicated_goes() -> None:
    reg = registry()
    reg.apply(ChangeSet(add=[res("job", "nightly", "jobs/a.py"), res("job", "nightly", "jobs/b.py")]))
    prepared = reg.apply(ChangeSet(remove_sources={"src/jobs/a.py"}))
    assert [r.source.relpath for r in reg.snapshot().of("job")] == ["jobs/b.py"]
    assert [r.source.relpath for r in prepared.activated] == ["jobs/b.py"]
    assert reg.errors == []


def test_a_failed_file_keeps_its_last_good_resources_and_loses_conflicts_to_fresh_ones() -> None:
    reg = registry()
    old_b = res("job", "nightly", "jobs/b.py")
    reg.apply(ChangeSet(add=[old_b]))
    broken = ResourceImportError("boom", path="src/jobs/b.py", line=2)
    reg.apply(ChangeSet(failed={"src/jobs/b.py": [broken]}))
    assert reg.snapshot().of("job") == (old_b,) and reg.is_stale("src/jobs/b.py")
    assert reg.errors == [broken]
    fresh = res("job", "nightly", "jobs/z.py")  # sorts after b, wins because b is stale
    reg.apply(ChangeSet(add=[fresh]))
    assert reg.snapshot().of("job") == (fresh,)
    assert {e.path for e in reg.errors} == {"src/jobs/b.py"}


def test_a_prepared_change_that_is_not_committed_leaves_no_trace() -> None:
    reg = registry()
    reg.apply(ChangeSet(add=[res("job", "nightly", "jobs/a.py")]))
    before = reg.snapshot()
    prepared = reg.prepare(ChangeSet(add=[res("job", "other", "jobs/c.py")], remove_sources={"src/jobs/a.py"}))
    assert [r.id for r in prepared.snapshot.of("job")] == ["other"]
    assert reg.snapshot() is before
    assert [r.id for r in reg.list()] == ["nightly"]
    reg.apply(ChangeSet(add=[res("job", "x", "jobs/x.py")]))
    with pytest.raises(RuntimeError):  # prepared against an older state
        reg.commit(prepared)


def test_project_route_overrides_plugin_route_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    reg = registry()
    plugin = res("route", "GET /hello", "api/hello/route.py", origin="plugin:greetings")
    project = res("route", "GET /hello", "api/hello/route.py", origin="project")
    with caplog.at_level("INFO", logger="loader.registry"):
        reg.apply(ChangeSet(add=[plugin, project]))
    assert reg.snapshot().of("route") == (project,)
    assert "overrides" in caplog.text


def test_unregister_source_removes_its_resources_and_errors() -> None:
    reg = registry()
    reg.apply(ChangeSet(add=[res("route", "GET /a", "api/a/route.py"), res("route", "GET /b", "api/b/route.py")]))
    reg.apply(ChangeSet(failed={"src/api/a/route.py": [ResourceImportError("boom", path="src/api/a/route.py", line=2)]}))
    reg.apply(ChangeSet(remove_sources={"src/api/a/route.py"}))
    assert [r.id for r in reg.list()] == ["GET /b"]
    assert reg.errors == []


def test_snapshot_is_immutable_and_replaced_on_change() -> None:
    reg = registry()
    first = reg.snapshot()
    reg.apply(ChangeSet(add=[res("route", "GET /a", "api/a/route.py")]))
    second = reg.snapshot()
    assert first is not second and second.version == first.version + 1
    with pytest.raises(TypeError):
        second.by_kind["route"] = ()  # type: ignore[index]


def test_disabled_resources_are_listed_but_not_served_and_never_conflict() -> None:
    import dataclasses

    reg = registry()
    enabled = res("route", "GET /a", "api/a/route.py")
    disabled = dataclasses.replace(res("route", "GET /a", "api/a2/route.py"), enabled=False, disabled_reason="off")
    reg.apply(ChangeSet(add=[enabled, disabled]))
    assert len(reg.list()) == 2
    assert reg.snapshot().of("route") == (enabled,)


def test_snapshot_keeps_load_order_across_reloads() -> None:
    reg = registry()
    reg.apply(ChangeSet(add=[res("route", f"GET /{c}", f"api/{c}/route.py") for c in "abc"]))
    reg.apply(ChangeSet(remove_sources={"src/api/a/route.py"}, add=[res("route", "GET /a", "api/a/route.py")]))
    assert [r.id for r in reg.snapshot().of("route")] == ["GET /a", "GET /b", "GET /c"]
    assert reg.counts() == {"route": 3}
