"""ImportGraph: edges recorded from real import statements, and the questions hot reload asks."""

from __future__ import annotations

import builtins
import importlib
import itertools
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from loader.core.import_graph import ImportGraph

_numbers = itertools.count()

Package = Callable[[dict[str, str]], str]


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Package:
    """Write ``{relative path: source}`` as a fresh top-level package on sys.path; returns its name.

    ``{pkg}`` in a source stands for the package name. The autouse hygiene fixture drops the
    imported modules afterwards.
    """
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(files: dict[str, str]) -> str:
        name = f"gtest_pkg_{next(_numbers)}"
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
        for rel, text in files.items():
            target = tmp_path / name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).replace("{pkg}", name))
        importlib.invalidate_caches()
        return name

    return make


def tracking(pkg: str) -> ImportGraph:
    return ImportGraph(lambda name: name == pkg or name.startswith(pkg + "."))


def record(graph: ImportGraph, module: str) -> None:
    with graph.recording():
        importlib.import_module(module)


# -- recording ---------------------------------------------------------------------------------
def test_import_dotted_records_the_submodule(package: Package) -> None:
    pkg = package({"a.py": "import {pkg}.b\n", "b.py": ""})
    graph = tracking(pkg)
    record(graph, f"{pkg}.a")
    assert graph.imports(f"{pkg}.a") == {f"{pkg}.b"}
    assert graph.importers(f"{pkg}.b") == {f"{pkg}.a"}


def test_from_package_import_submodule_records_both(package: Package) -> None:
    pkg = package({"a.py": "from {pkg} import b\n", "b.py": ""})
    graph = tracking(pkg)
    record(graph, f"{pkg}.a")
    assert graph.imports(f"{pkg}.a") == {pkg, f"{pkg}.b"}


def test_from_module_import_name_records_the_module_only(package: Package) -> None:
    pkg = package({"a.py": "from {pkg}.b import VALUE\n", "b.py": "VALUE = 1\n"})
    graph = tracking(pkg)
    record(graph, f"{pkg}.a")
    assert graph.imports(f"{pkg}.a") == {f"{pkg}.b"}


def test_relative_imports_are_resolved(package: Package) -> None:
    pkg = package(
        {
            "sub/__init__.py": "",
            "sub/a.py": "from . import z\nfrom .w import VALUE\nfrom ..top import T\n",
            "sub/z.py": "",
            "sub/w.py": "VALUE = 1\n",
            "top.py": "T = 1\n",
        }
    )
    graph = tracking(pkg)
    record(graph, f"{pkg}.sub.a")
    assert graph.imports(f"{pkg}.sub.a") == {f"{pkg}.sub", f"{pkg}.sub.z", f"{pkg}.sub.w", f"{pkg}.top"}


def test_a_package_init_importing_its_own_submodule(package: Package) -> None:
    pkg = package({"sub/__init__.py": "from . import z\n", "sub/z.py": ""})
    graph = tracking(pkg)
    record(graph, f"{pkg}.sub")
    assert graph.imports(f"{pkg}.sub") == {f"{pkg}.sub.z"}  # no self edge


def test_untracked_modules_are_not_recorded(package: Package) -> None:
    pkg = package({"a.py": "import json\nfrom os import path\nimport email.mime.text\n"})
    graph = tracking(pkg)
    record(graph, f"{pkg}.a")
    assert graph.imports(f"{pkg}.a") == set()
    assert len(graph) == 0


def test_imports_by_untracked_modules_are_not_recorded(package: Package) -> None:
    outside = package({"b.py": ""})
    pkg = package({"a.py": f"import {outside}.b\n"})
    graph = tracking(outside)  # b is tracked, its importer is not
    record(graph, f"{pkg}.a")
    assert graph.importers(f"{outside}.b") == set()


def test_imports_after_the_block_are_not_recorded(package: Package) -> None:
    pkg = package({"a.py": "import {pkg}.b\n", "b.py": ""})
    graph = tracking(pkg)
    with graph.recording():
        pass
    importlib.import_module(f"{pkg}.a")
    assert len(graph) == 0


def test_the_hook_is_removed_after_the_block() -> None:
    original = builtins.__import__
    graph = ImportGraph(lambda name: True)
    with graph.recording():
        assert builtins.__import__ is not original
    assert builtins.__import__ is original


def test_the_hook_is_removed_when_the_block_raises(package: Package) -> None:
    pkg = package({"broken.py": "import {pkg}.missing\n"})
    original = builtins.__import__
    graph = tracking(pkg)
    with pytest.raises(ModuleNotFoundError), graph.recording():
        importlib.import_module(f"{pkg}.broken")
    assert builtins.__import__ is original
    assert len(graph) == 0


def test_recording_is_reentrant(package: Package) -> None:
    pkg = package({"a.py": "import {pkg}.b\n", "b.py": ""})
    original = builtins.__import__
    graph = tracking(pkg)
    with graph.recording(), graph.recording():
        importlib.import_module(f"{pkg}.a")
    assert builtins.__import__ is original
    assert graph.imports(f"{pkg}.a") == {f"{pkg}.b"}


# -- editing -----------------------------------------------------------------------------------
def graph_of(*edges: str) -> ImportGraph:
    """``graph_of("a>b", "b>c")``: a imports b, b imports c."""
    graph = ImportGraph(lambda name: True)
    for edge in edges:
        importer, imported = edge.split(">")
        graph.add(importer, imported)
    return graph


def test_add_ignores_self_edges() -> None:
    assert len(graph_of("a>a")) == 0


def test_forget_drops_outgoing_edges_only() -> None:
    graph = graph_of("a>b", "a>c", "d>a")
    graph.forget("a")
    assert graph.imports("a") == set()
    assert graph.importers("b") == set() and graph.importers("c") == set()
    assert graph.importers("a") == {"d"}  # who imports it is kept
    assert len(graph) == 1


def test_forget_of_an_unknown_module_is_harmless() -> None:
    graph = graph_of("a>b")
    graph.forget("zzz")
    assert len(graph) == 1


# -- dependents ----------------------------------------------------------------------------------
def test_dependents_are_transitive_with_the_shortest_chain() -> None:
    graph = graph_of("route>pricing", "pricing>tax", "route>tax", "report>pricing", "other>unrelated")
    assert graph.dependents(["tax"]) == {
        "pricing": ["tax", "pricing"],
        "route": ["tax", "route"],  # direct import beats the way through pricing
        "report": ["tax", "pricing", "report"],
    }


def test_dependents_exclude_the_changed_modules_themselves() -> None:
    graph = graph_of("a>b", "b>a", "r>a")
    assert graph.dependents(["a", "b"]) == {"r": ["a", "r"]}
    assert graph.dependents(["nothing"]) == {}


def test_dependents_terminate_on_cycles() -> None:
    graph = graph_of("a>b", "b>a")
    assert graph.dependents(["a"]) == {"b": ["a", "b"]}


# -- reload order --------------------------------------------------------------------------------
def test_reload_order_puts_dependencies_first() -> None:
    graph = graph_of("route>pricing", "pricing>tax", "route>tax")
    assert graph.reload_order(["route", "tax", "pricing"]) == [["tax"], ["pricing"], ["route"]]


def test_reload_order_groups_a_cycle_before_its_importers() -> None:
    graph = graph_of("a>b", "b>a", "route>a", "b>base")
    assert graph.reload_order(["route", "a", "b", "base"]) == [["base"], ["a", "b"], ["route"]]


def test_reload_order_only_returns_the_modules_asked_for() -> None:
    graph = graph_of("route>pricing", "pricing>tax", "pricing>route")
    assert graph.reload_order(["route"]) == [["route"]]
    assert graph.reload_order([]) == []


def test_reload_order_of_unconnected_modules_is_sorted() -> None:
    assert graph_of().reload_order(["c", "a", "b"]) == [["a"], ["b"], ["c"]]
