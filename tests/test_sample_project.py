"""The sample project the docs quote: it must load cleanly and show every convention."""

from __future__ import annotations

import sys

from loader import load_project


def test_sample_project_loads_without_errors(sample_project) -> None:
    project = load_project(sample_project)
    assert project.errors == []
    ids = {(r.kind, r.id) for r in project.registry.list()}
    assert {
        ("route", "GET /store/hello"),
        ("route", "GET /store/posts/{id}"),
        ("route", "POST /store/posts"),
        ("route", "GET /store/custom"),
        ("route", "GET /greetings"),
        ("middlewares", "project middlewares"),
        ("workflow", "publish-post"),
        ("job", "nightly-sync"),
        ("module", "blog"),
        ("module", "notification"),
        ("provider", "notification/console"),
        ("migration", "blog:Migration20250822135845"),
        ("flag", "custom_feature"),
        ("flag", "blog_comments"),
    } <= ids
    assert any(r.kind == "subscriber" and r.origin.kind == "project" for r in project.registry.list())


def test_custom_feature_gates_a_route_and_a_migration(sample_project, monkeypatch) -> None:
    gated = {"GET /store/custom", "blog:Migration20250901120000"}
    project = load_project(sample_project)
    off = {r.id: r for r in project.registry.list() if r.id in gated}
    assert all(not r.enabled for r in off.values()) and len(off) == 2
    assert off["GET /store/custom"].disabled_reason == "is_disabled() returned True (flags read: custom_feature=off)"

    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]  # a second boot in one process, as a restart would be
    monkeypatch.setenv("LOADER_FF_CUSTOM_FEATURE", "true")
    project = load_project(sample_project)
    assert all(r.enabled for r in project.registry.list() if r.id in gated)


def test_one_module_object_per_file(sample_project) -> None:
    project = load_project(sample_project)
    [hello] = [r for r in project.registry.list("route") if r.id == "GET /store/hello"]
    assert sys.modules["src.api.store.hello.route"].GET is hello.obj
