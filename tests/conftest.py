"""Shared fixtures: on-disk projects in a temp folder, and strict import/env hygiene."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loader import FeatureFlag

REPO = Path(__file__).parent.parent

ProjectFactory = Callable[..., Path]


#: Installed libraries and loader itself stay imported: evicting them would leave their module
#: level caches holding the classes of a previous import (httpx maps httpcore's exceptions once,
#: then no longer recognises a re-imported httpcore's).
_LIBRARY_FOLDERS = tuple({os.path.join(sys.prefix, ""), os.path.join(sys.base_prefix, ""), os.path.join(str(REPO / "loader"), "")})


def _is_library(module: object) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and os.path.abspath(file).startswith(_LIBRARY_FOLDERS)


@pytest.fixture(autouse=True)
def _hygiene() -> Iterator[None]:
    """Each test starts with the modules, sys.path, environment and flags it found."""
    modules = set(sys.modules)
    path = list(sys.path)
    environ = dict(os.environ)
    yield
    for name in set(sys.modules) - modules:
        if not _is_library(sys.modules[name]):
            del sys.modules[name]
    sys.path[:] = path
    os.environ.clear()
    os.environ.update(environ)
    FeatureFlag.clear()


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write a project from ``{relative path: source}``; sources are dedented."""

    def make(files: dict[str, str], name: str = "proj") -> Path:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        if "loader_config.py" not in files:
            (root / "loader_config.py").write_text("from loader import define_config\n\nconfig = define_config()\n")
        return root

    return make


@pytest.fixture
def sample_project(tmp_path: Path) -> Path:
    target = tmp_path / "sample_project"
    shutil.copytree(REPO / "sample_project", target, ignore=shutil.ignore_patterns("__pycache__", ".loader", ".env"))
    return target
