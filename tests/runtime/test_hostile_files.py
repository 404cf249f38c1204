"""No file can take loader down: ``sys.exit`` at import, an import that never ends, a huge file
saved while serving. Each is one clear error with ``path:line``, and what worked keeps working."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from loader import ImportTimeoutError, ResourceImportError
from loader.core import importer
from loader.project import load_project
from tests.runtime.conftest import serve
from tests.runtime.test_reload import HELLO, write

LOOP = "import time\nX = 1\nwhile True:\n    time.monotonic()\n"
SLEEP = "import time\nX = 1\ntime.sleep(2)\n"  # short: a sleeping worker cannot be stopped


@pytest.fixture
def short_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADER_IMPORT_TIMEOUT", "0.5")


def _no_worker_left_spinning() -> None:
    # A busy loop is stopped when its import is abandoned; give the stop a moment to land (a
    # sleep is not interrupted: it ends on its own).
    deadline = time.monotonic() + 10
    while any(t.name == "loader-import" and t.is_alive() for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("where", ["src/api/bad/route.py", "src/lib/helper.py"])
def test_sys_exit_at_import_is_a_recorded_error_and_the_boot_goes_on(make_project, where: str) -> None:
    files = {"src/api/ok/route.py": HELLO.format("ok"), "src/api/bad/route.py": HELLO.format("bad")}
    if where == "src/lib/helper.py":
        files["src/lib/helper.py"] = "import sys\n\nsys.exit(4)\n"
        files["src/api/bad/route.py"] = "from src.lib import helper\n" + HELLO.format("bad")
    else:
        files[where] = "import sys\n\nsys.exit(4)\n"
    project = load_project(make_project(files))
    [error] = project.errors
    assert isinstance(error, ResourceImportError)
    assert error.location == f"{where}:3" and "SystemExit: 4" in error.message
    assert [r.id for r in project.registry.list("route")] == ["GET /ok"]


def test_sys_exit_in_loader_config_is_a_config_error(make_project) -> None:
    root = make_project({"loader_config.py": "import sys\nsys.exit(3)\n"})
    with pytest.raises(Exception) as caught:
        load_project(root)
    assert type(caught.value).__name__ == "ConfigError"
    assert str(caught.value).startswith("loader_config.py:2: ") and "SystemExit: 3" in str(caught.value)


@pytest.mark.parametrize("body", [LOOP, SLEEP], ids=["busy-loop", "sleep"])
def test_an_import_that_never_ends_is_reported_with_its_line(make_project, short_limit, body: str) -> None:
    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/hang/route.py": body})
    with pytest.raises(ImportTimeoutError) as caught:
        load_project(root)
    error = caught.value
    assert error.path == "src/api/hang/route.py" and error.line in (3, 4)
    assert "still importing after 0.5 s" in error.message
    assert error.source_path == root / "src/api/hang/route.py"
    _no_worker_left_spinning()


def test_a_set_aside_file_is_listed_and_the_rest_serves(make_project, short_limit) -> None:
    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/hang/route.py": LOOP})
    with pytest.raises(ImportTimeoutError) as caught:
        load_project(root)
    _no_worker_left_spinning()

    async def scenario(http, app):
        ok = (await http.get("/ok")).json()
        errors = [e.format() for e in app.errors]
        other = await app.reload([write(root, "src/api/ok/route.py", HELLO.format("ok2"))])  # does not retry it
        still = [e.format() for e in app.errors]
        fixed = await app.reload([write(root, "src/api/hang/route.py", HELLO.format("fixed"))])
        return ok, errors, other, still, fixed, (await http.get("/hang")).json(), app

    ok, errors, other, still, fixed, hang, app = serve(root, scenario, set_aside={caught.value.source_path: caught.value})
    assert ok == {"message": "ok"}
    assert len(errors) == 1 and errors[0].startswith("src/api/hang/route.py:") and "save it to retry" in errors[0]
    assert other.ok and still == errors  # another file's save does not import the hung file again
    assert fixed.ok and hang == {"message": "fixed"} and app.errors == []
    assert app.project.set_aside == set()


def test_a_reload_that_hangs_asks_for_a_restart_without_the_file(make_project, short_limit) -> None:
    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/hang/route.py": HELLO.format("h1")})

    async def scenario(http, app):
        report = await app.reload([write(root, "src/api/hang/route.py", LOOP)])
        return report, (await http.get("/ok")).json(), (await http.get("/hang")).json()

    report, ok, hang = serve(root, scenario)
    _no_worker_left_spinning()
    assert report.restart_required and report.set_aside == [str(root / "src/api/hang/route.py")]
    assert report.errors[0].path == "src/api/hang/route.py" and "still importing" in report.errors[0].message
    assert "set aside until it is saved again" in report.summary()
    assert ok == {"message": "ok"} and hang == {"message": "h1"}  # nothing was swapped meanwhile


def test_requests_are_answered_while_a_reload_imports(make_project) -> None:
    """The reload's imports run off the event loop: a slow file does not stop /health."""
    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/slow/route.py": HELLO.format("s1")})

    async def scenario(http, app):
        slow = "import time\ntime.sleep(0.6)\n" + HELLO.format("s2")
        reload = asyncio.create_task(app.reload([write(root, "src/api/slow/route.py", slow)]))
        answered_during = 0
        while not reload.done():
            assert (await http.get("/health")).status_code == 200
            answered_during += 0 if reload.done() else 1
            await asyncio.sleep(0.02)
        return answered_during, await reload, (await http.get("/slow")).json()

    answered_during, report, body = serve(root, scenario)
    assert report.ok and body == {"message": "s2"}
    assert answered_during >= 5  # on the event loop, the reload would have answered none


def test_a_large_file_is_compiled_in_another_process_and_loads(make_project, monkeypatch) -> None:
    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/big/route.py": HELLO.format("b1")})
    monkeypatch.setattr(importer, "LARGE_SOURCE_BYTES", 1000)
    compiled_here: list[str] = []
    original = importer._FreshSourceLoader.source_to_code

    def spy(self, data, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled_here.append(str(path))
        return original(self, data, path, *args, **kwargs)

    monkeypatch.setattr(importer._FreshSourceLoader, "source_to_code", spy)
    big = "".join(f"X{i} = {{'n': {i}}}\n" for i in range(200)) + HELLO.format("b2")
    broken = big + "def oops(:\n"

    async def scenario(http, app):
        good = await app.reload([write(root, "src/api/big/route.py", big)])
        body = (await http.get("/big")).json()
        bad = await app.reload([write(root, "src/api/big/route.py", broken)])
        return good, body, bad

    good, body, bad = serve(root, scenario)
    assert good.ok and body == {"message": "b2"}
    assert str(root / "src/api/big/route.py") not in compiled_here
    [error] = bad.errors
    assert error.location == f"src/api/big/route.py:{big.count(chr(10)) + 1}" and "syntax error" in error.message


def test_a_large_files_constants_come_back_whole_when_rebuilt_in_pieces(make_project, monkeypatch) -> None:
    # Pieces of 7 constants: the table (100 tuples), the module's constants (over 7: the docstring,
    # the names, a code object) and a second table are each split, and must be rebuilt in order.
    monkeypatch.setattr(importer, "LARGE_SOURCE_BYTES", 1000)
    monkeypatch.setattr(importer, "CONSTANTS_PER_PIECE", 7)
    rows = "".join(f"    ({i}, 'name {i}', {i * 1.5}),\n" for i in range(100))
    source = (
        '"""A data table."""\n'
        f"ROWS = [\n{rows}]\n"
        f"CODES = {{{', '.join(f'{i!r}: {i * i}' for i in range(40))}}}\n"
        "NAMES = ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j')\n\n"
        "async def GET(request):\n"
        "    return {'rows': len(ROWS), 'last': list(ROWS[-1]), 'sum': sum(r[0] for r in ROWS),\n"
        "            'codes': sum(CODES.values()), 'names': ''.join(NAMES), 'doc': __doc__}\n"
    )
    root = make_project({"src/api/ok/route.py": HELLO.format("ok")})

    async def scenario(http, app):
        report = await app.reload([write(root, "src/api/big/route.py", source)])
        return report, (await http.get("/big")).json()

    report, body = serve(root, scenario)
    assert report.ok, report.errors
    assert body == {
        "rows": 100, "last": [99, "name 99", 148.5], "sum": sum(range(100)),
        "codes": sum(i * i for i in range(40)), "names": "abcdefghij", "doc": "A data table.",
    }


def test_dependents_load_from_bytecode_and_the_changed_file_from_source(make_project, monkeypatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    root = make_project({
        "src/lib/shared.py": "VALUE = 1\n",
        "src/api/a/route.py": "from src.lib.shared import VALUE\n\nasync def GET(request):\n    return {'v': VALUE}\n",
    })
    compiled: list[str] = []
    original = importer._FreshSourceLoader.source_to_code

    def spy(self, data, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        compiled.append(Path(path).name if isinstance(path, str) else str(path))
        return original(self, data, path, *args, **kwargs)

    monkeypatch.setattr(importer._FreshSourceLoader, "source_to_code", spy)

    async def scenario(http, app):
        report = await app.reload([write(root, "src/lib/shared.py", "VALUE = 2\n")])
        return report, (await http.get("/a")).json()

    report, body = serve(root, scenario)
    assert report.ok and body == {"v": 2}
    assert compiled == ["shared.py"]  # route.py, a dependent, came from its bytecode


def test_interrupt_is_not_swallowed(make_project) -> None:
    root = make_project({"src/api/x/route.py": "raise KeyboardInterrupt\n"})
    with pytest.raises(KeyboardInterrupt):
        load_project(root)


def test_bad_import_timeout_setting_is_one_clear_error(make_project, monkeypatch) -> None:
    monkeypatch.setenv("LOADER_IMPORT_TIMEOUT", "soon")
    with pytest.raises(Exception, match="LOADER_IMPORT_TIMEOUT='soon': expected a number of seconds"):
        load_project(make_project({}))


def test_cli_commands_exit_non_zero_with_one_line_instead_of_hanging(make_project) -> None:
    import subprocess

    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/hang/route.py": LOOP})
    env = {**os.environ, "LOADER_IMPORT_TIMEOUT": "0.5"}
    for command in (["inspect"], ["start", "--port", "0"], ["db", "migrate"]):
        done = subprocess.run(
            [sys.executable, "-m", "loader", *command, str(root)], capture_output=True, text=True, timeout=60, env=env, cwd=root
        )
        assert done.returncode != 0, command
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert lines and lines[0].startswith("error: src/api/hang/route.py:"), (command, done.stderr)
        assert "still importing after 0.5 s" in lines[0]
        assert "Traceback" not in done.stderr
