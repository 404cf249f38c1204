"""The CLI as a user runs it: a real subprocess, its output and its exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROUTE = "async def GET(request):\n    return {}\n"


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "loader", *args], capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}, timeout=60
    )


def test_inspect_json_lists_resources_flags_plugins_errors(make_project) -> None:
    root = make_project({"src/api/store/hello/route.py": ROUTE})
    result = run("inspect", str(root), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"resources", "flags", "plugins", "errors"}
    [route] = [r for r in data["resources"] if r["kind"] == "route"]
    assert route == {**route, "id": "GET /store/hello", "source": "src/api/store/hello/route.py:1", "origin": "project",
                     "enabled": True, "disabled_reason": None}
    assert any(f["key"] == "backend_hmr" and f["source"] == "default" for f in data["flags"])


def test_inspect_human_table_and_nonzero_exit_on_errors(make_project) -> None:
    root = make_project({"src/api/ok/route.py": ROUTE, "src/api/bad/route.py": "async def GET(request)\n"})
    result = run("inspect", str(root))
    assert result.returncode == 1
    assert "GET /ok" in result.stdout and "src/api/ok/route.py:1" in result.stdout
    assert "src/api/bad/route.py:1: syntax error" in result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_names_an_out_of_range_job_interval(make_project) -> None:
    root = make_project({
        "src/api/ok/route.py": ROUTE,
        "src/jobs/spin.py": "from loader import job\n\n@job(name='spin', schedule=float('inf'))\nasync def spin(container):\n    pass\n",
    })
    result = run("inspect", str(root))
    assert result.returncode == 1 and "GET /ok" in result.stdout
    assert "src/jobs/spin.py:3: job 'spin': interval inf is not a finite number of seconds" in result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_defaults_to_the_current_folder(make_project) -> None:
    root = make_project({"src/api/ok/route.py": ROUTE})
    result = run("inspect", "--json", cwd=root)
    assert result.returncode == 0 and "GET /ok" in result.stdout


def test_config_error_is_one_line_without_traceback(make_project) -> None:
    root = make_project({"loader_config.py": "from loader import define_config\nconfig = define_config(projekt={})\n"})
    result = run("inspect", str(root))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: loader_config.py:2: unknown key 'projekt' in define_config(); expected one of project, modules, plugins, feature_flags"
    )


def test_bad_flag_env_value_from_the_cli(make_project) -> None:
    root = make_project({
        "src/feature_flags/custom.py": "from loader import FlagSettings\nf = FlagSettings(key='custom_feature', env_key='LOADER_FF_CUSTOM_FEATURE')\n",
    })
    result = run("inspect", str(root), env={"LOADER_FF_CUSTOM_FEATURE": "maybe"})
    assert result.returncode == 1
    assert "LOADER_FF_CUSTOM_FEATURE='maybe' is not a boolean" in result.stderr and "Traceback" not in result.stderr


def test_not_a_project(tmp_path: Path) -> None:
    result = run("inspect", str(tmp_path))
    assert result.returncode == 1 and "is not a loader project" in result.stderr and "Traceback" not in result.stderr


def test_plugins_command_lists_installed_plugins() -> None:
    result = run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    names = {p["name"]: p for p in json.loads(result.stdout)}
    assert names["greetings"]["distribution"] == "loader-plugin-greetings"
    assert names["greetings"]["enabled"] is False


def test_plugins_command_with_a_project_shows_what_is_enabled(make_project) -> None:
    root = make_project({"loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['greetings'])\n"})
    result = run("plugins", str(root))
    assert result.returncode == 0, result.stderr
    header = next(l for l in result.stdout.splitlines() if "enabled" in l)
    line = next(l for l in result.stdout.splitlines() if "greetings" in l)
    cells = dict(zip([c.strip() for c in header.split("┃")], [c.strip() for c in line.split("│")], strict=True))
    assert cells["compatible"] == "yes" and cells["enabled"] == "yes", cells  # the enabled column itself
    listed = {p["name"]: p for p in json.loads(run("plugins", str(root), "--json").stdout)}
    assert listed["greetings"]["enabled"] is True and listed["commands"]["enabled"] is False


def test_develop_on_a_folder_that_is_not_a_project(tmp_path: Path) -> None:
    result = run("develop", str(tmp_path))
    assert result.returncode == 1 and "is not a loader project" in result.stderr and "Traceback" not in result.stderr


def test_documents_on_stdout_stay_parseable_when_a_project_file_prints(make_project) -> None:
    # A route that prints at import must not corrupt `inspect --json` or `openapi`: its output
    # goes to stderr while the project loads.
    root = make_project({"src/api/store/hello/route.py": "print('importing hello')\n\nasync def GET(request):\n    return {}\n"})
    for args in (("inspect", "--json"), ("openapi",)):
        done = run(*args, str(root))
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout)
        assert "importing hello" in done.stderr
