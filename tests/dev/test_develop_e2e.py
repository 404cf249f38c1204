"""`loader develop` end to end: a real watcher, a real child process, real HTTP on 127.0.0.1.

Each test writes a small project into a temp folder, starts
``python -m loader develop PROJECT --port <free port>`` (``LOADER_FF_BACKEND_HMR=true`` unless
the test is about it being off), waits for its ``serving`` line, edits files on disk and polls
HTTP until the new behaviour is served, checking the one-line summaries the parent prints
(``loader/runtime/report.py``, ``loader/dev/supervisor.py``).

The in-place reloads share one server (``hmr``, module scope): every test edits its own files
and checks that no ``restarting`` line appeared and that the child's pid did not change. The
tests that restart the child each get their own server.

Durations are never asserted: this runs on noisy shared machines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

TIMEOUT = 20.0  # seconds to wait for a line or a body before failing with the output so far

HELLO = "async def GET(request):\n    return {{'message': '{}'}}\n"
PID = "import os\n\nasync def GET(request):\n    return os.getpid()\n"
FROZEN = "import gc\n\nasync def GET(request):\n    return gc.get_freeze_count()\n"


# -- helpers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Like the ``make_project`` fixture, for a folder of a module-scoped temp dir."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"loader_config.py": "from loader import define_config\n\nconfig = define_config()\n", **files}
    for rel, text in files.items():
        write(root, rel, text)
    return root


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_until(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def body(expected: Any) -> Callable[[httpx.Response], bool]:
    return lambda response: response.status_code == 200 and response.json() == expected


def status(code: int) -> Callable[[httpx.Response], bool]:
    return lambda response: response.status_code == code


class DevServer:
    """One ``loader develop`` process; its stdout collected line by line in a background thread."""

    def __init__(self, root: Path, *, hmr: bool = True) -> None:
        self.root, self.hmr = root, hmr
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._eof = False
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    # -- process ----------------------------------------------------------------------------
    def start(self) -> DevServer:
        env = {**os.environ, "LOADER_FF_BACKEND_HMR": "true" if self.hmr else "false", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loader", "develop", str(self.root), "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()
        # the parent starts the child once its watcher is live: after "serving", no save is missed
        self.wait_for_line("serving ")
        return self

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    # -- output -----------------------------------------------------------------------------
    def mark(self) -> int:
        """The index the next line will have: pass it as ``after`` to look only at new lines."""
        with self._changed:
            return len(self.lines)

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def lines_since(self, index: int) -> list[str]:
        with self._changed:
            return self.lines[index:]

    def wait_for_line(self, text: str, after: int = 0, timeout: float = TIMEOUT) -> int:
        """The index of the first line from ``after`` on that contains ``text``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(after, len(self.lines)):
                    if text in self.lines[index]:
                        return index
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._eof:
                    why = "the process exited" if self._eof else f"timed out after {timeout:g} s"
                    raise AssertionError(f"{why} waiting for a line with {text!r} (from line {after}); output:\n" + "\n".join(self.lines))
                self._changed.wait(remaining)

    def assert_no_restart_since(self, index: int) -> None:
        restarts = [line for line in self.lines_since(index) if "restarting" in line]
        assert not restarts, self.output()

    # -- http -------------------------------------------------------------------------------
    def get(self, path: str, timeout: float | httpx.Timeout = 5.0) -> httpx.Response:
        # A new connection per request: a kept-alive one would die with a killed child.
        return httpx.get(self.url + path, timeout=timeout)

    def poll(self, path: str, until: Callable[[httpx.Response], bool], timeout: float = TIMEOUT) -> httpx.Response:
        """GET ``path`` until ``until(response)``; fails with the last answer and the output."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                last = response = self.get(path)
                if until(response):
                    return response
                last = f"{response.status_code} {response.text}"
            except httpx.TransportError as exc:
                last = exc
            if time.monotonic() > deadline:
                raise AssertionError(f"GET {path}: still {last!r} after {timeout:g} s; output:\n{self.output()}")
            time.sleep(0.05)

    def pid(self) -> int:
        return int(self.poll("/pid", status(200)).json())


def stop_and_check(server: DevServer) -> None:
    server.stop()
    assert any(line == "stopped" for line in server.lines), server.output()
    assert "Traceback" not in server.output(), server.output()


@pytest.fixture
def develop() -> Iterator[Callable[..., DevServer]]:
    """Start ``loader develop`` on a project; every server is stopped (and must say so) after."""
    servers: list[DevServer] = []

    def start(root: Path, *, hmr: bool = True) -> DevServer:
        server = DevServer(root, hmr=hmr)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        stop_and_check(server)


# -- in-place reloads, one shared server --------------------------------------------------------
GREETER = """
    from loader import Module

    class Greeter:
        def greet(self):
            return "{word}"

    module = Module("greeter", service=Greeter)
"""
SHOUT = """
    from loader import create_step, create_workflow

    async def shout(text, ctx):
        return text.{method}()

    step = create_step("shout", shout)

    @create_workflow("shout")
    async def run(input, ctx):
        return await step(input)
"""
ORDERS = """
    from loader import subscriber

    @subscriber("{event}")
    async def record(event, container):
        with open({log!r}, "a") as handle:
            handle.write("{version}:" + event.name + "\\n")
"""
TICK = """
    from loader import job

    @job(name="tick", schedule={interval})
    async def tick(container):
        with open({log!r}, "a") as handle:
            handle.write("{version}\\n")
"""
GATED = "from loader import define_file_config\ndefine_file_config(is_disabled=lambda: {off})\n\nasync def GET(request):\n    return 'on'\n"


class Hmr:
    """The shared hot-reload server, its project folder and a folder for files jobs write."""

    def __init__(self, server: DevServer, out: Path) -> None:
        self.server, self.root, self.out = server, server.root, out
        self.first_pid = server.pid()

    def assert_same_child(self, mark: int) -> None:
        self.server.assert_no_restart_since(mark)
        assert self.server.pid() == self.first_pid, self.server.output()


@pytest.fixture(scope="module")
def hmr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hmr]:
    base = tmp_path_factory.mktemp("hmr")
    out = base / "out"  # outside the project: what subscribers and jobs write is never watched
    out.mkdir()
    root = write_project(base / "proj", {
        "src/api/pid/route.py": PID,
        "src/api/frozen/route.py": FROZEN,
        "src/api/hello/route.py": HELLO.format("v1"),
        "src/api/fragile/route.py": HELLO.format("v1"),
        # one helper, two routes importing it, a third route that must be left alone
        "src/lib/pricing.py": "RATE = 1\n",
        "src/api/a/route.py": "from src.lib.pricing import RATE\n\nasync def GET(request):\n    return {'a': RATE}\n",
        "src/api/b/route.py": "from src.lib import pricing\n\nasync def GET(request):\n    return {'b': pricing.RATE}\n",
        "src/api/c/route.py": "import time\n\nLOADED_AT = time.monotonic_ns()  # set once per import\n\nasync def GET(request):\n    return LOADED_AT\n",
        "src/api/gated/route.py": GATED.format(off=True),
        "src/api/dist/route.py": HELLO.format("v1"),  # a folder named like one the watcher skips
        "src/subscribers/orders.py": ORDERS.format(event="order.placed", version="v1", log=str(out / "events.log")),
        "src/api/emit/[name]/route.py": """
            async def GET(request):
                await request.app.state.container.resolve("event_bus").emit(request.path_params["name"])
                return "emitted"
        """,
        "src/jobs/tick.py": TICK.format(interval=0.2, version="v1", log=str(out / "ticks.log")),
        "src/workflows/shout.py": SHOUT.format(method="upper"),
        "src/api/shout/route.py": """
            async def GET(request):
                workflow = request.app.state.container.resolve("workflows")["shout"]
                return (await workflow.run("Hi")).result
        """,
        "src/modules/greeter/__init__.py": GREETER.format(word="hello"),
        "src/api/greet/route.py": "async def GET(request):\n    return request.app.state.container.resolve('greeter').greet()\n",
    })
    server = DevServer(root)
    try:
        server.start()
        yield Hmr(server, out)
    finally:
        stop_and_check(server)


def test_edit_a_route(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    server.poll("/hello", body({"message": "v1"}))

    write(hmr.root, "src/api/hello/route.py", HELLO.format("v2"))

    server.wait_for_line("reloaded src/api/hello/route.py (1 route; 0 dependents) in ", after=mark)
    server.poll("/hello", body({"message": "v2"}))
    hmr.assert_same_child(mark)


def test_the_boot_heap_is_frozen_out_of_the_collectors_sight(hmr: Hmr) -> None:
    # The child froze what it booted (loader.core.gc_pause.freeze_boot_heap): a collection
    # during a request or a reload never walks the whole application.
    assert hmr.server.get("/frozen").json() > 10_000


def test_edit_a_helper_reloads_both_dependents_and_leaves_the_third_route_alone(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    server.poll("/a", body({"a": 1}))
    server.poll("/b", body({"b": 1}))
    loaded_at = server.poll("/c", status(200)).json()

    write(hmr.root, "src/lib/pricing.py", "RATE = 2\n")

    line = server.lines[server.wait_for_line("reloaded src/lib/pricing.py (", after=mark)]
    assert "(2 routes; 2 dependents)" in line, server.output()
    server.poll("/a", body({"a": 2}))
    server.poll("/b", body({"b": 2}))
    assert server.get("/c").json() == loaded_at  # /c's module was not imported again
    hmr.assert_same_child(mark)


def test_add_then_delete_a_route_file(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    assert server.get("/new").status_code == 404

    write(hmr.root, "src/api/new/route.py", HELLO.format("new"))
    server.wait_for_line("reloaded src/api/new/route.py (1 route; 0 dependents) in ", after=mark)
    server.poll("/new", body({"message": "new"}))

    deleted = server.mark()
    (hmr.root / "src/api/new/route.py").unlink()
    server.wait_for_line("reloaded src/api/new/route.py (1 route removed; 0 dependents) in ", after=deleted)
    server.poll("/new", status(404))
    hmr.assert_same_child(mark)


def test_a_syntax_error_keeps_the_old_version_until_the_fix(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    server.poll("/fragile", body({"message": "v1"}))

    write(hmr.root, "src/api/fragile/route.py", "async def GET(request)\n    return {'message': 'v2'}\n")
    index = server.wait_for_line("reload of src/api/fragile/route.py failed, the previous version keeps serving: ", after=mark)
    assert "src/api/fragile/route.py:1: syntax error" in server.lines[index], server.output()
    # the offending source line, printed on the next line
    assert server.wait_for_line("    async def GET(request)", after=index + 1) == index + 1, server.output()
    assert server.get("/fragile").json() == {"message": "v1"}

    fixed = server.mark()
    write(hmr.root, "src/api/fragile/route.py", HELLO.format("v3"))
    server.wait_for_line("reloaded src/api/fragile/route.py (1 route; 0 dependents) in ", after=fixed)
    server.poll("/fragile", body({"message": "v3"}))
    hmr.assert_same_child(mark)


def test_a_subscriber_moved_to_another_event_gets_only_the_new_one_once_per_emit(hmr: Hmr) -> None:
    server, mark, log = hmr.server, hmr.server.mark(), hmr.out / "events.log"
    server.poll("/emit/order.placed", body("emitted"))
    wait_until(lambda: read_lines(log) == ["v1:order.placed"], f"{log} to read v1:order.placed")

    write(hmr.root, "src/subscribers/orders.py", ORDERS.format(event="order.paid", version="v2", log=str(log)))
    server.wait_for_line("reloaded src/subscribers/orders.py (1 subscriber; 0 dependents) in ", after=mark)

    for event in ("order.placed", "order.paid", "order.paid"):
        assert server.get(f"/emit/{event}").json() == "emitted"
    expected = ["v1:order.placed", "v2:order.paid", "v2:order.paid"]
    wait_until(lambda: len(read_lines(log)) >= len(expected), f"{log} to have {len(expected)} lines")
    time.sleep(0.5)  # a late duplicate or a delivery of the old event would show by now
    assert sorted(read_lines(log)) == sorted(expected)
    hmr.assert_same_child(mark)


def test_a_job_schedule_and_body_change_runs_the_new_code_only(hmr: Hmr) -> None:
    server, mark, log = hmr.server, hmr.server.mark(), hmr.out / "ticks.log"
    wait_until(lambda: "v1" in read_lines(log), "the job's first run")

    write(hmr.root, "src/jobs/tick.py", TICK.format(interval=0.3, version="v2", log=str(log)))
    server.wait_for_line("reloaded src/jobs/tick.py (1 job; 0 dependents) in ", after=mark)

    wait_until(lambda: read_lines(log).count("v2") >= 3, "three runs of the new job")
    lines = read_lines(log)
    after_swap = lines[lines.index("v2"):]
    assert set(after_swap) == {"v2"}, lines  # the old job no longer runs beside the new one
    hmr.assert_same_child(mark)


def test_a_workflow_step_change(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    server.poll("/shout", body("HI"))

    write(hmr.root, "src/workflows/shout.py", SHOUT.format(method="lower"))
    server.wait_for_line("reloaded src/workflows/shout.py (", after=mark)

    server.poll("/shout", body("hi"))
    hmr.assert_same_child(mark)


def test_a_module_service_change(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    server.poll("/greet", body("hello"))

    write(hmr.root, "src/modules/greeter/__init__.py", GREETER.format(word="bonjour"))
    line = server.lines[server.wait_for_line("reloaded src/modules/greeter/__init__.py (", after=mark)]
    assert "1 module" in line, server.output()

    server.poll("/greet", body("bonjour"))
    hmr.assert_same_child(mark)


def test_a_files_own_predicate_toggles_it_without_a_restart(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    assert server.get("/gated").status_code == 404

    write(hmr.root, "src/api/gated/route.py", GATED.format(off=False))
    server.wait_for_line("reloaded src/api/gated/route.py (1 route; 0 dependents) in ", after=mark)

    server.poll("/gated", body("on"))
    hmr.assert_same_child(mark)



def test_a_route_in_a_folder_named_dist_reloads(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    server.poll("/dist", body({"message": "v1"}))

    write(hmr.root, "src/api/dist/route.py", HELLO.format("v2"))

    server.wait_for_line("reloaded src/api/dist/route.py (1 route; 0 dependents) in ", after=mark, timeout=3.0)
    server.poll("/dist", body({"message": "v2"}))



def test_a_route_folder_moved_into_the_project_is_loaded(hmr: Hmr) -> None:
    server, mark = hmr.server, hmr.server.mark()
    staged = write(hmr.out / "staging" / "moved", "route.py", HELLO.format("moved")).parent
    assert server.get("/moved").status_code == 404

    staged.rename(hmr.root / "src/api/moved")  # like `mv`, or a checkout adding a folder

    server.wait_for_line("reloaded src/api/moved/route.py (1 route; 0 dependents) in ", after=mark, timeout=3.0)
    server.poll("/moved", body({"message": "moved"}))


# -- changes that restart the child -------------------------------------------------------------
def test_env_and_config_changes_restart_the_child(make_project, develop) -> None:
    root = make_project({
        "src/api/pid/route.py": PID,
        "src/feature_flags/x.py": "from loader import FlagSettings\n\nx = FlagSettings(key='x', default_val=False, env_key='LOADER_FF_X')\n",
        "src/api/x/route.py": """
            from loader import FeatureFlag, define_file_config

            define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled("x"))

            async def GET(request):
                return "x is on"
        """,
        "src/api/cfg/route.py": """
            from loader import FeatureFlag

            async def GET(request):
                return FeatureFlag.is_feature_enabled("from_config")
        """,
    })
    server = develop(root)
    first_pid = server.pid()
    assert server.get("/x").status_code == 404
    assert server.get("/cfg").json() is False

    # .env turns the flag on: a restart, then the gated route is served
    mark = server.mark()
    write(root, ".env", "LOADER_FF_X=true\n")
    restart = server.wait_for_line("restarting: .env changed", after=mark)
    server.wait_for_line("serving ", after=restart)
    server.poll("/x", body("x is on"))
    second_pid = server.pid()
    assert second_pid != first_pid

    # ... and off again
    mark = server.mark()
    write(root, ".env", "LOADER_FF_X=false\n")
    restart = server.wait_for_line("restarting: .env changed", after=mark)
    server.wait_for_line("serving ", after=restart)
    server.poll("/x", status(404))

    # loader_config.py: a restart, and the new config is the one in use
    mark = server.mark()
    write(root, "loader_config.py", "from loader import define_config\n\nconfig = define_config(feature_flags={'from_config': True})\n")
    restart = server.wait_for_line("restarting: loader_config.py changed", after=mark)
    server.wait_for_line("serving ", after=restart)
    server.poll("/cfg", body(True))
    assert server.pid() not in (first_pid, second_pid)


def _dead_or_zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return fields[0] in ("Z", "X")


def test_a_killed_child_is_restarted_and_no_request_is_refused(make_project, develop) -> None:
    root = make_project({"src/api/pid/route.py": PID})
    server = develop(root)
    old_pid = server.pid()
    mark = server.mark()

    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: _dead_or_zombie(old_pid), f"child {old_pid} to die")  # so it cannot take the request
    # Right away, before the new child is up: the parent's socket queues the request.
    response = server.get("/pid", timeout=httpx.Timeout(5.0, read=TIMEOUT))
    assert response.status_code == 200
    new_pid = response.json()
    assert new_pid != old_pid

    restart = server.wait_for_line("restarting: the server exited", after=mark)
    server.wait_for_line("serving ", after=restart)
    assert server.pid() == new_pid


def test_with_backend_hmr_off_every_change_restarts(make_project, develop) -> None:
    root = make_project({"src/api/pid/route.py": PID, "src/api/hello/route.py": HELLO.format("v1")})
    server = develop(root, hmr=False)
    assert server.lines[0].startswith("loader develop: restart on every change (backend_hmr from env)"), server.output()
    old_pid = server.pid()
    server.poll("/hello", body({"message": "v1"}))
    mark = server.mark()

    write(root, "src/api/hello/route.py", HELLO.format("v2"))

    restart = server.wait_for_line("restarting: src/api/hello/route.py changed (backend_hmr is off)", after=mark)
    server.wait_for_line("serving ", after=restart)
    server.poll("/hello", body({"message": "v2"}))
    assert server.pid() != old_pid
    assert not any(line.startswith("reloaded ") for line in server.lines), server.output()


def test_a_project_inside_a_folder_named_build_reloads(tmp_path: Path, develop) -> None:
    root = write_project(tmp_path / "build" / "shop", {"src/api/hello/route.py": HELLO.format("v1")})
    server = develop(root)
    server.poll("/hello", body({"message": "v1"}))
    mark = server.mark()

    write(root, "src/api/hello/route.py", HELLO.format("v2"))

    server.wait_for_line("reloaded src/api/hello/route.py (1 route; 0 dependents) in ", after=mark, timeout=3.0)
    server.poll("/hello", body({"message": "v2"}))


def test_symlink_loops_under_src_never_crash_develop(make_project, develop) -> None:
    root = make_project({"src/api/hello/route.py": HELLO.format("v1")})
    (root / "src/api/hello/back").symlink_to("..")
    server = develop(root)
    server.wait_for_line("warning: src/api/hello/back: symbolic link loop (-> .., a folder above it); skipped")
    server.poll("/hello", body({"message": "v1"}))
    mark = server.mark()

    (root / "src/api/again").symlink_to(".")  # a loop made while serving
    server.wait_for_line("warning: src/api/again: symbolic link loop (-> ., a folder above it); skipped", after=mark)
    write(root, "src/api/hello/route.py", HELLO.format("v2"))

    server.wait_for_line("reloaded src/api/hello/route.py (1 route; 0 dependents) in ", after=mark)
    server.poll("/hello", body({"message": "v2"}))
    server.poll("/again/hello", status(404))
    server.assert_no_restart_since(mark)
    assert "Traceback" not in server.output(), server.output()


def test_a_python_variable_in_env_never_reaches_the_develop_child(make_project, develop, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "sitecustomize-ran.txt"
    (evil / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    root = make_project({
        ".env": f"APP_MODE=dev\n\nPYTHONPATH={evil}\n",
        "src/api/env/route.py": "import os\n\nasync def GET(request):\n    return [os.environ.get('APP_MODE'), os.environ.get('PYTHONPATH')]\n",
    })
    server = develop(root)
    assert server.poll("/env", status(200)).json() == ["dev", os.environ.get("PYTHONPATH")]
    warning = ".env:3: PYTHONPATH ignored: a .env file cannot change how the Python interpreter starts"
    assert [line for line in server.lines if "PYTHONPATH ignored" in line] == [
        f"warning: {warning}; set it in the shell if you mean it"
    ], server.output()
    assert not marker.exists()


# -- the live registry ---------------------------------------------------------------------------
def test_loader_inspect_endpoint_shows_the_running_server_as_loader_inspect_shows_the_tree(tmp_path: Path, develop) -> None:
    root = write_project(tmp_path / "live", {"src/api/a/route.py": HELLO.format("a")})
    server = develop(root)

    def inspect_cli() -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "loader", "inspect", str(root), "--json"], capture_output=True, text=True, timeout=60)
        import json

        return dict(json.loads(done.stdout))

    def comparable(data: dict[str, Any]) -> tuple[Any, Any]:
        resources = sorted((r["kind"], r["id"], r["source"], r["enabled"], r["disabled_reason"]) for r in data["resources"] if not r.get("stale"))
        return resources, sorted((e["location"], e["message"]) for e in data["errors"])

    assert comparable(server.poll("/_loader/inspect", status(200)).json()) == comparable(inspect_cli())
    mark = server.mark()
    write(root, "src/api/b/route.py", HELLO.format("b"))
    write(root, "src/api/c/route.py", "async def GET(request)\n")  # broken: an error in both
    server.poll("/b", body({"message": "b"}))
    server.wait_for_line("failed", after=mark)
    live = server.poll("/_loader/inspect", status(200)).json()
    assert comparable(live) == comparable(inspect_cli())
    assert any(e["location"] == "src/api/c/route.py:1" for e in live["errors"])
    assert server.get("/_loader/inspect").headers["content-type"] == "application/json"


# -- a file whose import never ends ---------------------------------------------------------------
HANG = "import time\n\nwhile True: time.monotonic()\n"  # one line: the line it hangs at is certain


def test_a_file_that_hangs_at_boot_is_set_aside_and_the_rest_serves(make_project, develop, monkeypatch) -> None:
    monkeypatch.setenv("LOADER_IMPORT_TIMEOUT", "1")
    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/hang/route.py": HANG})
    server = develop(root)
    server.poll("/ok", body({"message": "ok"}))
    out = server.output()
    assert "error: src/api/hang/route.py:3: still importing after 1 s" in out, out
    assert "set aside src/api/hang/route.py (save it to retry); restarting without it" in out, out
    assert "src/api/hang/route.py:3: still importing after 1 s (LOADER_IMPORT_TIMEOUT)" in out and "save it to retry" in out
    assert server.get("/hang").status_code == 404
    mark = server.mark()

    write(root, "src/api/ok/route.py", HELLO.format("ok2"))  # another file's save does not retry it
    server.poll("/ok", body({"message": "ok2"}))
    write(root, "src/api/hang/route.py", HELLO.format("fixed"))
    server.poll("/hang", body({"message": "fixed"}), timeout=5.0)  # a reload, not minutes
    server.assert_no_restart_since(mark)


def test_a_file_that_hangs_on_reload_is_set_aside_and_the_fix_serves(make_project, develop, monkeypatch) -> None:
    monkeypatch.setenv("LOADER_IMPORT_TIMEOUT", "1")
    root = make_project({"src/api/ok/route.py": HELLO.format("ok"), "src/api/hang/route.py": HELLO.format("h1")})
    server = develop(root)
    server.poll("/hang", body({"message": "h1"}))
    mark = server.mark()

    write(root, "src/api/hang/route.py", "X = 1\n" + HANG)
    server.wait_for_line("error: src/api/hang/route.py:4: still importing after 1 s", after=mark)
    restart = server.wait_for_line("set aside src/api/hang/route.py (save it to retry); restarting without it", after=mark)
    server.wait_for_line("serving ", after=restart)
    server.poll("/ok", body({"message": "ok"}))
    assert server.get("/hang").status_code == 404
    mark = server.mark()

    write(root, "src/api/hang/route.py", HELLO.format("h2"))
    server.poll("/hang", body({"message": "h2"}), timeout=5.0)
    server.assert_no_restart_since(mark)
