"""The pure reload planner: every rule of ``loader/dev/plan.py``, on hand-built indexes.

Nothing here touches the disk or imports project files: ``source_for`` and ``root_of`` only
compare paths, so the project lives at a made-up ``/p``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from loader import Origin, Root, SourceFile
from loader.core.import_graph import ImportGraph
from loader.dev.plan import FileChange, ProjectIndex, ReloadPlan, plan_reload
from loader.discovery.roots import builtin_root, project_root
from loader.discovery.scan import source_for
from loader.kinds import builtin_kinds

PROJECT = Path("/p")
SRC = project_root(PROJECT)
BILLING = Root(Origin("module", "billing"), PROJECT / "src/modules/billing", "src.modules.billing", "module", display_base=PROJECT)
KINDS = builtin_kinds()

ROUTE_A = "src/api/a/route.py"
ROUTE_B = "src/api/b/route.py"
ROUTE_C = "src/api/c/route.py"
PRICING = "src/lib/pricing.py"
TAX = "src/lib/tax.py"


def source(display: str) -> SourceFile:
    """The SourceFile a boot scan gives for a project path such as ``src/api/a/route.py``."""
    path = PROJECT / display
    root = BILLING if path.is_relative_to(BILLING.path) else SRC
    found = source_for(root, path, KINDS)
    assert found is not None, display
    return found


def mod(display: str) -> str:
    """``src/lib/pricing.py`` → ``src.lib.pricing``."""
    return display.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def index(
    files: Iterable[str] = (),
    helpers: Iterable[str] = (),
    edges: Iterable[tuple[str, str]] = (),
    failed: Iterable[str] = (),
) -> ProjectIndex:
    """A running project: resource ``files``, loaded ``helpers``, ``edges`` importer → imported (paths)."""
    sources = {s.path: s for s in map(source, files)}
    graph = ImportGraph(lambda name: name.startswith("src"))
    for importer, imported in edges:
        graph.add(mod(importer), mod(imported))
    modules = {s.module_name: s.path for s in sources.values()} | {mod(h): PROJECT / h for h in helpers}
    return ProjectIndex(
        PROJECT, [builtin_root(), SRC, BILLING], KINDS, sources, frozenset(PROJECT / f for f in failed), graph, modules
    )


def plan(idx: ProjectIndex, *changes: tuple[str, str]) -> ReloadPlan:
    return plan_reload([FileChange(kind, PROJECT / p) for kind, p in changes], idx)  # type: ignore[arg-type]


def files(p: ReloadPlan) -> list[str]:
    return [s.display for s in p.resource_files]


def flat(p: ReloadPlan) -> list[str]:
    return [m for group in p.import_groups for m in group]


# -- rule 1: restarts --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("loader_config.py", "loader_config.py changed"),
        (".env", ".env changed"),
        (".env.production", ".env.production changed"),
        ("pyproject.toml", "pyproject.toml changed (dependencies"),
        ("src/vendored/pyproject.toml", "src/vendored/pyproject.toml changed (dependencies"),
    ],
)
def test_config_env_and_pyproject_restart_with_the_reason(path: str, reason: str) -> None:
    p = plan(index(), ("modified", path))
    assert p.restart
    assert p.restart_reason is not None and p.restart_reason.startswith(reason)


@pytest.mark.parametrize("path", ["src/.env", "config/.env.production", "src/loader_config.py"])
def test_config_names_below_the_project_root_do_not_restart(path: str) -> None:
    assert not plan(index(), ("modified", path)).restart


def test_any_restart_in_a_batch_restarts_the_whole_batch() -> None:
    p = plan(index([ROUTE_A]), ("modified", ROUTE_A), ("modified", ".env"), ("modified", PRICING))
    assert p.restart_reason == ".env changed"
    assert not p.empty


# -- rule 2: ignored -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("src/api/a/README.md", "not a Python file"),
        ("src/api/a/route.pyc", "not a Python file"),
        ("scripts/seed.py", "outside src/ and the enabled plugins"),
        ("tests/test_app.py", "outside src/ and the enabled plugins"),
    ],
)
def test_non_python_files_and_files_outside_every_root_are_ignored(path: str, reason: str) -> None:
    p = plan(index(), ("modified", path))
    assert p.empty and not p.restart
    assert p.ignored == {path: reason}


def test_a_file_of_loaders_builtin_root_is_ignored() -> None:
    builtin_file = builtin_root().path / "api/health/route.py"
    p = plan_reload([FileChange("modified", builtin_file)], index())
    assert p.empty
    assert list(p.ignored.values()) == ["outside src/ and the enabled plugins"]


# -- rule 3: new module folder -------------------------------------------------------------------
def test_a_new_module_folder_restarts() -> None:
    p = plan(index(), ("added", "src/modules/shipping/__init__.py"))
    assert p.restart_reason == "src/modules/shipping/__init__.py: a new module folder (its root is set up at boot)"


def test_a_known_module_init_is_reloaded_as_a_module() -> None:
    p = plan(index(["src/modules/billing/__init__.py"]), ("modified", "src/modules/billing/__init__.py"))
    assert not p.restart
    assert [(s.kind, s.display) for s in p.resource_files] == [("module", "src/modules/billing/__init__.py")]
    assert p.import_groups == [["src.modules.billing"]]
    assert p.why == {"src/modules/billing/__init__.py": "changed"}


# -- rule 4: kinds that cannot reload ----------------------------------------------------------
@pytest.mark.parametrize("kind", ["added", "modified"])
def test_a_migration_restarts_saying_migrations_may_need_running(kind: str) -> None:
    mig = "src/modules/billing/migrations/0002_invoices.py"
    p = plan(index([mig]), (kind, mig))
    assert p.restart_reason is not None
    assert p.restart_reason.startswith(f"{mig} changed: migration files are not reloaded in place")
    assert "migrations may need running" in p.restart_reason


# -- rule 5: resource files --------------------------------------------------------------------
def test_a_modified_route_is_reloaded_alone() -> None:
    p = plan(index([ROUTE_A, ROUTE_B]), ("modified", ROUTE_A))
    assert files(p) == [ROUTE_A]
    assert p.import_groups == [[mod(ROUTE_A)]]
    assert p.why == {ROUTE_A: "changed"}
    assert p.changed == [ROUTE_A]
    assert p.dependents == 0 and not p.unload and not p.flags_changed


def test_an_added_route_is_loaded_and_failed_files_are_retried() -> None:
    new = "src/api/new/route.py"
    p = plan(index([ROUTE_A, ROUTE_B], failed=[ROUTE_B]), ("added", new))
    assert files(p) == [ROUTE_B, new]
    assert p.why == {new: "added", ROUTE_B: "retried: it failed to load before"}
    assert sorted(flat(p)) == [mod(ROUTE_B), mod(new)]


def test_any_change_retries_failed_files_a_fix_may_be_anywhere() -> None:
    p = plan(index([ROUTE_A, ROUTE_B], failed=[ROUTE_B]), ("modified", ROUTE_A))
    assert files(p) == [ROUTE_A, ROUTE_B]
    helper = plan(index([ROUTE_A, ROUTE_B], failed=[ROUTE_B]), ("modified", "src/lib/nobody_imports_me.py"))
    assert files(helper) == [ROUTE_B]


def test_without_failed_files_a_modified_route_reloads_alone() -> None:
    assert files(plan(index([ROUTE_A, ROUTE_B]), ("modified", ROUTE_A))) == [ROUTE_A]


def test_a_modified_event_for_an_unknown_file_is_an_addition() -> None:
    new = "src/api/new/route.py"
    p = plan(index([ROUTE_A]), ("modified", new))
    assert files(p) == [new]
    assert p.why == {new: "added"}


def test_a_deleted_route_is_unloaded_and_its_importers_reloaded() -> None:
    idx = index([ROUTE_A, ROUTE_B], edges=[(ROUTE_B, ROUTE_A)])
    p = plan(idx, ("deleted", ROUTE_A))
    assert [s.display for s in p.unload] == [ROUTE_A]
    assert files(p) == [ROUTE_B]
    assert p.import_groups == [[mod(ROUTE_B)]]
    assert p.why == {ROUTE_A: "deleted", ROUTE_B: f"imports {ROUTE_A}"}


def test_a_route_deleted_with_the_helper_it_imports_is_not_imported_again() -> None:
    idx = index([ROUTE_A], helpers=[PRICING], edges=[(ROUTE_A, PRICING)])
    p = plan(idx, ("modified", PRICING), ("deleted", ROUTE_A))
    assert [s.display for s in p.unload] == [ROUTE_A]
    assert p.import_groups == [[mod(PRICING)]]
    assert files(p) == []


def test_a_failed_file_deleted_in_the_batch_is_not_retried() -> None:
    new = "src/api/new/route.py"
    p = plan(index([ROUTE_A, ROUTE_B], failed=[ROUTE_B]), ("added", new), ("deleted", ROUTE_B))
    assert [s.display for s in p.unload] == [ROUTE_B]
    assert ROUTE_B not in files(p)


# -- rule 6: helpers and the import graph ------------------------------------------------------
def helper_project(failed: Iterable[str] = ()) -> ProjectIndex:
    """Routes a and b import pricing; c imports nothing; tax imports pricing."""
    return index(
        [ROUTE_A, ROUTE_B, ROUTE_C],
        helpers=[PRICING, TAX],
        edges=[(ROUTE_A, PRICING), (ROUTE_B, PRICING), (ROUTE_A, "src/lib/other.py")],
        failed=failed,
    )


def test_a_helper_reloads_its_importers_after_itself() -> None:
    p = plan(helper_project(), ("modified", PRICING))
    assert files(p) == [ROUTE_A, ROUTE_B]
    assert p.import_groups[0] == [mod(PRICING)]
    assert sorted(flat(p)[1:]) == [mod(ROUTE_A), mod(ROUTE_B)]
    assert p.why[PRICING] == "changed"
    assert p.why[ROUTE_A] == f"imports {PRICING}"
    assert p.dependents == 2


def test_a_helper_change_leaves_unrelated_files_alone() -> None:
    p = plan(helper_project(), ("modified", PRICING))
    assert ROUTE_C not in files(p) and mod(ROUTE_C) not in flat(p) and ROUTE_C not in p.why
    assert mod(TAX) not in flat(p)


def test_a_transitive_importer_says_through_which_chain() -> None:
    idx = index([ROUTE_A], helpers=[PRICING, TAX], edges=[(ROUTE_A, PRICING), (PRICING, TAX)])
    p = plan(idx, ("modified", TAX))
    assert p.import_groups == [[mod(TAX)], [mod(PRICING)], [mod(ROUTE_A)]]
    assert p.why[ROUTE_A] == f"imports {PRICING} → {TAX}"
    assert p.why[PRICING] == f"imports {TAX}"
    assert files(p) == [ROUTE_A]


def test_a_cycle_reloads_as_one_group_before_its_importers() -> None:
    a, b = "src/lib/a.py", "src/lib/b.py"
    idx = index([ROUTE_A], helpers=[a, b], edges=[(a, b), (b, a), (ROUTE_A, a)])
    p = plan(idx, ("modified", a))
    assert p.import_groups == [[mod(a), mod(b)], [mod(ROUTE_A)]]


def test_a_helper_nothing_imports_is_ignored() -> None:
    p = plan(index([ROUTE_A]), ("deleted", "src/lib/unused.py"))
    assert p.empty
    assert p.ignored == {"src/lib/unused.py": "nothing imports it"}


def test_a_new_helper_is_ignored_but_retries_failed_files() -> None:
    p = plan(index([ROUTE_A], failed=[ROUTE_A]), ("added", "src/lib/fresh.py"))
    assert p.ignored == {"src/lib/fresh.py": "new file that nothing imports yet"}
    assert files(p) == [ROUTE_A]
    assert p.why == {ROUTE_A: "retried: it failed to load before"}


def test_a_modified_helper_loader_never_loaded_is_ignored() -> None:
    p = plan(index([ROUTE_A]), ("modified", "src/lib/unused.py"))
    assert p.empty
    assert p.ignored == {"src/lib/unused.py": "new file that nothing imports yet"}


def test_an_added_event_for_a_loaded_helper_reloads_it() -> None:
    p = plan(helper_project(), ("added", PRICING))
    assert files(p) == [ROUTE_A, ROUTE_B]
    assert p.why[PRICING] == "changed"


def test_a_deleted_helper_is_dropped_and_its_importers_reloaded() -> None:
    p = plan(helper_project(), ("deleted", PRICING))
    assert p.deleted_modules == [mod(PRICING)]
    assert files(p) == [ROUTE_A, ROUTE_B]
    assert sorted(flat(p)) == [mod(ROUTE_A), mod(ROUTE_B)]
    assert p.why[PRICING] == "deleted"
    assert p.dependents == 2


def test_a_skipped_file_in_a_resource_folder_counts_as_a_helper() -> None:
    shared = "src/api/_shared.py"
    idx = index([ROUTE_A], helpers=[shared], edges=[(ROUTE_A, shared)])
    p = plan(idx, ("modified", shared))
    assert files(p) == [ROUTE_A]
    assert p.import_groups == [[mod(shared)], [mod(ROUTE_A)]]


# -- rule 7: feature flags ---------------------------------------------------------------------
def test_a_flag_file_change_marks_flags_changed() -> None:
    flag = "src/feature_flags/checkout.py"
    p = plan(index([flag, ROUTE_A]), ("modified", flag))
    assert p.flags_changed
    assert files(p) == [flag]


def test_a_route_change_does_not_mark_flags_changed() -> None:
    assert not plan(index([ROUTE_A]), ("modified", ROUTE_A)).flags_changed


# -- batches -----------------------------------------------------------------------------------
def test_an_empty_batch_is_an_empty_plan() -> None:
    p = plan(index([ROUTE_A]))
    assert p.empty and not p.restart and p.changed == []


def test_added_then_modified_in_one_burst_is_one_addition() -> None:
    new = "src/api/new/route.py"
    p = plan(index(), ("added", new), ("modified", new), ("modified", new))
    assert p.changed == [new]
    assert p.why == {new: "added"}
    assert files(p) == [new]


def test_deleted_then_added_in_one_burst_is_a_modification() -> None:
    p = plan(index([ROUTE_A]), ("deleted", ROUTE_A), ("added", ROUTE_A))
    assert p.why == {ROUTE_A: "changed"}
    assert files(p) == [ROUTE_A] and not p.unload


def test_many_changes_make_one_plan() -> None:
    p = plan(helper_project(), ("modified", ROUTE_C), ("modified", PRICING), ("modified", ROUTE_A))
    assert p.changed == [ROUTE_A, ROUTE_C, PRICING]  # sorted by path, each once
    assert files(p) == [ROUTE_A, ROUTE_B, ROUTE_C]
    assert p.import_groups[0] == [mod(PRICING)]
    assert p.why[ROUTE_A] == "changed"  # its own change wins over "imports …"
    assert p.dependents == 1


def test_a_folder_that_went_away_unloads_every_file_below_it() -> None:
    p = plan(index([ROUTE_A, ROUTE_B]), ("deleted", "src/api/a"))
    assert [s.display for s in p.unload] == [ROUTE_A]
