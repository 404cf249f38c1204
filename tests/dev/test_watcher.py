"""The watcher's filter and the turning of raw watchfiles events into changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from watchfiles import Change

from loader.dev.watcher import ProjectFilter, to_file_changes


@pytest.mark.parametrize(
    ("relative", "kept"),
    [
        ("src/api/hello/route.py", True),
        ("src/api/dist/route.py", True),  # a route folder may be called dist
        ("dist/app.py", False),
        ("build/lib/x.py", False),
        ("venv/lib/site.py", False),
        (".git/index", False),
        ("src/__pycache__/x.cpython-311.pyc", False),
        ("node_modules/x/index.js", False),
        (".loader/loader.db", False),
    ],
)
def test_filter_matches_folder_names_below_the_watched_root(tmp_path: Path, relative: str, kept: bool) -> None:
    root = tmp_path / "build" / "shop"  # the project itself lives under a folder named build
    assert ProjectFilter([root])(Change.modified, str(root / relative)) is kept


def test_a_folder_moved_in_becomes_one_change_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "src/api/moved"
    (folder / "inner").mkdir(parents=True)
    (folder / "route.py").write_text("")
    (folder / "inner/route.py").write_text("")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__/route.cpython-311.pyc").write_text("")
    changes = to_file_changes({(Change.added, str(folder))}, ProjectFilter([tmp_path]))
    assert [(c.kind, c.path.relative_to(folder).as_posix()) for c in changes] == [("added", "inner/route.py"), ("added", "route.py")]


def test_several_events_on_one_path_are_decided_by_the_disk(tmp_path: Path) -> None:
    there = tmp_path / "there.py"
    there.write_text("")
    gone = tmp_path / "gone.py"
    raw = {(Change.added, str(there)), (Change.deleted, str(there)), (Change.added, str(gone)), (Change.deleted, str(gone))}
    assert {(c.kind, c.path.name) for c in to_file_changes(raw)} == {("added", "there.py"), ("deleted", "gone.py")}


def test_a_symlink_loop_made_while_watching_is_skipped_with_one_warning(tmp_path: Path) -> None:
    from loader import LoaderWarning

    (tmp_path / "src/api/ok").mkdir(parents=True)
    (tmp_path / "src/api/ok/route.py").write_text("")
    link = tmp_path / "src/api/again"
    link.symlink_to(".")
    with pytest.warns(LoaderWarning) as caught:
        changes = to_file_changes({(Change.added, str(link))}, ProjectFilter([tmp_path]))
    assert changes == []  # not src/api/again/ok/route.py: the boot's scan skips the loop too
    assert [str(w.message) for w in caught] == ["src/api/again: symbolic link loop (-> ., a folder above it); skipped"]
