"""LOADER_* environment settings: a bad value is one line naming the variable, from any command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HELLO = 'async def GET(request):\n    return {"message": "ok"}\n'


@pytest.mark.parametrize(
    ("variable", "value", "command", "expected"),
    [
        ("LOADER_SAFE_MODE", "maybe", ["inspect"], "error: LOADER_SAFE_MODE='maybe' is not a boolean; expected one of true/false"),
        ("LOADER_IMPORT_TIMEOUT", "-1", ["inspect"], "error: LOADER_IMPORT_TIMEOUT='-1': expected a number of seconds >= 0 (0 turns the limit off)"),
        ("LOADER_IMPORT_TIMEOUT", "inf", ["inspect"], "error: LOADER_IMPORT_TIMEOUT='inf': expected a number of seconds >= 0"),
        ("LOADER_MIGRATION_LOCK_TIMEOUT", "soon", ["db", "migrate"], "error: LOADER_MIGRATION_LOCK_TIMEOUT='soon': expected a number of seconds >= 0"),
    ],
)
def test_a_bad_environment_setting_is_one_line_naming_it(make_project, variable: str, value: str, command: list[str], expected: str) -> None:
    root = make_project({"src/api/ok/route.py": HELLO})
    env = {**os.environ, variable: value}
    done = subprocess.run([sys.executable, "-m", "loader", *command, str(root)], capture_output=True, text=True, timeout=60, env=env, cwd=root)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith(expected), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_safe_mode_accepts_the_boolean_words(make_project, value: str) -> None:
    root = make_project({"src/api/ok/route.py": HELLO})
    env = {**os.environ, "LOADER_SAFE_MODE": value}
    done = subprocess.run([sys.executable, "-m", "loader", "inspect", str(root)], capture_output=True, text=True, timeout=60, env=env, cwd=root)
    assert done.returncode == 0, done.stderr
