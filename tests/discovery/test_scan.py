from __future__ import annotations

from pathlib import Path

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
