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


@pytest.fixture(autouse=True)
def _hygiene() -> Iterator[None]:
    """Each test starts with the modules, sys.path, environment and flags it found."""
    modules = set(sys.modules)
    path = list(sys.path)
    environ = dict(os.environ)
    yield
    for name in set(sys.modules) - modules:
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
