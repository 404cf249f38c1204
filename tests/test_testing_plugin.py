"""The pytest fixtures of loader_pytest, run as a user runs them: pytest in a subprocess, on a
throwaway project and on the sample project's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loader import load_project
from tests.conftest import REPO
from tests.test_testing import BROKEN, FLAGGED

pytest_plugins = ["pytester"]

# -- the pytest plugin -----------------------------------------------------------------------
PLUGIN_TESTS = """
    import pytest

    pytestmark = pytest.mark.anyio


    @pytest.fixture
    def anyio_backend():
        return "asyncio"


    async def test_client(loader_client, loader_app):
        response = await loader_client.get("/hello")
        assert response.json() == {"message": "hello"}
        assert "GET /hello" in {r.id for r in loader_app.registry.list("route")}


    async def test_project(loader_project, loader_running):
        assert loader_project.name == "proj" and loader_running.root == loader_project


    class TestFlagged:
        @pytest.fixture
        def loader_options(self):
            return {"feature_flags": {"beta": True}}

        async def test_beta(self, loader_client):
            assert (await loader_client.get("/beta")).status_code == 200


    def test_sync_tests_get_the_app_too(loader_app):
        assert loader_app.started
"""

SHARED_TESTS = """
    import pytest

    from loader.testing import run_project

    pytestmark = pytest.mark.anyio
    BOOTED = []


    @pytest.fixture(scope="module")
    def anyio_backend():
        return "asyncio"


    @pytest.fixture(scope="module")
    async def shop(loader_project):
        async with run_project(loader_project) as project:
            BOOTED.append(project)
            yield project


    async def test_one(shop):
        assert (await shop.client.get("/hello")).status_code == 200


    async def test_two(shop):
        assert (await shop.client.get("/hello")).status_code == 200 and len(BOOTED) == 1
"""


def test_the_fixtures_in_a_throwaway_project(pytester: pytest.Pytester, make_project) -> None:
    root = make_project(FLAGGED)
    pytester.makepyfile(test_it=PLUGIN_TESTS, test_shared=SHARED_TESTS)
    strict = ("-W", "error", "--strict-config", "--strict-markers", "-p", "no:cacheprovider")
    result = pytester.runpytest_subprocess(*strict, "--loader-project", str(root))
    result.assert_outcomes(passed=6)
    pytester.makeini(f"[pytest]\nloader_project = {os.path.relpath(root, pytester.path)}\n")
    result = pytester.runpytest_subprocess(*strict, "test_it.py")
    result.assert_outcomes(passed=4)


def test_a_broken_project_fails_its_tests_with_path_and_line(pytester: pytest.Pytester, make_project) -> None:
    root = make_project(BROKEN)
    pytester.makepyfile(test_it=PLUGIN_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--loader-project", str(root), "-k", "test_client")
    result.assert_outcomes(errors=1, deselected=3)
    result.stdout.fnmatch_lines(["*loader: 1 problem(s) in *proj; not running it:", "*src/api/broken/route.py:4: RuntimeError: boom*"])
    shown = result.stdout.str()
    assert "Traceback" not in shown and "loader/testing.py" not in shown and "another exception" not in shown


def test_the_plugin_changes_nothing_for_others(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="""
        import sys

        def test_plain():
            assert "loader" not in sys.modules and "httpx" not in sys.modules

        def test_no_project(loader_project):
            pass
    """)
    result = pytester.runpytest_subprocess("-W", "error", "--strict-config", "--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*loader: no project to boot: the rootdir * holds no loader_config.py*"])
    assert "warning" not in result.stdout.str().lower()
    assert "--loader-project" in pytester.runpytest_subprocess("--help").stdout.str()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--loader-project", "nowhere", "-k", "no_project")
    result.assert_outcomes(errors=1, deselected=1)
    result.stdout.fnmatch_lines(["*loader: --loader-project nowhere: */nowhere is not a folder*"])


# -- the sample project's own tests ----------------------------------------------------------
def _user_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("LOADER_", "PYTEST_"))}


def test_the_sample_projects_tests_pass_as_a_user_runs_them(sample_project: Path) -> None:
    assert not list((sample_project / ".loader").glob("*"))
    project = load_project(sample_project)
    assert not [f for f in project.files if f.path.is_relative_to(sample_project / "tests")]  # not resources
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=sample_project, env=_user_environ(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed in" in done.stdout and "warning" not in done.stdout.lower()
    assert not (sample_project / ".loader").exists()  # every test ran on a temporary database


def test_the_sample_tests_collect_from_the_repository_root() -> None:
    env = {**_user_environ(), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", "sample_project/tests"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 tests collected" in done.stdout and "rootdir: " + str(REPO / "sample_project") in done.stdout
