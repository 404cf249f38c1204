from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loader.discovery.roots import project_root
from loader.discovery.scan import scan_root
from loader.kinds import builtin_kinds


def touch(root: Path, *paths: str) -> None:
    for rel in paths:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")


def test_scan_rules(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "src/api/store/hello/route.py",
        "src/api/store/[id]/route.py",
        "src/api/store/hello/helpers.py",  # not a route.py: not a resource
        "src/api/_private/route.py",
        "src/api/.hidden/route.py",
        "src/api/tests/route.py",
        "src/api/__pycache__/route.py",
        "src/api/middlewares.py",
        "src/api/nested/middlewares.py",  # only one per api/ root
        "src/subscribers/on_order.py",
        "src/subscribers/_draft.py",
        "src/subscribers/test_on_order.py",
        "src/subscribers/on_order_test.py",
        "src/subscribers/conftest.py",
        "src/subscribers/notes.txt",
        "src/jobs/nightly.py",
        "src/workflows/publish.py",
        "src/feature_flags/custom.py",
        "src/lib/pricing.py",  # helpers are not scanned
    )
    found = [(f.kind, f.relpath) for f in scan_root(project_root(tmp_path), builtin_kinds())]
    assert found == [
        ("middlewares", "api/middlewares.py"),
        ("route", "api/store/[id]/route.py"),
        ("route", "api/store/hello/route.py"),
        ("flag", "feature_flags/custom.py"),
        ("job", "jobs/nightly.py"),
        ("subscriber", "subscribers/on_order.py"),
        ("workflow", "workflows/publish.py"),
    ]


def test_module_names_follow_the_folders(tmp_path: Path) -> None:
    touch(tmp_path, "src/api/store/hello/route.py")
    [found] = scan_root(project_root(tmp_path), builtin_kinds())
    assert found.module_name == "src.api.store.hello.route"
    assert found.display == "src/api/store/hello/route.py"


def test_order_is_deterministic(tmp_path: Path) -> None:
    touch(tmp_path, *[f"src/jobs/j{i}.py" for i in (3, 1, 2)], "src/jobs/a/z.py")
    found = [f.relpath for f in scan_root(project_root(tmp_path), builtin_kinds())]
    assert found == ["jobs/a/z.py", "jobs/j1.py", "jobs/j2.py", "jobs/j3.py"]


# -- folders the scan cannot walk: skipped with one warning each, the rest loads ---------------
ROUTE = "async def GET(request):\n    return {}\n"


def _loops(folder: Path) -> None:
    """Three loops in ``folder``: a link to itself, to the project above it, and a pair of links to each other."""
    (folder / "self").symlink_to(".")
    (folder / "up").symlink_to("../..")
    (folder / "ping").symlink_to("pong")
    (folder / "pong").symlink_to("ping")


def test_symlink_loops_are_skipped_with_one_warning_each(make_project) -> None:
    from loader import LoaderWarning, load_project

    root = make_project({
        "src/api/ok/route.py": ROUTE,
        "src/jobs/tick.py": "from loader import job\n\n@job(name='tick', schedule=60)\nasync def tick(container):\n    pass\n",
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['./local_plugins/audit'])\n",
        "local_plugins/audit/__init__.py": "",
        "local_plugins/audit/api/audit/route.py": ROUTE,
    })
    _loops(root / "src/api")
    _loops(root / "local_plugins/audit/api")
    (root / "src/api/shared").symlink_to(root / "local_plugins/audit/api/audit")  # not a loop: followed
    with pytest.warns(LoaderWarning) as caught:
        project = load_project(root)
    assert project.errors == []
    assert sorted(r.id for r in project.registry.list("route")) == ["GET /audit", "GET /ok", "GET /shared"]
    assert [r.id for r in project.registry.list("job")] == ["tick"]
    lines = sorted(str(w.message) for w in caught)
    assert lines == [
        "audit/api/ping: cannot follow this link (Too many levels of symbolic links); skipped",
        "audit/api/pong: cannot follow this link (Too many levels of symbolic links); skipped",
        "audit/api/self: symbolic link loop (-> ., a folder above it); skipped",
        "audit/api/up: symbolic link loop (-> ../.., a folder above it); skipped",
        "src/api/ping: cannot follow this link (Too many levels of symbolic links); skipped",
        "src/api/pong: cannot follow this link (Too many levels of symbolic links); skipped",
        "src/api/self: symbolic link loop (-> ., a folder above it); skipped",
        "src/api/up: symbolic link loop (-> ../.., a folder above it); skipped",
    ]


def test_a_symlink_loop_is_one_warning_line_from_the_cli(make_project) -> None:
    from tests.test_cli import run

    root = make_project({"src/api/ok/route.py": ROUTE})
    (root / "src/api/ok/again").symlink_to("..")
    result = run("inspect", str(root))
    assert result.returncode == 0, result.stderr
    assert "GET /ok" in result.stdout
    assert result.stderr.splitlines() == ["warning: src/api/ok/again: symbolic link loop (-> .., a folder above it); skipped"]


def _without_root_read_override() -> list[str]:
    """A command prefix under which chmod 000 denies: nothing for a user; for root, setpriv
    dropping the capabilities that let root read any folder (skipped where it cannot)."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    except OSError:
        pytest.skip("running as root without setpriv: chmod 000 does not deny root")
    if probe.returncode != 0:
        pytest.skip(f"running as root and setpriv cannot drop dac_override: {probe.stderr!r}")
    return prefix


def test_an_unreadable_folder_is_skipped_with_one_warning(make_project) -> None:
    root = make_project({"src/api/ok/route.py": ROUTE, "src/api/secret/route.py": ROUTE, "src/modules/locked/__init__.py": ""})
    prefix = _without_root_read_override()
    (root / "src/api/secret").chmod(0)
    (root / "src/modules/locked").chmod(0)
    try:
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "loader", "inspect", str(root), "--json"], capture_output=True, text=True, timeout=60,
        )
    finally:
        (root / "src/api/secret").chmod(0o755)
        (root / "src/modules/locked").chmod(0o755)
    assert result.returncode == 0, result.stderr
    routes = [r["id"] for r in json.loads(result.stdout)["resources"] if r["kind"] == "route"]
    assert routes == ["GET /ok"]
    assert sorted(result.stderr.splitlines()) == [
        "warning: src/api/secret: cannot list this folder (Permission denied); skipped",
        "warning: src/modules/locked: cannot read this folder (Permission denied); skipped",
    ]
